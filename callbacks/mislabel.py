"""Likely-mislabelled inputs: ranked table with thumbnails, marks, selection and CSV export."""

from __future__ import annotations

import os

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from analysis import datasets, findings, store
from analysis.marks import MarkStore
from layouts import ids

MARKS = ("wrong", "right", "unsure")
MARK_TEXT = {"wrong": "label wrong", "right": "label right", "unsure": "unsure"}


def mislabel_rows(cache, analysis, top=50):
    """(meta, rows) of the ranking, or (None, []) without a stored analysis."""
    if not analysis:
        return None, []
    meta = store.load_meta(cache, analysis["key"])
    if meta is None:
        return None, []
    return meta, findings.ranking_rows(meta, findings.mislabel_ranking(cache, meta), top)


def table(meta, rows, marks: dict) -> html.Table | str:
    if meta is None:
        return "Run an analysis to rank likely mislabelled inputs."
    header = html.Tr([html.Th(text) for text in
                      ("#", "image", "input", "given label", "suggested", "score", "your mark")])
    body = []
    for row in rows:
        index = row["index"]
        current = marks.get(index)
        buttons = [html.Button(MARK_TEXT[mark], id={"type": ids.ROW_MARK, "index": index, "mark": mark},
                               n_clicks=0, className="mark " + ("on" if current == mark else ""))
                   for mark in MARKS]
        body.append(html.Tr(className="marked-" + (current or "none"), children=[
            html.Td(row["rank"]),
            html.Td(html.Img(src=datasets.thumbnail_uri(os.path.join(meta["data"], row["file"]), 48),
                             className="mini")),
            html.Td(html.Button(f"#{index} {row['file']}", n_clicks=0, className="link",
                                id={"type": ids.ROW_SELECT, "index": index})),
            html.Td(row["label"]), html.Td(row["suggested"]), html.Td(f"{row['score']:.3f}"),
            html.Td(buttons),
        ]))
    return html.Table(className="table", children=[html.Thead(header), html.Tbody(body)])


def export_csv(cache, marks_store: MarkStore, analysis) -> dict | None:
    meta, rows = mislabel_rows(cache, analysis, top=None)
    if meta is None:
        return None
    text = marks_store.export_csv(findings.marks_key(meta), rows)
    return dcc.send_string(text, "channelexplorer-mislabel-ranking.csv")


def register(app, config) -> None:
    cache = app.results
    marks_store = MarkStore(config.marks_path)

    @app.callback(Output(ids.MISLABEL_TABLE, "children"), Input(ids.ANALYSIS, "data"),
                  Input(ids.MARKS_VERSION, "data"))
    def update_table(analysis, _version):
        try:
            meta, rows = mislabel_rows(cache, analysis)
        except ValueError as error:  # e.g. too few inputs per class for neighbours
            return f"No ranking for this image set: {error}"
        marks = marks_store.get_all(findings.marks_key(meta)) if meta else {}
        return table(meta, rows, marks)

    @app.callback(Output(ids.MARKS_VERSION, "data"),
                  Input({"type": ids.ROW_MARK, "index": ALL, "mark": ALL}, "n_clicks"),
                  State(ids.ANALYSIS, "data"), State(ids.MARKS_VERSION, "data"),
                  prevent_initial_call=True)
    def mark(clicks, analysis, version):
        trigger = ctx.triggered_id
        if not trigger or not any(clicks) or not analysis:
            return no_update
        meta = store.load_meta(cache, analysis["key"])
        key = findings.marks_key(meta)
        index, value = int(trigger["index"]), trigger["mark"]
        # A second click on the same mark removes it.
        marks_store.set(key, index, None if marks_store.get(key, index) == value else value)
        return (version or 0) + 1

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input({"type": ids.ROW_SELECT, "index": ALL}, "n_clicks"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_row(clicks, current):
        if not ctx.triggered_id or not any(clicks):
            return no_update
        index = int(ctx.triggered_id["index"])
        return dict(current or {}, inputs=[index], focus=index, source="mislabel")

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.MISLABEL_SELECT_TOP, "n_clicks"), State(ids.ANALYSIS, "data"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_top(_n, analysis, current):
        _, rows = mislabel_rows(cache, analysis, top=20)
        if not rows:
            return no_update
        inputs = sorted(row["index"] for row in rows)
        return dict(current or {}, inputs=inputs, focus=rows[0]["index"], source="mislabel")

    @app.callback(Output(ids.MISLABEL_DOWNLOAD, "data"), Input(ids.MISLABEL_EXPORT, "n_clicks"),
                  State(ids.ANALYSIS, "data"), prevent_initial_call=True)
    def export(_n, analysis):
        return export_csv(cache, marks_store, analysis) or no_update
