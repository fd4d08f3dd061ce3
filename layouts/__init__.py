"""The page: one module per panel, assembled here."""

from dash import dcc, html

from analysis.selection import EMPTY as EMPTY_SELECTION
from layouts import accuracy, controls, details, findings, graph, heatmap, ids, jaccard, jobs, scatter


def selection_bar() -> html.Div:
    return html.Div(className="selection-bar", children=[
        html.Span(id=ids.SELECTION_TEXT, children="No selection"),
        html.Button("Clear selection", id=ids.CLEAR_SELECTION, n_clicks=0),
    ])


def build(config) -> html.Div:
    """The whole page for ``config`` (identical in every worker)."""
    return html.Div(className="page", children=[
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.LINK_STATE),
        dcc.Store(id=ids.ANALYSIS),
        dcc.Store(id=ids.SELECTION, data=EMPTY_SELECTION),
        html.Header(className="header", children=[
            html.H1("ChannelExplorer"),
            html.Span("how a CNN's channels treat your labelled images", className="tagline"),
        ]),
        controls.panel(config),
        *jobs.parts(),
        selection_bar(),
        html.Div(className="workspace", children=[
            graph.panel(),
            html.Main(className="views", children=[
                scatter.panel(), jaccard.panel(), heatmap.panel(), details.panel(),
                findings.panel(), accuracy.panel(),
            ]),
        ]),
    ])
