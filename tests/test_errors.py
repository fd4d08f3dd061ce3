"""One error path: a UserError becomes the failed panel's message, anything else an internal-error
notice whose id is in the log; small and odd data sets get words, never an exception."""

from __future__ import annotations

import json
import logging
import os
import re

import numpy as np
import pytest
from PIL import Image

from analysis import pipeline
from analysis.errors import UserError
from app import create_app
from app.config import Config
from callbacks import channels, details, errors, graph, heatmap, hierarchy, jaccard, mislabel, scatter
from callbacks import selection as selection_callbacks
from layouts import ids
from tests.helpers import make_image, store_synthetic_analysis

HEATMAP_INPUTS = [(ids.ANALYSIS, "data"), (ids.LAYER, "value"), (ids.SUMMARY, "value"),
                  (ids.HEATMAP_CRITERION, "value"), (ids.HEATMAP_K, "value"), (ids.SELECTION, "data"),
                  (ids.HEATMAP_ZOOM, "data")]


@pytest.fixture()
def app(tmp_path):
    return create_app(Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path / "user"),
                             warm_umap=False))


def post_heatmap(app, analysis):
    """Run the heatmap callback through Dash's HTTP endpoint, as the page does."""
    values = [analysis, "conv_2", "mean", "f_stat", 10, None, None]
    body = {
        "output": f"..{ids.HEATMAP}.figure...{ids.HEATMAP_NOTE}.children..",
        "outputs": [{"id": ids.HEATMAP, "property": "figure"},
                    {"id": ids.HEATMAP_NOTE, "property": "children"}],
        "inputs": [{"id": i, "property": p, "value": v} for (i, p), v in zip(HEATMAP_INPUTS, values)],
        "changedPropIds": [f"{ids.ANALYSIS}.data"], "state": [],
    }
    response = app.server.test_client().post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:500]
    return json.loads(response.data)["response"]


def annotation_text(figure: dict) -> str:
    return " ".join(a["text"] for a in figure["layout"].get("annotations", []))


def test_user_error_in_a_view_becomes_that_panels_message(app, tmp_path):
    good = store_synthetic_analysis(app.results, tmp_path / "data", write_images=False)
    shown = post_heatmap(app, good)[ids.HEATMAP]["figure"]
    assert shown["data"]  # a real heatmap first
    gone = dict(good, key="not-in-the-cache")
    response = post_heatmap(app, gone)
    figure = response[ids.HEATMAP]["figure"]
    assert figure["data"] == []  # the old heatmap does not stay on screen
    assert "no longer in the cache" in annotation_text(figure)
    assert response[ids.HEATMAP_NOTE]["children"] is None


def test_other_errors_become_an_internal_error_notice_with_an_id_in_the_log(app, tmp_path,
                                                                             monkeypatch, caplog):
    analysis = store_synthetic_analysis(app.results, tmp_path / "data", write_images=False)

    def broken(*args):
        return 1 / 0

    monkeypatch.setattr(heatmap, "heatmap_view", broken)
    with caplog.at_level(logging.ERROR, logger=errors.log.name):
        response = post_heatmap(app, analysis)
    text = annotation_text(response[ids.HEATMAP]["figure"])
    found = re.search(r"Internal error \(id ([0-9a-f]{8})\)", text)
    assert found, text
    logged = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info[0] is ZeroDivisionError  # with its traceback


def test_panel_outputs_put_the_message_once_and_leave_stores_alone():
    outputs = [{"id": "a", "property": "figure"}, {"id": "b", "property": "children"},
               {"id": "c", "property": "data"}, [{"id": {"type": "x", "index": 1}, "property": "n"}]]
    figure, note, store, pattern = errors.panel_outputs(outputs, "too few images")
    assert "too few images" in figure.layout.annotations[0].text and note is None
    assert store is errors.no_update and pattern == [errors.no_update]
    assert errors.panel_outputs({"id": "t", "property": "children"}, "msg") == "msg"


