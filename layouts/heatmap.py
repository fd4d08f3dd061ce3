"""Heatmap panel: channels x inputs, channels sorted by a criterion."""

from dash import dcc, html

from layouts import ids
from layouts.parts import field, graph


def panel() -> html.Section:
    return html.Section(className="panel heatmap", children=[
        html.H2("Channels × inputs"),
        html.Div(className="row", children=[
            field("Sort channels by", dcc.Dropdown(id=ids.HEATMAP_CRITERION, clearable=False,
                                                   value="f_stat", options=[
                {"label": "class discrimination (F)", "value": "f_stat"},
                {"label": "variance", "value": "variance"},
                {"label": "mean activation", "value": "mean"},
                {"label": "selection vs rest", "value": "selection"},
            ])),
            field("Top K channels (0 = all)", dcc.Input(id=ids.HEATMAP_K, type="number", min=0,
                                                        step=1, value=40, debounce=True)),
        ]),
        dcc.Store(id=ids.HEATMAP_ZOOM),
        graph(ids.HEATMAP, 560),
        html.Div(id=ids.HEATMAP_NOTE, className="note"),
    ])
