"""Scatterplot panel: one point per input for a layer and summary."""

from dash import dcc, html

from analysis.summaries import SUMMARY_LABELS
from layouts import ids

SUMMARY_OPTIONS = [{"label": label, "value": name} for name, label in SUMMARY_LABELS.items()]


def panel() -> html.Section:
    return html.Section(className="panel scatter", children=[
        html.H2("Inputs by channel summary (PCA)"),
        html.Div(className="row", children=[
            html.Div(className="field", children=[
                html.Label("Layer", htmlFor=ids.LAYER),
                dcc.Dropdown(id=ids.LAYER, clearable=False, placeholder="run an analysis first"),
            ]),
            html.Div(className="field", children=[
                html.Label("Summary", htmlFor=ids.SUMMARY),
                dcc.Dropdown(id=ids.SUMMARY, clearable=False, value="mean",
                             options=SUMMARY_OPTIONS),
            ]),
        ]),
        dcc.Loading(dcc.Graph(id=ids.SCATTER, config={"displaylogo": False},
                              style={"height": "560px"})),
        html.Div(id=ids.SCATTER_NOTE, className="note"),
    ])
