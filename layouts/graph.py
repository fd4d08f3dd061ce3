"""Model graph panel: the data flow, layer by layer."""

from dash import dcc, html

from layouts import ids
from layouts.parts import GRAPH_CONFIG


def panel() -> html.Section:
    return html.Section(className="panel graph", children=[
        html.H2("Model"),
        dcc.Checklist(id=ids.GRAPH_COLLAPSE, options=[{"label": " collapse blocks", "value": "on"}],
                      value=[], className="note"),
        dcc.Checklist(id=ids.GRAPH_EXPANDED, options=[], value=[], className="note"),
        html.Div(className="graph-scroll", children=[
            dcc.Graph(id=ids.GRAPH, config=dict(GRAPH_CONFIG, displayModeBar=False)),
        ]),
        html.Div("Click a layer to open its views (bold: extracted); click a sub-model to expand it.",
                 className="note"),
    ])
