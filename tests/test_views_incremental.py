"""A selection change updates the views from memoised data (and the scatter by a Patch):
the result must be what a full rebuild draws for the same inputs."""

import copy
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest
from dash import Patch, no_update

from analysis import session as sessions
from analysis import views
from callbacks import details, heatmap, jaccard, scatter
from figures.scatter import scatter_figure
from tests.helpers import store_synthetic_analysis


@pytest.fixture()
def analysis(results_cache, tmp_path):
    return store_synthetic_analysis(results_cache, tmp_path / "data")


def as_json(fig) -> dict:
    return json.loads(plotly.io.to_json(fig))


def apply_patch(figure: dict, patch: Patch) -> dict:
    """The figure after the page applies ``patch``, as dash-renderer does: Assign = assocPath,
    Delete = dissocPath (an array item is removed), Insert = insert into the array there."""
    figure = copy.deepcopy(figure)
    for operation in json.loads(plotly.io.to_json(patch))["operations"]:
        kind, location = operation["operation"], operation["location"]
        if kind == "Insert":
            location = location + [None]
        *path, last = location
        node = figure
        for key in path:
            node = node[key]
        if kind == "Assign":
            node[last] = operation["params"]["value"]
        elif kind == "Delete" and isinstance(node, list):
            del node[last]
        elif kind == "Delete":
            node.pop(last, None)
        elif kind == "Insert":
            node.insert(operation["params"]["index"], operation["params"]["value"])
        else:
            raise AssertionError(f"unexpected patch operation {kind}")
    return figure


@pytest.mark.parametrize("colour", ["label", "correct", "cluster"])
def test_scatter_patch_gives_the_full_figure_of_the_new_selection(results_cache, analysis, colour):
    before, after, cleared = {"inputs": [0, 5, 7, 150]}, {"inputs": list(range(3, 300, 4))}, None
    old = as_json(scatter.scatter_view(results_cache, analysis, "conv_2", "mean", "pca", colour,
                                       before)[0])
    for new in (after, cleared, before):  # change, clear, and back from nothing selected
        patch = scatter.scatter_selection(results_cache, analysis, "conv_2", "mean", colour, new)
        full = as_json(scatter.scatter_view(results_cache, analysis, "conv_2", "mean", "pca",
                                            colour, new)[0])
        patched = apply_patch(old, patch)
        assert patched == full
        old = patched
    assert all("selectedpoints" not in trace for trace in
               apply_patch(old, scatter.scatter_selection(results_cache, analysis, "conv_2", "mean",
                                                          colour, cleared))["data"])


def test_scatter_sends_a_patch_only_for_the_figure_on_the_page(results_cache, analysis):
    chosen = {"inputs": [1, 2, 3]}
    fig, note, status, disabled, drawn = scatter.scatter_update(
        results_cache, analysis, "conv_2", "mean", "pca", "label", None)
    assert isinstance(fig, go.Figure) and disabled and drawn == [analysis["key"], "conv_2", "mean",
                                                                 "pca", "label"]
    outputs = scatter.scatter_update(results_cache, analysis, "conv_2", "mean", "pca", "label",
                                     chosen, drawn=drawn, selection_only=True)
    assert isinstance(outputs[0], Patch) and all(o is no_update for o in outputs[1:])
    # Another colour, another layer, or a selection that came with other changes: a full figure.
    for args, only in ((("conv_2", "mean", "pca", "correct"), True),
                       (("conv_1", "mean", "pca", "label"), True),
                       (("conv_2", "mean", "pca", "label"), False)):
        outputs = scatter.scatter_update(results_cache, analysis, *args, chosen, drawn=drawn,
                                         selection_only=only)
        assert isinstance(outputs[0], go.Figure) and outputs[4][1:] == list(args)
    # PCA drawn while t-SNE is computed; once t-SNE is cached the next selection redraws.
    pending = scatter.scatter_update(results_cache, analysis, "conv_2", "mean", "tsne", "label", None)
    assert pending[4][3] == "pca" and pending[3] is False
    assert isinstance(scatter.scatter_update(results_cache, analysis, "conv_2", "mean", "tsne",
                                             "label", chosen, drawn=pending[4],
                                             selection_only=True)[0], Patch)
    sessions.open(results_cache, analysis["key"]).projection("conv_2", "mean", "tsne")
    swapped = scatter.scatter_update(results_cache, analysis, "conv_2", "mean", "tsne", "label",
                                     chosen, drawn=pending[4], selection_only=True)
    assert isinstance(swapped[0], go.Figure) and "t-SNE" in swapped[0].layout.title.text


