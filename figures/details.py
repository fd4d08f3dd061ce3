"""Details of one channel: its map over one input, and its values by class."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from figures.style import TEMPLATE, class_colour

OVERLAY = [[0, "rgba(255,80,0,0)"], [0.35, "rgba(255,120,0,0.35)"], [1, "rgba(255,230,0,0.85)"]]


def overlay_figure(image, channel_map, title="") -> go.Figure:
    """The input image with one channel's activation map (resized to it) on top.

    Parameters
    ----------
    image : ndarray of shape (H, W, 1 or 3 or 4), 0..255
    channel_map : ndarray of shape (H, W), float
        Already resized to the image; negative values show as transparent.
    """
    image = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    fig = go.Figure(go.Image(z=image[..., :3], hoverinfo="skip"))
    top = float(np.max(channel_map)) if np.max(channel_map) > 0 else 1.0
    fig.add_trace(go.Heatmap(z=np.clip(channel_map, 0, None).astype(np.float32), zmin=0, zmax=top,
                             colorscale=OVERLAY, colorbar={"title": "activation"},
                             hovertemplate="(%{x}, %{y}) %{z:.3g}<extra></extra>"))
    fig.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"visible": False}, yaxis={"visible": False, "autorange": "reversed",
                                                       "scaleanchor": "x"})
    return fig


def distribution_figure(values, labels, class_names, marked_value=None, title="") -> go.Figure:
    """Box per class of one channel's summary, with the selected input marked."""
    values = np.asarray(values, dtype=np.float32)
    labels = np.asarray(labels)
    traces = []
    for label, name in enumerate(class_names):
        members = values[labels == label]
        if len(members):
            traces.append(go.Box(x=members, name=str(name), orientation="h", boxpoints=False,
                                 marker={"color": class_colour(label)}, showlegend=False))
    marks = {}
    if marked_value is not None:  # what fig.add_vline(annotation_position="top") draws
        x = float(marked_value)
        marks = {"shapes": [{"line": {"color": "#dc2626", "width": 2}, "type": "line", "x0": x,
                             "x1": x, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain"}],
                 "annotations": [{"showarrow": False, "text": "selected input", "x": x,
                                  "xanchor": "center", "xref": "x", "y": 1, "yanchor": "bottom",
                                  "yref": "y domain"}]}
    layout = go.Layout(title=title, margin={"l": 90, "r": 10, "t": 40, "b": 40},
                       yaxis={"autorange": "reversed"}, template=TEMPLATE, **marks)
    return go.Figure(data=traces, layout=layout, _validate=False)  # both validated above
