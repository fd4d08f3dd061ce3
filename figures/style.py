"""Shared visual choices: one plotly template, class colours, the blank figure."""

import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio

_PALETTE = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Set3

TEMPLATE_NAME = "channelexplorer"
pio.templates[TEMPLATE_NAME] = go.layout.Template(layout={
    "plot_bgcolor": "white",
    "paper_bgcolor": "white",
    "font": {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12,
             "color": "#1f2933"},
    "title": {"font": {"size": 14}, "x": 0.01, "xanchor": "left"},
    "xaxis": {"gridcolor": "#eef1f5", "zerolinecolor": "#d5dae1"},
    "yaxis": {"gridcolor": "#eef1f5", "zerolinecolor": "#d5dae1"},
    "hoverlabel": {"font": {"size": 12}},
})
# Every builder sets it explicitly: small, and no mutable global default.
TEMPLATE = TEMPLATE_NAME


# Super-classes get their own (darker) palette, so a colour never means a class in one view
# and a group of classes in the next.
_GROUP_PALETTE = plotly.colors.qualitative.Dark2 + plotly.colors.qualitative.Antique


def group_colour(group: int) -> str:
    """A stable colour per super-class (never one of the class colours)."""
    return _GROUP_PALETTE[int(group) % len(_GROUP_PALETTE)]


def class_colour(label: int) -> str:
    """A stable colour per class index."""
    return _PALETTE[int(label) % len(_PALETTE)]


def figure(*data, **layout) -> go.Figure:
    """A figure in the app's template."""
    fig = go.Figure(data=list(data))
    fig.update_layout(template=TEMPLATE, **layout)
    return fig


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why it is blank (no axes, no stale data)."""
    return figure(xaxis={"visible": False}, yaxis={"visible": False},
                  annotations=[{"text": message, "showarrow": False, "font": {"size": 15},
                                "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])


def short_label(name, limit: int = 14) -> str:
    """``name`` cut to ``limit`` characters with an ellipsis (the full name goes in the hover)."""
    name = str(name)
    return name if len(name) <= limit else name[:limit - 1] + "…"


def class_ticks(positions, names, max_ticks: int = 30, limit: int = 14):
    """(tickvals, ticktext): labels shortened, and at most ``max_ticks`` of them (every k-th)."""
    positions, names = list(positions), [short_label(n, limit) for n in names]
    step = max(1, -(-len(positions) // max_ticks))
    return positions[::step], names[::step]
