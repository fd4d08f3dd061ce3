"""Figure builders stay readable with many, long class names and hover in user units."""

import numpy as np

from figures import matrix
from figures.style import class_ticks, short_label

NAMES = [f"class number {i:03d} with a rather long name"[:40] for i in range(100)]


def test_hundred_long_class_names_are_shortened_and_thinned_with_full_names_on_hover():
    rng = np.random.default_rng(0)
    similarity = rng.random((100, 100)).astype(np.float32)
    fig = matrix.class_matrix_figure(similarity, NAMES)
    ticks = fig.layout.xaxis.ticktext
    assert len(ticks) <= 30 and all(len(t) <= 14 for t in ticks)
    assert fig.data[0].texttemplate is None  # no numbers printed over 100 x 100 cells
    assert fig.data[0].customdata[3][7] == [NAMES[7], NAMES[3]]  # full names in the hover
    labels = np.repeat(np.arange(100), 4)
    blocks = (rng.random((400, 400)) * 255).astype(np.uint8)
    jaccard = matrix.jaccard_figure(blocks, labels, NAMES)
    assert len(jaccard.layout.xaxis.ticktext) <= 30
    assert float(np.max(jaccard.data[0].z)) <= 1.0 and "Jaccard %{z:.2f}" in jaccard.data[0].hovertemplate


def test_heatmap_hover_shows_value_normalised_value_and_file_name():
    values = np.array([[0, 255], [128, 64]], np.uint8)
    raw = np.array([[0.5, 9.0], [3.0, 2.0]], np.float32)
    fig = matrix.heatmap_figure(values, 0, 1, np.array([4, 7]), np.array([10, 11]),
                                np.array([0, 1]), ["cat", "dog"], np.array([2.0, 1.0]), "F",
                                raw=raw, column_names=["cat/a.png", "dog/b.png"])
    cells = fig.data[0]
    assert list(cells.x) == ["#10 cat/a.png", "#11 dog/b.png"]
    assert "value %{customdata:.3g}" in cells.hovertemplate and "normalised %{z:.2f}" in cells.hovertemplate
    assert np.allclose(np.asarray(cells.z)[0], [0.0, 1.0])


def test_short_labels_and_tick_thinning():
    assert short_label("x" * 40) == "x" * 13 + "…"
    values, texts = class_ticks(range(10), [str(i) for i in range(10)], max_ticks=4)
    assert values == [0, 3, 6, 9] and texts == ["0", "3", "6", "9"]
