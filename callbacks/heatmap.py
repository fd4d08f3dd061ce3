"""Heatmap view: channels x inputs, channels sorted by a criterion; a click picks both."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, no_update

from analysis import store, views
from figures.matrix import heatmap_figure
from figures.scatter import empty_figure
from layouts import ids

CRITERION_LABELS = {"f_stat": "F (classes)", "variance": "variance", "mean": "mean",
                    "selection": "selection vs rest (d)"}


def heatmap_view(cache, analysis, layer, summary, criterion, k, selection):
    """(figure, note)."""
    if not analysis or not layer:
        return empty_figure("Run an analysis first."), ""
    key = analysis["key"]
    meta = store.load_meta(cache, key)
    if meta is None or layer not in meta["layers"]:
        return empty_figure("Run the analysis again."), ""
    acts = views.summary_matrix(cache, key, layer, summary)
    order = views.heatmap_order(cache, key, meta, layer, summary)
    data = views.heatmap_data(acts, np.asarray(meta["labels"]), order, criterion, k,
                              (selection or {}).get("inputs"),
                              scores=views.static_scores(cache, key, meta, layer, summary, criterion))
    used = data["criterion"]
    fig = heatmap_figure(data["values"], 0.0, 1.0, data["channels"], data["columns"],
                         data["column_labels"], meta["class_names"], data["scores"],
                         CRITERION_LABELS[used], data["selected"],
                         title=f"{layer} · {summary} · top {len(data['channels'])} of "
                               f"{acts.shape[1]} channels by {CRITERION_LABELS[used]}")
    note = [f"{len(data['columns']):,} of {acts.shape[0]:,} inputs shown"]
    if len(data["columns"]) < acts.shape[0]:
        note.append("(evenly sampled per class order; every selected input kept)")
    if criterion == "selection" and used != "selection":
        note.append("· select some inputs to sort by selection vs rest")
    note.append("· click a cell for its details")
    return fig, " ".join(note)


def selection_from_cell(click_data, layer, current) -> dict | None:
    """Clicking a cell focuses its input and channel (the input joins the selection if empty)."""
    if not click_data:
        return None
    point = click_data["points"][0]
    if point.get("curveNumber", 0) != 0:  # the criterion bars, not a cell
        return None
    try:
        index = int(point["x"])
        channel = int(str(point["y"]).removeprefix("ch "))
    except (KeyError, ValueError):
        return None
    current = dict(current or {})
    inputs = current.get("inputs") or [index]
    return dict(current, inputs=inputs, focus=index, channel=channel, layer=layer, source="heatmap")


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
