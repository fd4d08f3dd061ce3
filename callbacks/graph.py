"""Model graph view: the layers as a data-flow graph; a click opens a layer."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from analysis import modelgraph
from analysis import session as sessions
from figures.graph import graph_figure
from layouts import ids


def graph_view(cache, analysis, current_layer, collapse: bool, expanded=()):
    if not analysis:
        raise sessions.AnalysisMissing("The model appears after an analysis.")
    session = sessions.require(cache, analysis)
    return graph_figure(modelgraph.layout(session.layer_info, collapse=collapse,
                                          expanded=expanded or ()), current_layer)


def submodel_options(cache, analysis) -> list[dict]:
    """One tick box per nested sub-model of the analysed model (ticked: drawn expanded)."""
    session = sessions.open(cache, (analysis or {}).get("key"))
    if session is None:
        return []
    return [{"label": f" expand {group['name']} ({group['type']}, {group['layers']} layers)",
             "value": group["name"]} for group in modelgraph.submodels(session.layer_info)]


def clicked_node(click_data) -> tuple[str | None, list]:
    """(node name, member layers) of a graph click (customdata: [name, *members])."""
    if not click_data:
        return None, []
    data = click_data["points"][0].get("customdata") or []
    if isinstance(data, str):
        return data, [data]
    return (data[0], list(data[1:])) if data else (None, [])


def expand_from_click(click_data, options, expanded) -> list | None:
    """The expanded sub-models after a click: a click on a collapsed sub-model expands it."""
    name, _ = clicked_node(click_data)
    names = {option["value"] for option in options or []}
    if name not in names or name in (expanded or []):
        return None
    return list(expanded or []) + [name]


def layer_from_click(click_data, analysis) -> str | None:
    """The extracted layer a click on the graph points at (for a block: its deepest extracted member;
    a convolution analysed after its batch norm and activation opens that output)."""
    if not click_data or not analysis:
        return None
    _, members = clicked_node(click_data)
    blocks = analysis.get("block_members") or {}
    extracted = [layer for layer in (blocks.get(member, member) for member in members)
                 if layer in analysis["layers"]]
    return extracted[-1] if extracted else None


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
