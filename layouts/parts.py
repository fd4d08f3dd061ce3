"""Small building blocks shared by the panels."""

from dash import html


def field(label, component) -> html.Div:
    """A labelled control (the label points at the component's id)."""
    return html.Div(className="field", children=[html.Label(label, htmlFor=component.id), component])
