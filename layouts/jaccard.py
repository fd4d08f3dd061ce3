"""Jaccard panel: similarity of the inputs' activated-channel sets."""

from dash import dcc, html

from layouts import ids
from layouts.parts import field, graph


def panel() -> html.Section:
    return html.Section(className="panel jaccard", children=[
        html.H2("Activated-channel similarity (Jaccard)"),
        html.Div(className="row", children=[
            field("Active channels", dcc.Dropdown(id=ids.JACCARD_RULE, clearable=False, value="topk",
                                                  options=[
                {"label": "top k% per input", "value": "topk"},
                {"label": "above channel quantile", "value": "quantile"},
                {"label": "above threshold (normalised)", "value": "threshold"},
            ])),
            html.Div(className="field slider", children=[
                html.Label("k / quantile / threshold", htmlFor=ids.JACCARD_VALUE),
                dcc.Slider(id=ids.JACCARD_VALUE, min=0.05, max=0.95, step=0.05, value=0.1,
                           marks={0.1: "0.1", 0.5: "0.5", 0.9: "0.9"}),
            ]),
        ]),
        html.Div(className="pair", children=[
            graph(ids.JACCARD_MATRIX, 470, selectable=True),
            graph(ids.JACCARD_CLASSES, 470),
        ]),
        html.Div(id=ids.JACCARD_NOTE, className="note"),
        dcc.Store(id=ids.JACCARD_DRAWN),
    ])
