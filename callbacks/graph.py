"""Model graph view: the layers as a data-flow graph; a click opens a layer."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from analysis import modelgraph, store
from figures.graph import graph_figure
from figures.scatter import empty_figure
from layouts import ids


def graph_view(cache, analysis, current_layer, collapse: bool, expanded=()):
    if not analysis:
        return empty_figure("The model appears after an analysis.")
    meta = store.load_meta(cache, analysis["key"])
    if meta is None:
        return empty_figure("Run the analysis again.")
    return graph_figure(modelgraph.layout(meta["layer_info"], collapse=collapse, expanded=expanded or ()),
                        current_layer)


def submodel_options(cache, analysis) -> list[dict]:
    """One tick box per nested sub-model of the analysed model (ticked: drawn expanded)."""
    meta = store.load_meta(cache, analysis["key"]) if analysis else None
    if meta is None:
        return []
    return [{"label": f" expand {group['name']} ({group['type']}, {group['layers']} layers)",
             "value": group["name"]} for group in modelgraph.submodels(meta["layer_info"])]


def expand_from_click(click_data, options, expanded) -> list | None:
    """The expanded sub-models after a click: a click on a collapsed sub-model expands it."""
    if not click_data:
        return None
    name = click_data["points"][0].get("customdata")
    names = {option["value"] for option in options or []}
    if name not in names or name in (expanded or []):
        return None
    return list(expanded or []) + [name]


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
                  Input(ids.LAYER, "value"), Input(ids.GRAPH_COLLAPSE, "value"),
                  Input(ids.GRAPH_EXPANDED, "value"))
    def update_graph(analysis, layer, collapse, expanded):
        return graph_view(cache, analysis, layer, bool(collapse), expanded)

    @app.callback(Output(ids.GRAPH_EXPANDED, "options"), Output(ids.GRAPH_EXPANDED, "value"),
                  Input(ids.ANALYSIS, "data"))
    def list_submodels(analysis):
        return submodel_options(cache, analysis), []

    @app.callback(Output(ids.GRAPH_EXPANDED, "value", allow_duplicate=True),
                  Input(ids.GRAPH, "clickData"), State(ids.GRAPH_EXPANDED, "options"),
                  State(ids.GRAPH_EXPANDED, "value"), prevent_initial_call=True)
    def expand_submodel(click_data, options, expanded):
        value = expand_from_click(click_data, options, expanded)
        return value if value is not None else no_update

    @app.callback(Output(ids.LAYER, "value", allow_duplicate=True),
                  Input(ids.GRAPH, "clickData"), Input(ids.ANALYSIS, "data"),
                  prevent_initial_call=True)
    def open_layer(click_data, analysis):
        layer = layer_from_click(click_data, analysis)
        return layer if layer else no_update