def test_scatter_figure_holds_only_values_plotly_accepts():
    rng = np.random.default_rng(0)
    n = 500
    labels = rng.integers(0, 4, n)
    labels[labels == 2] = 3  # a class without members draws no trace
    fig = scatter_figure(rng.standard_normal((n, 2)), labels, ["a", "b", "c", "d"],
                         [f"#{i}" for i in range(n)], selected=[1, 2, 3], title="t")
    validated = go.Figure(fig.to_dict())  # plotly's validation of every property
    assert as_json(validated) == as_json(fig)
    assert [trace.name for trace in fig.data] == ["a", "b", "d"]


@pytest.mark.parametrize("n, window", [(300, None), (2000, None), (2000, [40, 700])])
@pytest.mark.parametrize("criterion", ["f_stat", "variance"])
def test_heatmap_columns_and_selected_columns_equal_the_one_shot_heatmap(n, window, criterion):
    rng = np.random.default_rng(n)
    acts = rng.standard_normal((n, 24)).astype(np.float32)
    labels = rng.integers(0, 5, n)
    order = views.heatmap_order(acts, labels)
    selection = sorted(rng.choice(n, n // 9, replace=False).tolist())
    whole = views.heatmap_data(acts, labels, order, criterion, 8, selection, window=window)
    columns = views.heatmap_columns(acts, labels, order, criterion, 8, window=window)
    assert "selected" not in columns
    np.testing.assert_array_equal(views.selected_columns(order, columns, selection),
                                  whole["selected"])
    for name, value in columns.items():
        np.testing.assert_array_equal(value, whole[name])
    assert not views.selected_columns(order, columns, None).any()


def test_heatmap_view_from_memo_equals_a_fresh_one(results_cache, tmp_path):
    big = store_synthetic_analysis(results_cache, tmp_path / "big", n=1200, channels=64,
                                   n_classes=10, write_images=False, seed=4)
    first, second = {"inputs": list(range(0, 1200, 5))}, {"inputs": [3, 4, 900]}
    heatmap.heatmap_view(results_cache, big, "conv_2", "mean", "f_stat", 10, first)  # memoises
    memoised = heatmap.heatmap_view(results_cache, big, "conv_2", "mean", "f_stat", 10, second)
    session = sessions.open(results_cache, big["key"])
    fresh = views.heatmap_data(session.acts("conv_2", "mean"), session.labels,
                               session.heatmap_order("conv_2", "mean"), "f_stat", 10, second[
                                   "inputs"])
    assert memoised[0].data[1].z is not None  # the dimming overlay of the new selection
    np.testing.assert_array_equal(np.asarray(memoised[0].data[1].z)[0], ~fresh["selected"])
    assert session.has("heatmap", "conv_2", "mean", "f_stat", 10, views.MAX_HEATMAP_COLUMNS, "all")


def test_details_from_the_channel_memo_equal_the_layer(results_cache, analysis):
    chosen = {"inputs": [4], "focus": 4, "channel": 2, "layer": "conv_2"}
    fig, thumbs, note = details.details_view(results_cache, analysis, "conv_2", "mean", chosen)
    session = sessions.open(results_cache, analysis["key"])
    values = session.acts("conv_2", "mean")[:, 2]
    memo = views.channel_details(session, "conv_2", "mean", 2)
    np.testing.assert_array_equal(memo["values"], values)
    np.testing.assert_array_equal(memo["top"], views.top_inputs(values, 9))
    assert memo["thumbnails"] == [session.thumbnail(i) for i in memo["top"]]
    shown = np.concatenate([np.asarray(trace.x) for trace in fig.data])
    assert np.isclose(np.sort(shown), np.sort(values)).all()
    assert fig.layout.shapes[0].x0 == pytest.approx(float(values[4]))
    assert [thumb.children[0].src for thumb in thumbs] == memo["thumbnails"]
    # A channel past the layer's last one asks for a pick instead of failing.
    _, thumbs, note = details.details_view(results_cache, analysis, "conv_2", "mean",
                                           dict(chosen, channel=10_000))
    assert thumbs == [] and note == details.PICK


def test_matrix_and_details_figures_hold_only_values_plotly_accepts():
    """They are assembled without re-validating (for speed): plotly's own validation of the
    same dict must give the same figure."""
    from figures.details import distribution_figure
    from figures.matrix import class_matrix_figure, heatmap_figure, jaccard_figure

    rng = np.random.default_rng(1)
    names = [f"class {i}" for i in range(4)]
    block_labels = np.sort(rng.integers(0, 4, 60))
    values = rng.integers(0, 255, (6, 30)).astype(np.uint8)
    figures = [
        jaccard_figure(rng.integers(0, 255, (60, 60)).astype(np.uint8), block_labels, names,
                       np.arange(60) % 4 == 0, title="j"),
        class_matrix_figure(rng.random((4, 4)), names),
        heatmap_figure(values, 0.0, 1.0, np.arange(6), np.arange(30), np.sort(rng.integers(0, 4, 30)),
                       names, rng.random(6), "F", np.arange(30) % 3 == 0, title="h",
                       raw=values.astype(np.float32), column_names=[f"f{i}" for i in range(30)]),
        distribution_figure(rng.random(200), rng.integers(0, 4, 200), names, 0.5, title="d"),
    ]
    for fig in figures:
        assert as_json(go.Figure(fig.to_dict())) == as_json(fig)
    assert figures[3].layout.shapes[0].x0 == 0.5 and figures[2].layout.xaxis2.anchor == "y2"


def test_scatter_and_jaccard_callbacks_answer_a_selection_change_with_a_patch(tmp_path):
    """Through Dash's own request handling: ``changedPropIds`` decides the path."""
    from app import create_app
    from app.config import Config
    from layouts import ids

    app = create_app(Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path / "user"),
                            warm_umap=False))
    summary = store_synthetic_analysis(app.results, str(tmp_path / "data"), n=60,
                                       write_images=False)

    def post(figure_id, selection, drawn, changed):
        output = next(name for name in app.callback_map if f"{figure_id}.figure" in name)
        spec = app.callback_map[output]
        values = {ids.ANALYSIS: summary, ids.LAYER: "conv_2", ids.SUMMARY: "mean",
                  ids.SCATTER_METHOD: "pca", ids.SCATTER_COLOUR: "label", ids.SELECTION: selection,
                  ids.PROJECTION_POLL: 0, ids.PROJECTION_REQUEST: None, ids.SCATTER_DRAWN: drawn,
                  ids.JACCARD_RULE: "topk", ids.JACCARD_VALUE: 0.1, ids.JACCARD_DRAWN: drawn}
        body = {"output": output,
                "outputs": [{"id": o.component_id, "property": o.component_property}
                            for o in spec["output"]],
                "inputs": [dict(i, value=values[i["id"]]) for i in spec["inputs"]],
                "state": [dict(s, value=values[s["id"]]) for s in spec["state"]],
                "changedPropIds": changed}
        answer = app.server.test_client().post("/_dash-update-component", json=body)
        assert answer.status_code == 200
        return answer.get_json()["response"]

    chosen, only_selection = {"inputs": [1, 2, 30]}, [f"{ids.SELECTION}.data"]
    for figure_id, drawn_id in ((ids.SCATTER, ids.SCATTER_DRAWN),
                                (ids.JACCARD_MATRIX, ids.JACCARD_DRAWN)):
        first = post(figure_id, None, None, [f"{ids.ANALYSIS}.data"])
        drawn = first[drawn_id]["data"]
        assert "data" in first[figure_id]["figure"] and drawn[0] == summary["key"]
        patched = post(figure_id, chosen, drawn, only_selection)
        assert patched[figure_id]["figure"]["__dash_patch_update"]
        assert set(patched) <= {figure_id, drawn_id}  # notes, class figure, status: unchanged
        both = post(figure_id, chosen, drawn, only_selection + [f"{ids.LAYER}.value"])
        assert "data" in both[figure_id]["figure"]  # another change came with it: a full figure


