"""View callbacks as plain functions on a stored (synthetic) analysis."""

import json

import numpy as np
import plotly.io
import pytest

from analysis import session as sessions
from analysis import store, views
from callbacks import details, graph, heatmap, jaccard, scatter, selection
from layouts import ids
from tests.helpers import store_synthetic_analysis


@pytest.fixture()
def analysis(results_cache, tmp_path):
    return store_synthetic_analysis(results_cache, tmp_path / "data")


def size_of(fig) -> int:
    return len(plotly.io.to_json(fig))


def test_scatter_has_one_point_per_input_with_index_customdata(results_cache, analysis):
    fig, note, status, pending = scatter.scatter_view(results_cache, analysis, "conv_2", "mean")
    indices = np.concatenate([np.asarray(t.customdata) for t in fig.data])
    assert sorted(indices.tolist()) == list(range(analysis["n"]))
    assert "300 inputs" in note and status == "" and not pending


def test_scatter_highlights_the_selection(results_cache, analysis):
    chosen = [0, 3, 4, 10]
    fig, _, _, _ = scatter.scatter_view(results_cache, analysis, "conv_2", "mean",
                                        selection={"inputs": chosen})
    highlighted = sorted(int(np.asarray(t.customdata)[i]) for t in fig.data
                         for i in (t.selectedpoints or []))
    assert highlighted == chosen


def test_slow_projection_shows_pca_until_cached(results_cache, analysis):
    fig, _, status, pending = scatter.scatter_view(results_cache, analysis, "conv_2", "mean", "tsne")
    assert "PCA" in fig.layout.title.text and "Computing t-SNE" in str(status) and pending
    sessions.open(results_cache, analysis["key"]).projection("conv_2", "mean", "tsne")
    fig, _, status, pending = scatter.scatter_view(results_cache, analysis, "conv_2", "mean", "tsne")
    assert "t-SNE" in fig.layout.title.text and status == "" and not pending


def test_colour_by_correctness_splits_the_planted_mistakes(results_cache, analysis):
    fig, _, _, _ = scatter.scatter_view(results_cache, analysis, "conv_2", "mean", colour="correct")
    wrong = [t for t in fig.data if t.name == "wrong"][0]
    assert sorted(np.asarray(wrong.customdata).tolist()) == [0, 1, 2, 3, 4]


def test_lasso_points_become_the_shared_selection():
    chosen = scatter.selection_from_points({"points": [{"customdata": 7}, {"customdata": 2}]})
    assert chosen["inputs"] == [2, 7] and chosen["focus"] == 2 and chosen["source"] == "scatter"
    assert scatter.selection_from_points({"points": []}) is None  # a redraw, not a clear


def test_graph_click_opens_extracted_layers_only(results_cache, analysis):
    fig = graph.graph_view(results_cache, analysis, "conv_1", False)
    assert [list(m) for m in fig.data[1].customdata] == [["input", "input"], ["conv_1", "conv_1"],
                                                         ["conv_2", "conv_2"]]
    click = {"points": [{"customdata": ["conv_1", "conv_1"]}]}
    assert graph.layer_from_click(click, analysis) == "conv_1"
    assert graph.layer_from_click({"points": [{"customdata": ["input", "input"]}]}, analysis) is None
    # A collapsed block opens its deepest extracted member, whatever the names.
    block = {"points": [{"customdata": ["stem", "input", "conv_1", "conv_2"]}]}
    assert graph.layer_from_click(block, analysis) == "conv_2"


def test_jaccard_view_dims_all_but_the_selection(results_cache, analysis):
    matrix, classes, note = jaccard.jaccard_view(results_cache, analysis, "conv_2", "mean",
                                                 "topk", 0.1, {"inputs": [0, 1, 2]})
    assert len(matrix.data) == 3  # matrix, dimming overlay, selectable diagonal
    blocks = np.asarray(matrix.data[0].z)
    mask = np.asarray(matrix.data[1].z)
    assert blocks.shape == mask.shape == (analysis["n"], analysis["n"])
    assert mask.sum() == blocks.size - 9  # only the 3 x 3 selected cells stay bright
    assert np.asarray(classes.data[0].z).shape == (3, 3)


def test_jaccard_within_class_beats_between_class_on_planted_data(results_cache, analysis):
    _, classes, _ = jaccard.jaccard_view(results_cache, analysis, "conv_2", "mean", "topk", 0.15,
                                         None)
    matrix = np.asarray(classes.data[0].z)
    assert np.all(np.diag(matrix) > matrix.max(axis=1, where=~np.eye(3, dtype=bool), initial=0))


