"""The model's accuracy: confusion matrix and per-class accuracy bars."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from figures.style import figure

LABEL_CHARS = 16  # longer class names are cut in the axes, full on hover


def short_label(name: str, limit: int = LABEL_CHARS) -> str:
    name = str(name)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _ticks(names):
    """Axis positions with short unique labels (many classes: every k-th one)."""
    n = len(names)
    step = max(1, int(np.ceil(n / 40)))
    positions = list(range(0, n, step))
    return positions, [short_label(names[i]) for i in positions]


def confusion_figure(confusion: np.ndarray, class_names) -> go.Figure:
    """Rows: true class, columns: predicted class; colour: share of the true class's images.

    Each cell's ``customdata`` is ``[true, predicted, count]`` so a click can select its inputs.
    """
    confusion = np.asarray(confusion)
    n = len(class_names)
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, np.maximum(rows, 1), dtype=np.float64)
    custom = np.stack([np.repeat(np.arange(n)[:, None], n, 1), np.repeat(np.arange(n)[None, :], n, 0),
                       confusion], axis=-1)
    names = [str(name) for name in class_names]
    hover = [[f"true {names[t]}<br>predicted {names[p]}<br>{confusion[t, p]:,} input(s) "
              f"({share[t, p]:.0%} of {names[t]})" for p in range(n)] for t in range(n)]
    positions, labels = _ticks(names)
    fig = figure(go.Heatmap(
        # customdata [true, predicted, count] as plain lists (readable in the page's data).
        z=share, x=list(range(n)), y=list(range(n)), customdata=custom.tolist(), text=hover,
        hoverinfo="text", colorscale="Blues", zmin=0, zmax=1, xgap=1, ygap=1,
        colorbar={"title": {"text": "share"}, "thickness": 10}),
        height=max(320, min(640, 24 * n + 140)), margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Confusion matrix (click a cell to select its inputs)")
    if n <= 20:
        fig.add_trace(go.Scatter(x=[p for t in range(n) for p in range(n) if confusion[t, p]],
                                 y=[t for t in range(n) for p in range(n) if confusion[t, p]],
                                 text=[str(confusion[t, p]) for t in range(n) for p in range(n)
                                       if confusion[t, p]],
                                 mode="text", hoverinfo="skip", showlegend=False,
                                 textfont={"size": 10}))
    fig.update_xaxes(title="predicted", tickvals=positions, ticktext=labels, tickangle=-90,
                     side="bottom", automargin=True, showgrid=False)
    fig.update_yaxes(title="true", tickvals=positions, ticktext=labels, autorange="reversed",
                     automargin=True, showgrid=False)
    return fig


def per_class_figure(per_class: np.ndarray, counts: np.ndarray, class_names) -> go.Figure:
    """Horizontal bars: the share of each class's images the model gets right (worst first)."""
    per_class = np.asarray(per_class, np.float64)
    order = np.argsort(np.where(np.isnan(per_class), np.inf, per_class), kind="stable")
    names = [str(class_names[i]) for i in order]
    values = [0.0 if np.isnan(per_class[i]) else float(per_class[i]) for i in order]
    hover = [f"{names[k]}: {values[k]:.1%} of {int(counts[i]):,} input(s)" if counts[i]
             else f"{names[k]}: no images" for k, i in enumerate(order)]
    fig = figure(go.Bar(x=values, y=list(range(len(order))), orientation="h", customdata=order.tolist(),
                        text=hover, hoverinfo="text", textposition="none", marker={"color": "#2563eb"}),
                 height=max(260, min(640, 18 * len(order) + 90)),
                 margin={"l": 10, "r": 10, "t": 30, "b": 10}, title="Accuracy per class (worst first)")
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    step = max(1, int(np.ceil(len(order) / 40)))
    fig.update_yaxes(tickvals=list(range(0, len(order), step)),
                     ticktext=[short_label(names[k]) for k in range(0, len(order), step)],
                     autorange="reversed", automargin=True)
    return fig
