"""Likely-mislabelled inputs: ranked table with thumbnails, marks, selection and CSV export."""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from analysis import findings, stability
from analysis import session as sessions
from analysis.errors import NotEnoughData, UserError
from analysis.marks import MARKS, MarkStore
from analysis.selection import Selection
from layouts import ids

MARK_TEXT = {"wrong": "label wrong", "right": "label right", "unsure": "unsure"}


def mislabel_rows(cache, analysis, top=50):
    """(session, rows) of the ranking."""
    session = sessions.require(cache, analysis)
    if session.n_classes < 2:
        raise NotEnoughData("Ranking likely mislabelled inputs needs at least two classes.")
    return session, findings.ranking_rows(session.meta, session.mislabel_ranking(), top)


def table(session, rows, marks: dict) -> html.Table:
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
            html.Td(html.Img(src=session.thumbnail(index, 48), className="mini")),
            html.Td(html.Button(f"#{index} {row['file']}", n_clicks=0, className="link",
                                id={"type": ids.ROW_SELECT, "index": index})),
            html.Td(row["label"]), html.Td(row["suggested"]), html.Td(f"{row['score']:.3f}"),
            html.Td(buttons),
        ]))
    return html.Table(className="table", children=[html.Thead(header), html.Tbody(body)])


def stability_text(session, result: dict) -> str:
    """How firmly the listed inputs stay on top under bootstrap resampling."""
    freq = result["frequency"]
    shaky = [f"#{int(i)}" for i, f in zip(result["top"], freq) if f < 0.5]
    return (f"Top {len(freq)}: on average each stays in the top in {result['mean_frequency']:.0%} of "
            f"{findings.N_BOOT} bootstrap resamples of the inputs ({stability.verdict(result['mean_frequency'])})"
            + (f"; below half of them: {', '.join(shaky[:10])}" + (" …" if len(shaky) > 10 else "") if shaky
               else "") + ".")


def stability_job(config, analysis) -> str:
    """Background job: bootstrap the ranking (recomputes it on resamples of the inputs)."""
    try:
        with sessions.job(config) as cache:
            session = sessions.require(cache, analysis)
            return stability_text(session, findings.mislabel_stability(cache, session.meta, 50))
    except UserError as error:  # background errors reach on_error without their type
        return str(error)


def export_csv(cache, marks_store: MarkStore, analysis) -> dict:
    session, rows = mislabel_rows(cache, analysis, top=None)
    text = marks_store.export_csv(session.marks_key, rows)
    return dcc.send_string(text, "channelexplorer-mislabel-ranking.csv")


def register(app, config) -> None:
    cache = app.results
    marks_store = MarkStore(config.marks_path)

    @app.callback(Output(ids.MISLABEL_TABLE, "children"), Input(ids.ANALYSIS, "data"),
                  Input(ids.MARKS_VERSION, "data"))
    def update_table(analysis, _version):
        session, rows = mislabel_rows(cache, analysis)
        return table(session, rows, marks_store.get_all(session.marks_key))

    @app.callback(Output(ids.MARKS_VERSION, "data"),
                  Input({"type": ids.ROW_MARK, "index": ALL, "mark": ALL}, "n_clicks"),
                  State(ids.ANALYSIS, "data"), State(ids.MARKS_VERSION, "data"),
                  prevent_initial_call=True)
    def mark(clicks, analysis, version):
        trigger = ctx.triggered_id
        if not trigger or not any(clicks) or not analysis:
            return no_update
        session = sessions.require(cache, analysis)  # unknown analysis: a message, not a 500
        key = session.marks_key
        index, value = int(trigger["index"]), trigger["mark"]
        if not 0 <= index < session.n or value not in MARKS:
            return no_update  # marks only for inputs of this analysis
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
        return Selection.from_store(current).with_inputs([index], source="mislabel").to_store()

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.MISLABEL_SELECT_TOP, "n_clicks"), State(ids.ANALYSIS, "data"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_top(_n, analysis, current):
        _, rows = mislabel_rows(cache, analysis, top=20)
        if not rows:
            return no_update
        return Selection.from_store(current).with_inputs(
            [row["index"] for row in rows], source="mislabel", focus=rows[0]["index"]).to_store()

    @app.callback(Output(ids.MISLABEL_STABILITY, "children"), Input(ids.MISLABEL_STABILITY_RUN, "n_clicks"),
                  State(ids.ANALYSIS, "data"), background=True, prevent_initial_call=True,
                  running=[(Output(ids.MISLABEL_STABILITY_RUN, "disabled"), True, False)])
    def run_stability(_n, analysis):
        if not analysis:
            return "Run an analysis first."
        return stability_job(config, analysis)

    @app.callback(Output(ids.MISLABEL_DOWNLOAD, "data"), Input(ids.MISLABEL_EXPORT, "n_clicks"),
                  State(ids.ANALYSIS, "data"), prevent_initial_call=True)
    def export(_n, analysis):
        return export_csv(cache, marks_store, analysis)