def test_jaccard_click_and_drag_select_their_inputs(results_cache, analysis):
    args = (results_cache, analysis, "conv_2", "mean", "topk", 0.1)
    data = sessions.open(results_cache, analysis["key"]).jaccard("conv_2", "mean", "topk", 0.1)
    cell = jaccard.selection_from_matrix(*args, "cell", {"points": [{"x": 0, "y": 5}]}, None)
    expected = sorted(np.flatnonzero(np.isin(data["block_of_input"], [0, 5])).tolist())
    assert cell == expected
    drag = jaccard.selection_from_matrix(*args, "drag", None,
                                         {"points": [{"customdata": b} for b in range(10)]})
    assert len(drag) == 10
    by_class = jaccard.selection_from_matrix(*args, ids.JACCARD_CLASSES,
                                             {"points": [{"x": 1, "y": 1}]}, None)
    assert by_class == list(range(1, 300, 3))
    picked = jaccard.pick(results_cache, "cell", {"points": [{"x": 0, "y": 5}]}, None, analysis,
                          "conv_2", "mean", "topk", 0.1, {"channel": 3, "layer": "conv_2"})
    assert picked["inputs"] == expected and picked["channel"] == 3 and picked["source"] == "jaccard"


def test_large_jaccard_is_block_reduced_and_keeps_selection_visible(results_cache, tmp_path):
    big = store_synthetic_analysis(results_cache, tmp_path / "big", n=2000, channels=128,
                                   n_classes=10, write_images=False, seed=1)
    matrix, _, note = jaccard.jaccard_view(results_cache, big, "conv_2", "mean", "topk", 0.1,
                                           {"inputs": [1234]})
    assert np.asarray(matrix.data[0].z).shape == (views.MAX_JACCARD_ROWS,) * 2
    assert "mean Jaccard over a block" in note
    mask = np.asarray(matrix.data[1].z)
    assert (mask == 0).sum() == 1  # the one block holding input 1234 stays bright
    assert size_of(matrix) < 2_000_000


def test_every_view_response_is_under_2mb_at_n_2000(results_cache, tmp_path):
    big = store_synthetic_analysis(results_cache, tmp_path / "big", n=2000, channels=512,
                                   n_classes=10, write_images=False, seed=2)
    chosen = {"inputs": list(range(0, 2000, 7)), "channel": 3, "layer": "conv_2", "focus": 0}
    responses = [
        scatter.scatter_view(results_cache, big, "conv_2", "mean", selection=chosen),
        jaccard.jaccard_view(results_cache, big, "conv_2", "mean", "topk", 0.1, chosen),
        heatmap.heatmap_view(results_cache, big, "conv_2", "mean", "f_stat", 0, chosen),
    ]
    for response in responses:
        total = sum(size_of(part) if hasattr(part, "to_plotly_json") else len(json.dumps(part))
                    for part in response)
        assert total < 2_000_000


def test_heatmap_sorts_by_criterion_and_keeps_selected_columns(results_cache, analysis):
    chosen = [5, 6, 7]
    fig, note = heatmap.heatmap_view(results_cache, analysis, "conv_2", "mean", "f_stat", 12,
                                     {"inputs": chosen})
    rows = [int(y.removeprefix("ch ")) for y in fig.data[0].y]
    assert sorted(rows) == list(range(12))  # the planted class channels rank first
    columns = [int(x.split()[0].lstrip("#")) for x in fig.data[0].x]
    assert set(chosen) <= set(columns)
    assert len(fig.data) == 3  # values, dimming overlay, criterion bars


def test_heatmap_selection_criterion_ranks_channels_of_the_selected_class(results_cache, analysis):
    class2 = list(range(2, 300, 3))
    fig, _ = heatmap.heatmap_view(results_cache, analysis, "conv_2", "mean", "selection", 4,
                                  {"inputs": class2})
    rows = sorted(int(y.removeprefix("ch ")) for y in fig.data[0].y)
    assert rows == [8, 9, 10, 11]
    fig, note = heatmap.heatmap_view(results_cache, analysis, "conv_2", "mean", "selection", 4, None)
    assert "select some inputs" in note


def test_heatmap_click_focuses_input_and_channel():
    chosen = heatmap.selection_from_cell({"points": [{"x": "17", "y": "ch 3", "curveNumber": 0}]},
                                         "conv_2", {"inputs": []})
    assert chosen["inputs"] == [17] and chosen["focus"] == 17 and chosen["channel"] == 3
    assert heatmap.selection_from_cell({"points": [{"x": 1.5, "y": "ch 3", "curveNumber": 2}]},
                                       "conv_2", None) is None