def test_a_replaced_figure_clears_what_it_was_drawn_from():
    from layouts import ids
    outputs = [{"id": ids.SCATTER, "property": "figure"}, {"id": ids.SCATTER_DRAWN, "property": "data"},
               {"id": ids.JACCARD_DRAWN, "property": "data"}]
    figure, drawn, other = errors.panel_outputs(outputs, "failed")
    assert "failed" in figure.layout.annotations[0].text
    assert drawn is None and other is None  # the next selection redraws instead of patching a blank figure
    assert errors.message_of(UserError("say this")) == "say this"


# ---- small and odd data through every view -------------------------------------------------------

def write_folder(root, classes, per_class, seed=0):
    rng = np.random.default_rng(seed)
    kinds = ("circle", "square", "stripes")
    for c, name in enumerate(classes):
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(make_image(kinds[(c + i) % 3], rng)).save(root / name / f"{i}.png")
    return str(root)


@pytest.fixture(scope="module")
def ten_way_model(tmp_path_factory, keras_mod):
    keras = keras_mod
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    path = tmp_path_factory.mktemp("ten") / "ten_way.keras"
    keras.Model(inp, out).save(path)
    return str(path)


def every_view(cache, analysis):
    """Each view callback body as the page calls it; returns what each gave (or raised)."""
    layer = analysis["default_layer"]
    picked = {"inputs": [0], "focus": 0, "layer": layer, "channel": 0, "source": "heatmap"}
    calls = {
        "scatter": lambda: scatter.scatter_view(cache, analysis, layer, "mean", "pca", "label", picked),
        "scatter clusters": lambda: scatter.scatter_view(cache, analysis, layer, "mean", "pca",
                                                         "cluster", None),
        "scatter predicted": lambda: scatter.scatter_view(cache, analysis, layer, "mean", "pca",
                                                          "predicted", None),
        "graph": lambda: graph.graph_view(cache, analysis, layer, True),
        "jaccard": lambda: jaccard.jaccard_view(cache, analysis, layer, "mean", "topk", 0.1, picked),
        "heatmap": lambda: heatmap.heatmap_view(cache, analysis, layer, "mean", "f_stat", 40, picked),
        "heatmap selection": lambda: heatmap.heatmap_view(cache, analysis, layer, "mean", "selection",
                                                          40, picked),
        "details": lambda: details.details_view(cache, analysis, layer, "mean", picked),
        "selection": lambda: selection_callbacks.selection_text(cache, analysis, picked),
        "mislabel": lambda: mislabel.mislabel_rows(cache, analysis),
        "tree": lambda: hierarchy.tree_view(cache, analysis, layer, "mean"),
        "subclasses": lambda: hierarchy.subclass_view(cache, analysis, layer, 0, "mean"),
        "separability": lambda: hierarchy.separability_view(cache, analysis),
        "channels": lambda: channels.channel_table(cache, analysis, layer),
    }
    results = {}
    for name, call in calls.items():
        try:
            results[name] = call()
        except UserError as error:  # the on_error path: shown in words in the panel
            results[name] = error
    return results


@pytest.mark.parametrize("classes, per_class", [
    ([f"breed_{i:02d}" for i in range(19)], 1),  # 19 classes x 1 image
    (["cats", "dogs"], 3),                         # 2 folders against a 10-way model
])
def test_small_and_odd_sets_get_words_in_every_view_not_exceptions(tmp_path, results_cache,
                                                                    ten_way_model, classes, per_class):
    data = write_folder(tmp_path / "images", classes, per_class)
    roots = [str(tmp_path), os.path.dirname(ten_way_model)]
    analysis = pipeline.run(pipeline.Request(model=ten_way_model, data=data), data_roots=roots,
                            model_roots=roots, cache=results_cache, n_threads=1)
    results = every_view(results_cache, analysis)
    for name, result in results.items():
        if isinstance(result, UserError):
            assert len(str(result)) > 10, name  # a sentence, not a code
    worded = [name for name, r in results.items() if isinstance(r, UserError)]
    assert "scatter" not in worded and "details" not in worded and "heatmap" not in worded
    if per_class == 1:
        note = results["heatmap"][1]
        assert "sorted by variance instead" in note  # F needs more inputs than classes
        assert "separability" in worded
