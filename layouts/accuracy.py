"""Model accuracy panel: the model's own numbers on the analysed images."""

from dash import dcc, html

from layouts import ids
from layouts.parts import GRAPH_CONFIG


def panel() -> html.Section:
    return html.Section(className="panel accuracy", children=[
        html.H2("Model accuracy"),
        html.Div(id=ids.ACCURACY_TEXT, className="note"),
        html.Div(id=ids.ACCURACY_GRAPHS, className="row", children=[
            dcc.Graph(id=ids.ACCURACY_CONFUSION, config=GRAPH_CONFIG, style={"flex": "3 1 360px"}),
            dcc.Graph(id=ids.ACCURACY_PER_CLASS, config=GRAPH_CONFIG, style={"flex": "2 1 260px"}),
        ]),
    ])
