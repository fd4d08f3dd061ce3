"""Details panel: one channel on one input, against the data set."""

from dash import dcc, html

from layouts import ids


def panel() -> html.Section:
    return html.Section(className="panel details", children=[
        html.H2("Details"),
        dcc.Store(id=ids.OVERLAY_REQUEST),
        html.Div(id=ids.DETAILS_NOTE, className="note",
                 children="Click a heatmap cell (or pick a channel and select an input)."),
        html.Div(className="pair", children=[
            dcc.Graph(id=ids.DETAILS_OVERLAY, config={"displaylogo": False},
                      style={"height": "360px"}),
            dcc.Graph(id=ids.DETAILS_DISTRIBUTION, config={"displaylogo": False},
                      style={"height": "360px"}),
        ]),
        html.H3("Inputs that activate this channel most"),
        html.Div(id=ids.DETAILS_TOP, className="thumbs"),
    ])
