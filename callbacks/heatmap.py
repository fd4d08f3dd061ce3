"""Heatmap view: channels x inputs, channels sorted by a criterion; a click picks both."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, no_update

from analysis import session as sessions
from analysis import views
from analysis.selection import Selection
from analysis.summaries import SUMMARY_LABELS
from figures.matrix import heatmap_figure
from layouts import ids

CRITERION_LABELS = {"f_stat": "F (classes)", "variance": "variance", "mean": "mean",
                    "selection": "selection vs rest (d)"}


def window_for(zoom, analysis, layer, summary):
    """The zoom window [lo, hi) stored for this analysis, layer and summary, else None."""
    zoom = zoom or {}
    if zoom.get("view") != [(analysis or {}).get("key"), layer, summary]:
        return None
    return zoom.get("window")


def heatmap_view(cache, analysis, layer, summary, criterion, k, selection, zoom=None):
    """(figure, note)."""
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    inputs = Selection.from_store(selection).inputs
    used = views.usable_criterion(criterion, session.labels, inputs)
    data = views.stored_heatmap_columns(session, layer, summary, used, k, inputs,
                           window_for(zoom, analysis, layer, summary))
    n_channels = views.channel_count(session, layer, summary)
    names = [session.files[i] if size == 1 else f"+{size - 1} more"
             for i, size in zip(data["columns"], data["sizes"])]
    lo, hi = data["window"]
    fig = heatmap_figure(data["values"], 0.0, 1.0, data["channels"], data["columns"],
                         data["column_labels"], session.class_names, data["scores"],
                         CRITERION_LABELS[used], data["selected"], raw=data["raw"],
                         column_names=names, revision=f"heatmap-{lo}-{hi}",
                         title=f"{layer} · {SUMMARY_LABELS.get(summary, summary)} · "
                               f"top {len(data['channels'])} of "
                               f"{n_channels} channels by {CRITERION_LABELS[used]}")
    shown = hi - lo
    note = [f"{shown:,} of {session.n:,} inputs shown"]
    if len(data["columns"]) < shown:
        note.append(f"as {len(data['columns'])} columns of ~{shown / len(data['columns']):.1f} "
                    "inputs (means, in class order): zoom in to see single inputs")
    if criterion == "selection" and used != "selection":
        note.append("· select some inputs (not all) to sort by selection vs rest")
    if used == "variance" and criterion != "variance":
        note.append("· class discrimination (F) needs two classes and more inputs than classes: "
                    "sorted by variance instead")
    note.append("· click a cell for its details")
    return fig, " ".join(note)


def parse_cell(click_data) -> tuple[int, int, int] | None:
    """(first input, inputs in the column, channel) of a clicked cell; None off the cells.

    Column labels are "#index file name" (one input) or "#index +k more" (a bin of k + 1
    inputs in heatmap order); row labels "ch channel".
    """
    if not click_data:
        return None
    point = click_data["points"][0]
    if point.get("curveNumber", 0) != 0:  # the criterion bars, not a cell
        return None
    first, _, rest = str(point.get("x", "")).removeprefix("#").partition(" ")
    y = str(point.get("y", "")).removeprefix("ch ")
    if not (first.isdigit() and y.isdigit()):
        return None
    extra = rest.removeprefix("+").split(" ", 1)[0] if rest.startswith("+") else ""
    return int(first), 1 + (int(extra) if extra.isdigit() else 0), int(y)


def selection_from_cell(click_data, layer, current, order=None) -> dict | None:
    """A click focuses its input and channel (the input joins the selection if empty);
    a click on a bin selects the bin's inputs (``order``: the heatmap order) and focuses the first."""
    cell = parse_cell(click_data)
    if cell is None:
        return None
    index, size, channel = cell
    chosen = Selection.from_store(current)
    if size > 1 and order is not None:
        position = int(np.flatnonzero(np.asarray(order) == index)[0])
        chosen = chosen.with_inputs(np.asarray(order)[position:position + size], source="heatmap",
                                    focus=index)
    return chosen.with_cell(index, layer, channel).to_store()


def zoom_from_relayout(relayout, zoom, analysis, layer, summary, n: int) -> dict | None:
    """The new zoom store after a heatmap relayout: a zoom narrows the window, a reset clears it."""
    relayout = relayout or {}
    view = [(analysis or {}).get("key"), layer, summary]
    if relayout.get("xaxis.autorange"):  # a double-click: back to every input
        return {"view": view, "window": None} if window_for(zoom, analysis, layer, summary) else None
    if "xaxis.range[0]" not in relayout or "xaxis.range[1]" not in relayout:
        return None
    window = views.zoom_window(window_for(zoom, analysis, layer, summary), n,
                               views.MAX_HEATMAP_COLUMNS, float(relayout["xaxis.range[0]"]),
                               float(relayout["xaxis.range[1]"]))
    return {"view": view, "window": window}


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.HEATMAP, "figure"), Output(ids.HEATMAP_NOTE, "children"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.HEATMAP_CRITERION, "value"),
                  Input(ids.HEATMAP_K, "value"), Input(ids.SELECTION, "data"),
                  Input(ids.HEATMAP_ZOOM, "data"))
    def update_heatmap(analysis, layer, summary, criterion, k, selection, zoom):
        return heatmap_view(cache, analysis, layer, summary or "mean", criterion or "f_stat",
                            k if k is not None else 40, selection, zoom)

    @app.callback(Output(ids.HEATMAP_ZOOM, "data"), Input(ids.HEATMAP, "relayoutData"),
                  State(ids.HEATMAP_ZOOM, "data"), State(ids.ANALYSIS, "data"),
                  State(ids.LAYER, "value"), State(ids.SUMMARY, "value"), prevent_initial_call=True)
    def zoom(relayout, current, analysis, layer, summary):
        if not analysis:
            return no_update
        new = zoom_from_relayout(relayout, current, analysis, layer, summary or "mean", analysis["n"])
        return no_update if new is None else new

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.HEATMAP, "clickData"), State(ids.ANALYSIS, "data"),
                  State(ids.LAYER, "value"), State(ids.SUMMARY, "value"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_cell(click_data, analysis, layer, summary, current):
        cell = parse_cell(click_data)
        if cell is None:
            return no_update
        order = (sessions.require(cache, analysis).heatmap_order(layer, summary or "mean")
                 if cell[1] > 1 else None)
        return selection_from_cell(click_data, layer, current, order)
