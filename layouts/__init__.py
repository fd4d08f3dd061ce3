"""The page: one module per panel, assembled here."""

from dash import dcc, html

from layouts import controls, ids, scatter


def build(config) -> html.Div:
    """The whole page for ``config`` (identical in every worker)."""
    return html.Div(className="page", children=[
        dcc.Store(id=ids.ANALYSIS),
        dcc.Store(id=ids.SELECTION, data={"inputs": [], "layer": None, "channel": None}),
        html.Header(className="header", children=[
            html.H1("ChannelExplorer"),
            html.Span("how a CNN's channels treat your labelled images", className="tagline"),
        ]),
        controls.panel(config),
        html.Main(className="views", children=[scatter.panel()]),
    ])