def test_details_shows_distribution_and_top_inputs(results_cache, analysis):
    chosen = {"inputs": [4], "focus": 4, "channel": 9, "layer": "conv_2"}
    fig, thumbs, note = details.details_view(results_cache, analysis, "conv_2", "mean", chosen)
    assert len(thumbs) == 9 and "channel 9" in note
    assert len([t for t in fig.data if t.type == "box"]) == 3
    values = store.load_layer(results_cache, analysis["key"], "conv_2")["mean"][:, 9]
    top_index = int(thumbs[0].children[1].children.split()[0].lstrip("#"))
    assert values[top_index] == values.max()
    # A channel picked in another layer does not leak into this one.
    _, thumbs, note = details.details_view(results_cache, analysis, "conv_1", "mean", chosen)
    assert thumbs == [] and "Click a heatmap cell" in note


def test_selection_text_counts_classes(results_cache, analysis):
    text = selection.selection_text(results_cache, analysis, {"inputs": [0, 1, 3, 4, 6]})
    assert text == "5 of 300 inputs selected: 3 class0, 2 class1"


def test_jobs_are_only_requested_when_there_is_work(results_cache, analysis):
    assert scatter.projection_request(results_cache, analysis, "conv_2", "mean", "pca") is None
    request = scatter.projection_request(results_cache, analysis, "conv_2", "mean", "mds")
    assert request == {"key": analysis["key"], "layer": "conv_2", "summary": "mean", "method": "mds"}
    sessions.open(results_cache, analysis["key"]).projection("conv_2", "mean", "mds")
    assert scatter.projection_request(results_cache, analysis, "conv_2", "mean", "mds") is None
    assert details.overlay_request(analysis, "conv_2", {"inputs": [3]}) is None  # no channel
    picked = {"inputs": [3], "focus": 3, "channel": 2, "layer": "conv_2"}
    assert details.overlay_request(analysis, "conv_2", picked)["channel"] == 2
    assert details.overlay_request(analysis, "conv_1", picked) is None  # channel of another layer


def test_selected_blocks_mark_rows_holding_selected_inputs():
    block_of_input = np.array([0, 0, 1, 1, 2, 2])
    assert views.selected_blocks(block_of_input, 3, []) is None
    np.testing.assert_array_equal(views.selected_blocks(block_of_input, 3, [1, 4, 99]),
                                  [True, False, True])


def test_many_inputs_become_binned_columns_and_a_zoom_reveals_single_inputs(results_cache, tmp_path):
    big = store_synthetic_analysis(results_cache, tmp_path / "big", n=2000, channels=64,
                                   n_classes=10, write_images=False, seed=3)
    fig, note = heatmap.heatmap_view(results_cache, big, "conv_2", "mean", "f_stat", 10, None)
    labels = list(fig.data[0].x)
    assert len(labels) == views.MAX_HEATMAP_COLUMNS and "zoom in" in note
    assert all("more" in label for label in labels)  # every column is a bin of inputs
    # A click on a bin selects its inputs, in heatmap order, and focuses the first.
    order = sessions.open(results_cache, big["key"]).heatmap_order("conv_2", "mean")
    click = {"points": [{"x": labels[5], "y": fig.data[0].y[0], "curveNumber": 0}]}
    chosen = heatmap.selection_from_cell(click, "conv_2", None, order)
    first, size, _ = heatmap.parse_cell(click)
    position = int(np.flatnonzero(order == first)[0])
    assert chosen["inputs"] == sorted(order[position:position + size].tolist())
    assert chosen["focus"] == first and size > 1
    # Zooming onto 40 columns shows their inputs one by one.
    zoom = heatmap.zoom_from_relayout({"xaxis.range[0]": 9.5, "xaxis.range[1]": 49.5}, None, big,
                                      "conv_2", "mean", 2000)
    fig, note = heatmap.heatmap_view(results_cache, big, "conv_2", "mean", "f_stat", 10, None, zoom)
    singles = list(fig.data[0].x)
    assert len(singles) == zoom["window"][1] - zoom["window"][0] < 300
    assert not any("more" in label for label in singles)
    assert heatmap.parse_cell({"points": [{"x": singles[0], "y": "ch 1"}]})[1] == 1
    reset = heatmap.zoom_from_relayout({"xaxis.autorange": True}, zoom, big, "conv_2", "mean", 2000)
    assert reset["window"] is None
