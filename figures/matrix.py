"""Matrix views: the Jaccard matrix, its class-by-class version and the channel heatmap.

Matrices travel as uint8 (4x smaller than float32 in Plotly's base64
encoding); colour bars are labelled in the original units.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from figures.style import TEMPLATE, class_ticks

DIM = [[0, "rgba(255,255,255,0)"], [1, "rgba(255,255,255,0.72)"]]
# Above this many heatmap cells, values travel as uint8 (float32 + raw values would pass 2 MB).
FLOAT_CELLS = 100_000
HEATMAP_WIDTHS, HEATMAP_SPACING = (0.86, 0.14), 0.01  # cells | criterion bars


def _class_ticks(class_names, labels_in_order):
    """Tick positions at the centre of each class run, and the run boundaries."""
    labels_in_order = np.asarray(labels_in_order)
    edges = np.flatnonzero(np.diff(labels_in_order)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(labels_in_order)]])
    centres = (starts + stops - 1) / 2
    names = [str(class_names[labels_in_order[s]]) for s in starts]
    return centres, names, edges


def _uint8_colourbar(lo, hi, title):
    ticks = np.linspace(0, 255, 5)
    return {"title": title, "tickvals": ticks.tolist(),
            "ticktext": [f"{lo + (hi - lo) * t / 255:.2g}" for t in ticks]}


def jaccard_figure(block_matrix_u8, block_labels, class_names, selected_blocks=None,
                   title="") -> go.Figure:
    """The (block-reduced) input-by-input Jaccard matrix, grouped by class.

    Parameters
    ----------
    block_matrix_u8 : ndarray of shape (B, B), uint8
        Jaccard x 255.
    block_labels : ndarray of shape (B,), int
        Majority class of each display row.
    selected_blocks : ndarray of shape (B,), bool, optional
        Rows/columns holding selected inputs; the rest is dimmed.
    """
    b = len(block_matrix_u8)
    # Float32 so the hover reads in Jaccard units (0-1); 400 x 400 is 640 KB.
    traces = [go.Heatmap(
        z=np.asarray(block_matrix_u8, np.float32) / np.float32(255), colorscale="Viridis",
        zmin=0, zmax=1, colorbar={"title": "Jaccard"},
        hovertemplate="row %{y}, column %{x}<br>Jaccard %{z:.2f}<extra></extra>")]
    dim = jaccard_dim_trace(selected_blocks)
    if dim is not None:
        traces.append(dim)
    # Invisible diagonal points make rows box-selectable (heatmaps are not).
    traces.append(go.Scattergl(x=np.arange(b), y=np.arange(b), mode="markers",
                               customdata=np.arange(b).tolist(), hoverinfo="skip",
                               marker={"size": 6, "opacity": 0.01}, showlegend=False,
                               _validate=False))  # plain values; validating 400 ints is slow
    centres, names, edges = _class_ticks(class_names, block_labels)
    line = {"color": "white", "width": 1}
    shapes = [shape for edge in edges for shape in (
        {"type": "line", "x0": edge - 0.5, "x1": edge - 0.5, "y0": -0.5, "y1": b - 0.5, "line": line},
        {"type": "line", "y0": edge - 0.5, "y1": edge - 0.5, "x0": -0.5, "x1": b - 0.5, "line": line})]
    tickvals, ticktext = class_ticks(centres.tolist(), names)
    axis = {"tickvals": tickvals, "ticktext": ticktext, "showgrid": False, "zeroline": False}
    # One validated layout, then the figure assembled without validating it all again.
    layout = go.Layout(shapes=shapes, title=title, margin={"l": 100, "r": 10, "t": 40, "b": 100},
                       xaxis=dict(axis, tickangle=-90), yaxis=dict(axis, autorange="reversed"),
                       dragmode="select", clickmode="event", template=TEMPLATE,
                       uirevision="jaccard")
    return go.Figure(data=traces, layout=layout, _validate=False)


def jaccard_dim_trace(selected_blocks=None) -> go.Heatmap | None:
    """The Jaccard figure's second trace, dimming rows and columns of no selected input;
    None when nothing is selected (the figure then has no such trace)."""
    if selected_blocks is None or not selected_blocks.any():
        return None
    unselected = ~np.asarray(selected_blocks, bool)
    mask = (unselected[:, None] | unselected[None, :]).astype(np.uint8)
    return go.Heatmap(z=mask, colorscale=DIM, zmin=0, zmax=1, showscale=False, hoverinfo="skip")


def trace_json(trace) -> dict:
    """A trace as a figure sends it to the page (arrays as base64 typed arrays), for a Patch:
    a Patch's own encoding would send arrays as nested lists (2-3x larger)."""
    return json.loads(pio.to_json(go.Figure(data=[trace]), validate=False))["data"][0]


