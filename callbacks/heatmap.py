"""Heatmap view: channels x inputs, channels sorted by a criterion; a click picks both."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from analysis import session as sessions
from analysis import views
from analysis.selection import Selection
from analysis.summaries import SUMMARY_LABELS
from figures.matrix import heatmap_figure
from layouts import ids

CRITERION_LABELS = {"f_stat": "F (classes)", "variance": "variance", "mean": "mean",
                    "selection": "selection vs rest (d)"}


def heatmap_view(cache, analysis, layer, summary, criterion, k, selection):
    """(figure, note)."""
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    acts = session.acts(layer, summary)
    inputs = Selection.from_store(selection).inputs
    used = views.usable_criterion(criterion, session.labels, inputs)
    data = views.heatmap_data(acts, session.labels, session.heatmap_order(layer, summary), used, k,
                              inputs, scores=session.static_scores(layer, summary, used))
    fig = heatmap_figure(data["values"], 0.0, 1.0, data["channels"], data["columns"],
                         data["column_labels"], session.class_names, data["scores"],
                         CRITERION_LABELS[used], data["selected"], raw=data["raw"],
                         column_names=[session.files[i] for i in data["columns"]],
                         title=f"{layer} · {SUMMARY_LABELS.get(summary, summary)} · "
                               f"top {len(data['channels'])} of "
                               f"{acts.shape[1]} channels by {CRITERION_LABELS[used]}")
    note = [f"{len(data['columns']):,} of {acts.shape[0]:,} inputs shown"]
    if len(data["columns"]) < acts.shape[0]:
        note.append("(evenly sampled per class order; every selected input kept)")
    if criterion == "selection" and used != "selection":
        note.append("· select some inputs (not all) to sort by selection vs rest")
    if used == "variance" and criterion != "variance":
        note.append("· class discrimination (F) needs two classes and more inputs than classes: "
                    "sorted by variance instead")
    note.append("· click a cell for its details")
    return fig, " ".join(note)


def selection_from_cell(click_data, layer, current) -> dict | None:
    """Clicking a cell focuses its input and channel (the input joins the selection if empty)."""
    if not click_data:
        return None
    point = click_data["points"][0]
    if point.get("curveNumber", 0) != 0:  # the criterion bars, not a cell
        return None
    # Column labels are "#index file name"; row labels "ch channel".
    x = str(point.get("x", "")).removeprefix("#").split(" ", 1)[0]
    y = str(point.get("y", "")).removeprefix("ch ")
    if not (x.isdigit() and y.isdigit()):
        return None
    return Selection.from_store(current).with_cell(int(x), layer, int(y)).to_store()


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.HEATMAP, "figure"), Output(ids.HEATMAP_NOTE, "children"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.HEATMAP_CRITERION, "value"),
                  Input(ids.HEATMAP_K, "value"), Input(ids.SELECTION, "data"))
    def update_heatmap(analysis, layer, summary, criterion, k, selection):
        return heatmap_view(cache, analysis, layer, summary or "mean", criterion or "f_stat",
                            k if k is not None else 40, selection)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.HEATMAP, "clickData"), State(ids.LAYER, "value"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_cell(click_data, layer, current):
        chosen = selection_from_cell(click_data, layer, current)
        return no_update if chosen is None else chosen
