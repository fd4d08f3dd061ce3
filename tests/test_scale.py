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


def test_jaccard_above_the_pair_sample_estimates_block_and_class_means_closely():
    from analysis import jaccard

    rng = np.random.default_rng(0)
    n, channels = 3000, 64
    labels = np.arange(n) % 3
    # Each class prefers its own third of the channels, so the means differ by class.
    p = np.full((3, channels), 0.1)
    for c in range(3):
        p[c, c * 21:(c + 1) * 21] = 0.6
    active = rng.random((n, channels)) < p[labels]
    order = np.argsort(labels, kind="stable")
    exact_blocks, rows = jaccard.jaccard_blocks(active, order, max_size=30, sample=0)
    sampled_blocks, rows_sampled = jaccard.jaccard_blocks(active, order, max_size=30, sample=600)
    np.testing.assert_array_equal(rows, rows_sampled)
    error = np.abs(sampled_blocks - exact_blocks)
    assert error.mean() < 0.015 and error.max() < 0.08  # 20 of 100 members per block
    same = labels[order][np.arange(30) * 100][:, None] == labels[order][np.arange(30) * 100][None, :]
    assert sampled_blocks[same].mean() > sampled_blocks[~same].mean() + 0.1
    exact = jaccard.class_jaccard(active, labels, 3, sample=0)
    sampled = jaccard.class_jaccard(active, labels, 3, sample=600)
    assert np.abs(sampled - exact).max() < 0.02
    assert exact[0, 0] > exact[0, 1] + 0.1  # the planted structure is there to be estimated