def class_matrix_figure(matrix, class_names, title="Mean Jaccard between classes") -> go.Figure:
    """K x K class similarity; values written in the cells while they fit, always in the hover.

    Axis labels are shortened (full names in the hover) and thinned out for many classes.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    names = [str(name) for name in class_names]
    k = len(names)
    full = np.array(names, dtype=object)
    cell_text = {"text": np.round(matrix, 2), "texttemplate": "%{text}", "textfont": {"size": 9}} \
        if k <= 12 else {}
    trace = go.Heatmap(
        z=matrix, x=list(range(k)), y=list(range(k)), colorscale="Viridis", showscale=False,
        customdata=np.stack(np.broadcast_arrays(full[None, :], full[:, None]), axis=-1).tolist(),
        hovertemplate="%{customdata[1]} · %{customdata[0]}<br>mean Jaccard %{z:.3f}<extra></extra>",
        **cell_text)
    tickvals, ticktext = class_ticks(range(k), names)
    axis = {"tickvals": tickvals, "ticktext": ticktext, "showgrid": False}
    layout = go.Layout(title=title, margin={"l": 100, "r": 10, "t": 40, "b": 100},
                       xaxis=dict(axis, tickangle=-90), yaxis=dict(axis, autorange="reversed"),
                       clickmode="event", template=TEMPLATE)
    return go.Figure(data=[trace], layout=layout, _validate=False)  # both validated above


def heatmap_figure(values_u8, lo, hi, channels, columns, column_labels, class_names, scores,
                   criterion_label, selected_columns=None, title="", raw=None,
                   column_names=None, revision="heatmap") -> go.Figure:
    """Channels (rows) x inputs (columns) with the sort criterion drawn alongside.

    Parameters
    ----------
    values_u8 : ndarray of shape (K, M), uint8
        Normalised summaries of the K shown channels for the M shown inputs (x 255).
    channels : ndarray of shape (K,), int
        Channel index of each row.
    columns : ndarray of shape (M,), int
        Input index of each column (click data carries it as ``x``: ``"#index name"``).
    column_labels : ndarray of shape (M,), int
        Class of each column.
    scores : ndarray of shape (K,)
        The sort criterion of each shown channel.
    selected_columns : ndarray of shape (M,), bool, optional
    raw : ndarray of shape (K, M), float32, optional
        The activation values themselves; with it (and at most ``FLOAT_CELLS`` cells) the
        cells travel as float32 and the hover shows value and normalised value.
    column_names : sequence of str, length M, optional
        File name of each column's input (in its x label and hover).
    revision : str
        ``uirevision``: a new one (a new zoom window) resets the axes to the data drawn.
    """
    # The layout of make_subplots(1, 2, shared_yaxes=True, column_widths=[0.86, 0.14],
    # horizontal_spacing=0.01), written out: building it through make_subplots and
    # update_xaxes took most of this function's time.
    left = (1 - HEATMAP_SPACING) * HEATMAP_WIDTHS[0]
    y = [f"ch {c}" for c in channels]
    names = column_names if column_names is not None else [""] * len(columns)
    x = [f"#{i} {name}".strip() for i, name in zip(columns, names)]
    if raw is not None and values_u8.size <= FLOAT_CELLS:
        cells = {"z": np.asarray(values_u8, np.float32) / np.float32(255), "zmin": 0, "zmax": 1,
                 "customdata": np.asarray(raw, np.float32), "colorbar": {"title": "normalised"},
                 "hovertemplate": "input %{x}<br>%{y}<br>value %{customdata:.3g} "
                                  "(normalised %{z:.2f})<extra></extra>"}
    else:
        cells = {"z": values_u8, "zmin": 0, "zmax": 255,
                 "colorbar": _uint8_colourbar(lo, hi, "normalised"),
                 "hovertemplate": "input %{x}<br>%{y}<br>level %{z} of 255 in the channel's "
                                  "range<extra></extra>"}
    traces = [go.Heatmap(x=x, y=y, colorscale="Magma", xaxis="x", yaxis="y", **cells)]
    if selected_columns is not None and selected_columns.any() and not selected_columns.all():
        mask = np.broadcast_to(~selected_columns, values_u8.shape).astype(np.uint8)
        traces.append(go.Heatmap(z=mask, x=x, y=y, colorscale=DIM, zmin=0, zmax=1,
                                 showscale=False, hoverinfo="skip", xaxis="x", yaxis="y"))
    traces.append(go.Bar(x=np.asarray(scores, dtype=np.float32), y=y, orientation="h",
                         marker={"color": "#64748b"}, showlegend=False,
                         hovertemplate="%{y}: %{x:.3g}<extra>" + criterion_label + "</extra>",
                         xaxis="x2", yaxis="y2"))
    centres, names, edges = _class_ticks(class_names, column_labels)
    tickvals, ticktext = class_ticks([x[int(round(c))] for c in centres], names)
    layout = go.Layout(
        xaxis={"anchor": "y", "domain": [0.0, left], "type": "category", "tickvals": tickvals,
               "ticktext": ticktext, "tickangle": -90, "showgrid": False},
        yaxis={"anchor": "x", "domain": [0.0, 1.0], "autorange": "reversed", "type": "category"},
        xaxis2={"anchor": "y2", "domain": [left + HEATMAP_SPACING, 1.0],
                "title": {"text": criterion_label}},
        yaxis2={"anchor": "x2", "domain": [0.0, 1.0], "matches": "y", "showticklabels": False},
        title=title, margin={"l": 60, "r": 10, "t": 40, "b": 100},
        clickmode="event", template=TEMPLATE, uirevision=revision)
    return go.Figure(data=traces, layout=layout, _validate=False)  # both validated above
