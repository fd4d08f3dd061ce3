"""Model graph view: the layers as a data-flow graph; a click opens a layer."""

from __future__ import annotations

from dash import Input, Output, no_update

from analysis import modelgraph, store
from figures.graph import graph_figure
from figures.scatter import empty_figure
from layouts import ids


def graph_view(cache, analysis, current_layer, collapse: bool):
    if not analysis:
        return empty_figure("The model appears after an analysis.")
    meta = store.load_meta(cache, analysis["key"])
    if meta is None:
        return empty_figure("Run the analysis again.")
    return graph_figure(modelgraph.layout(meta["layer_info"], collapse=collapse), current_layer)


def layer_from_click(click_data, analysis) -> str | None:
    """The extracted layer a click on the graph points at (for a block: its last extracted member)."""
    if not click_data or not analysis:
        return None
    name = click_data["points"][0].get("customdata")
    if name in analysis["layers"]:
        return name
    # A collapsed block: open the deepest extracted layer inside it.
    members = [layer for layer in analysis["layers"] if layer.startswith(f"{name}_")]
    return members[-1] if members else None


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.GRAPH, "figure"), Input(ids.ANALYSIS, "data"),
                  Input(ids.LAYER, "value"), Input(ids.GRAPH_COLLAPSE, "value"))
    def update_graph(analysis, layer, collapse):
        return graph_view(cache, analysis, layer, bool(collapse))

    @app.callback(Output(ids.LAYER, "value", allow_duplicate=True),
                  Input(ids.GRAPH, "clickData"), Input(ids.ANALYSIS, "data"),
                  prevent_initial_call=True)
    def open_layer(click_data, analysis):
        layer = layer_from_click(click_data, analysis)
        return layer if layer else no_update
