"""Scatterplot of inputs, one WebGL trace per class."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from figures.style import TEMPLATE, class_colour

# Above this many points each hover shows the input's index and group instead of its
# own text: 50,000 texts (file, label, prediction) made a 5.8 MB response; the
# details panel shows the rest for a clicked input.
HOVER_TEXT_MAX = 10_000
# The highlight of a selection: what a trace carries while some inputs are selected.
SELECTION_KEYS = ("selectedpoints", "selected", "unselected")


def trace_members(labels: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Input indices of each drawn trace, in trace order (groups without members get none).

    Parameters
    ----------
    labels : ndarray of shape (N,), int
        Group of each input, in ``range(n_groups)``.

    Returns
    -------
    list of (label, ndarray of int)
        One entry per trace of :func:`scatter_figure`.
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=n_groups)[:n_groups]
    ends = np.cumsum(counts)
    return [(label, order[end - count:end]) for label, (count, end) in enumerate(zip(counts, ends))
            if count]


def selection_style(members: list, n: int, selected=None) -> list[dict]:
    """Per trace, the properties that highlight ``selected`` ({} when nothing is selected).

    ``members`` is :func:`trace_members`; ``selectedpoints`` are positions within each trace.
    The full figure and the selection-only update (a ``dash.Patch``) both come from here,
    so they cannot disagree.
    """
    chosen = np.zeros(n, bool)
    if selected is not None and len(selected):
        chosen[np.asarray(selected, int)] = True
    if not chosen.any():
        return [{} for _ in members]
    return [{"selectedpoints": np.flatnonzero(chosen[indices]).tolist(),
             "selected": {"marker": {"opacity": 1.0}},
             "unselected": {"marker": {"opacity": 0.12}}} for _, indices in members]


def scatter_figure(xy: np.ndarray, labels: np.ndarray, class_names, hover: list | None,
                   selected=None, title: str = "") -> go.Figure:
    """One point per input, coloured by class, selectable (box/lasso).

    Parameters
    ----------
    xy : ndarray of shape (N, 2)
    labels : ndarray of shape (N,), int
    hover : list of str, length N, or None
        Ignored above ``HOVER_TEXT_MAX`` points (and when None): the hover then shows
        the input's index and group.
    selected : array-like of int, optional
        Input indices to highlight; the rest are dimmed.

    Each point's ``customdata`` is its input index, so selections map back
    to inputs without parsing hover text.  It is sent as a plain list: Plotly
    leaves base64-encoded customdata out of a WebGL trace's selection events.
    The traces are built without plotly's per-element validation (50,000 Python
    ints took most of a second to validate); every value set here is valid.
    """
    xy = np.asarray(xy, dtype=np.float32)
    labels = np.asarray(labels)
    hover = np.asarray(hover, dtype=object) if hover is not None and len(xy) <= HOVER_TEXT_MAX \
        else None
    members = trace_members(labels, len(class_names))
    styles = selection_style(members, len(xy), selected)
    traces = []
    for (label, indices), style in zip(members, styles):
        trace = go.Scattergl(
            x=xy[indices, 0], y=xy[indices, 1], mode="markers", name=str(class_names[label]),
            customdata=indices.tolist(),
            text=hover[indices].tolist() if hover is not None else None,
            hovertemplate=("%{text}<extra></extra>" if hover is not None
                           else "#%{customdata} · %{fullData.name}<extra></extra>"),
            marker={"color": class_colour(label), "line": {"width": 0}, "size": 6},
            _validate=False, **style)
        traces.append(trace)
    layout = go.Layout(  # validated as usual (it names the template)
        title=title, dragmode="lasso", clickmode="event+select",
        margin={"l": 40, "r": 10, "t": 40, "b": 40}, legend={"itemsizing": "constant"},
        xaxis={"title": "component 1", "zeroline": False},
        yaxis={"title": "component 2", "zeroline": False},
        template=TEMPLATE, uirevision="scatter",
    )
    return go.Figure(data=traces, layout=layout, _validate=False)
