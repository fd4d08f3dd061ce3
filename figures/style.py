"""Shared visual choices."""

import plotly.colors

_PALETTE = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Set3


def class_colour(label: int) -> str:
    """A stable colour per class index."""
    return _PALETTE[int(label) % len(_PALETTE)]
