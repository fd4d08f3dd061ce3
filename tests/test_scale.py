"""Responses stay small at scale: a 50,000-point scatter figure fits the 2 MB budget."""

import numpy as np
import plotly.io as pio

from figures.scatter import HOVER_TEXT_MAX, scatter_figure


def test_50000_point_scatter_is_under_2_mb_and_hover_still_names_the_input():
    n = 50_000
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(n, 2)).astype(np.float32)
    labels = np.arange(n) % 10
    hover = [f"#{i} class_{i % 10}/image_{i:05d}.png<br>label: class {i % 10}<br>predicted: x (90%)"
             for i in range(n)]
    fig = scatter_figure(xy, labels, [f"class {c}" for c in range(10)], hover, selected=range(0, n, 7))
    assert len(pio.to_json(fig).encode()) <= 2_000_000
    trace = fig.data[3]
    assert "%{customdata}" in trace.hovertemplate and trace.text is None
    assert list(trace.customdata[:2]) == [3, 13]  # selections still map back to inputs


def test_small_scatter_keeps_its_hover_texts():
    n = HOVER_TEXT_MAX
    fig = scatter_figure(np.zeros((n, 2)), np.zeros(n, int), ["only"], [f"text {i}" for i in range(n)])
    assert fig.data[0].text[5] == "text 5"
