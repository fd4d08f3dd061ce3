"""Scatterplot of inputs, one WebGL trace per class."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from figures.style import TEMPLATE, class_colour

# Above this many points each hover shows the input's index and group instead of its
# own text: 50,000 texts (file, label, prediction) made a 5.8 MB response; the
# details panel shows the rest for a clicked input.
HOVER_TEXT_MAX = 10_000


def scatter_figure(xy: np.ndarray, labels: np.ndarray, class_names, hover: list,
                   selected=None, title: str = "") -> go.Figure:
    """One point per input, coloured by class, selectable (box/lasso).

    Parameters
    ----------
    xy : ndarray of shape (N, 2)
    labels : ndarray of shape (N,), int
    hover : list of str, length N
    selected : array-like of int, optional
        Input indices to highlight; the rest are dimmed.

    Each point's ``customdata`` is its input index, so selections map back
    to inputs without parsing hover text.  It is sent as a plain list: Plotly
    leaves base64-encoded customdata out of a WebGL trace's selection events.
    """
    xy = np.asarray(xy, dtype=np.float32)
    labels = np.asarray(labels)
    hover = np.asarray(hover, dtype=object) if len(xy) <= HOVER_TEXT_MAX else None
    chosen = np.zeros(len(xy), bool)
    if selected is not None and len(selected):
        chosen[np.asarray(selected, int)] = True
    fig = go.Figure()
    for label, name in enumerate(class_names):
        members = np.flatnonzero(labels == label)
        if not len(members):
            continue
        trace = go.Scattergl(
            x=xy[members, 0], y=xy[members, 1], mode="markers", name=str(name),
            customdata=members.tolist(),
            text=hover[members].tolist() if hover is not None else None,
            hovertemplate=("%{text}<extra></extra>" if hover is not None
                           else "#%{customdata} · %{fullData.name}<extra></extra>"),
            marker={"size": 6, "color": class_colour(label), "line": {"width": 0}},
        )
        if chosen.any():
            trace.selectedpoints = np.flatnonzero(chosen[members]).tolist()
            trace.selected = {"marker": {"opacity": 1.0}}
            trace.unselected = {"marker": {"opacity": 0.12}}
        fig.add_trace(trace)
    fig.update_layout(
        title=title, dragmode="lasso", clickmode="event+select",
        margin={"l": 40, "r": 10, "t": 40, "b": 40}, legend={"itemsizing": "constant"},
        xaxis={"title": "component 1", "zeroline": False},
        yaxis={"title": "component 2", "zeroline": False},
        template=TEMPLATE, uirevision="scatter",
    )
    return fig

