"""Scatterplot panel: one point per input for a layer and summary."""

from dash import dcc, html

from analysis.summaries import SUMMARY_LABELS
from layouts import ids
from layouts.parts import field, graph

SUMMARY_OPTIONS = [{"label": label, "value": name} for name, label in SUMMARY_LABELS.items()]
METHOD_OPTIONS = [{"label": "PCA", "value": "pca"}, {"label": "UMAP", "value": "umap"},
                  {"label": "t-SNE", "value": "tsne"}, {"label": "MDS", "value": "mds"}]
COLOUR_OPTIONS = [{"label": "true class", "value": "label"},
                  {"label": "predicted class", "value": "predicted"},
                  {"label": "correct / wrong", "value": "correct"},
                  {"label": "cluster", "value": "cluster"}]


def panel() -> html.Section:
    return html.Section(className="panel scatter", children=[
        html.H2("Inputs"),
        html.Div(className="row", children=[
            field("Layer", dcc.Dropdown(id=ids.LAYER, clearable=False,
                                        placeholder="run an analysis first")),
            field("Summary", dcc.Dropdown(id=ids.SUMMARY, clearable=False, value="mean",
                                          options=SUMMARY_OPTIONS)),
            field("Projection", dcc.Dropdown(id=ids.SCATTER_METHOD, clearable=False, value="pca",
                                             options=METHOD_OPTIONS)),
            field("Colour by", dcc.Dropdown(id=ids.SCATTER_COLOUR, clearable=False, value="label",
                                            options=COLOUR_OPTIONS)),
        ]),
        dcc.Store(id=ids.PROJECTION_READY),
        dcc.Store(id=ids.PROJECTION_REQUEST),
        dcc.Store(id=ids.SCATTER_DRAWN),
        dcc.Interval(id=ids.PROJECTION_POLL, interval=1000, disabled=True),
        html.Div(id=ids.PROJECTION_STATUS, className="note"),
        graph(ids.SCATTER, 520, selectable=True),
        html.Div(id=ids.SCATTER_NOTE, className="note"),
    ])