def test_jaccard_patch_gives_the_full_matrix_of_each_new_selection(results_cache, tmp_path):
    big = store_synthetic_analysis(results_cache, tmp_path / "big", n=900, channels=64,
                                   n_classes=6, write_images=False, seed=5)
    args = (results_cache, big, "conv_2", "mean", "topk", 0.1)
    page = list(jaccard.jaccard_update(*args, None))
    figure = as_json(page[0])
    assert len(figure["data"]) == 2 and page[3][-1] is False  # nothing dimmed yet
    # Select, select others, clear, clear again, select: each step patched, as a rebuild draws it.
    for chosen in ({"inputs": [1, 2, 700]}, {"inputs": list(range(0, 900, 11))}, None, None,
                   {"inputs": [5]}):
        matrix, classes, note, drawn = jaccard.jaccard_update(*args, chosen, page[3], True)
        assert classes is no_update and note is no_update
        full = jaccard.jaccard_update(*args, chosen)
        if matrix is not no_update:
            assert isinstance(matrix, Patch)
            figure = apply_patch(figure, matrix)
        assert figure == as_json(full[0]) and drawn == full[3]
        page[3] = drawn
    # Another rule value on the page: a full figure.
    other = jaccard.jaccard_update(results_cache, big, "conv_2", "mean", "topk", 0.2,
                                   {"inputs": [3]}, page[3], True)
    assert isinstance(other[0], go.Figure) and other[3][4] == 0.2
