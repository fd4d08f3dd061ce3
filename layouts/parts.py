"""Small building blocks shared by the panels."""

from dash import dcc, html


def field(label, component) -> html.Div:
    """A labelled control (the label points at the component's id)."""
    return html.Div(className="field", children=[html.Label(label, htmlFor=component.id), component])


# The modebar shows on hover only, never the "Share chart" (upload to a cloud service) or
# "Edit in Chart Studio" buttons: dcc.Graph's defaults still showed "Share chart" here.
# PNG download stays.
GRAPH_CONFIG = {
    "displaylogo": False,
    "displayModeBar": "hover",
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "showLink": False,
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio", "lasso2d", "select2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
# Views that select by box or lasso keep those buttons.
SELECT_CONFIG = dict(GRAPH_CONFIG, modeBarButtonsToRemove=["sendDataToCloud", "editInChartStudio"])


def graph(component_id: str, height: int, selectable: bool = False, **kwargs) -> dcc.Graph:
    """A dcc.Graph with the app's modebar settings and a fixed height in pixels."""
    return dcc.Graph(id=component_id, config=SELECT_CONFIG if selectable else GRAPH_CONFIG,
                     style={"height": f"{height}px"}, **kwargs)
