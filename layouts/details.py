"""Details panel: one channel on one input, against the data set."""

from dash import dcc, html

from layouts import ids
from layouts.parts import graph


def panel() -> html.Section:
    return html.Section(className="panel details", children=[
        html.H2("Details"),
        dcc.Store(id=ids.OVERLAY_REQUEST),
        html.Div(id=ids.DETAILS_NOTE, className="note",
                 children="Click a heatmap cell (or pick a channel and select an input)."),
        html.Div(className="pair", children=[
            graph(ids.DETAILS_OVERLAY, 360),
            graph(ids.DETAILS_DISTRIBUTION, 360),
        ]),
        html.H3("Inputs that activate this channel most"),
        html.Div(id=ids.DETAILS_TOP, className="thumbs"),
    ])
