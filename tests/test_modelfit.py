"""The folder's classes against the model's outputs: matching, mismatched, headless, empty classes."""

import os
import shutil

import numpy as np
import pytest

from analysis import modelfit, pipeline, store
from analysis.errors import NotEnoughData
from analysis.pipeline import AnalysisError, Request


def test_compare_match_mismatch_headless_and_empty():
    names = ["cat", "dog", "fox"]
    labels = np.array([0, 0, 1, 1])
    match = modelfit.compare(names, labels, 3)
    assert match["status"] == "match" and match["accuracy"] and match["views_off"] == []
    assert match["empty_classes"] == ["fox"] and "fox" in match["notice"]
    assert modelfit.compare(names, [0, 1, 2], 3)["notice"] is None

    mismatch = modelfit.compare(names, [0, 1, 2], 10)
    assert mismatch["status"] == "mismatch" and not mismatch["accuracy"]
    assert "10 outputs but the folder has 3 classes" in mismatch["notice"]
    assert "confusion matrix" in mismatch["notice"] and "confusion matrix" in mismatch["views_off"]

    headless = modelfit.compare(names, [0, 1, 2], None)
    assert headless["status"] == "headless" and "no class output" in headless["notice"]


def test_fewer_than_two_classes_with_images_is_a_clear_message():
    with pytest.raises(NotEnoughData, match=r"only 'cat' has images.*\(empty: dog, fox\)"):
        modelfit.require_classes(["cat", "dog", "fox"], [0, 0, 0])
    with pytest.raises(NotEnoughData, match="no class has images"):
        modelfit.require_classes(["cat"], [])


@pytest.fixture()
def roots(tmp_path, tiny_model_file):
    return [str(tmp_path), os.path.dirname(tiny_model_file)]


def run(request, roots, cache):
    return pipeline.run(request, data_roots=roots, model_roots=roots, cache=cache, n_threads=1)


def test_two_folders_against_a_three_way_model_run_with_a_notice(image_folder, tiny_model_file, roots,
                                                                  results_cache):
    shutil.rmtree(os.path.join(image_folder, sorted(os.listdir(image_folder))[-1]))
    summary = run(Request(model=tiny_model_file, data=image_folder, batch_size=8), roots, results_cache)
    assert summary["n"] == 10 and len(summary["classes"]) == 2
    assert not summary["accuracy_views"]
    assert "3 outputs but the folder has 2 classes" in summary["notice"]
    cached = run(Request(model=tiny_model_file, data=image_folder, batch_size=8), roots, results_cache)
    assert cached["from_cache"] and cached["notice"] == summary["notice"]


def test_matching_folder_has_accuracy_views_and_reports_an_empty_class(image_folder, tiny_model_file,
                                                                      roots, results_cache):
    summary = run(Request(model=tiny_model_file, data=image_folder, batch_size=8), roots, results_cache)
    assert summary["accuracy_views"] and summary["notice"] is None
    last = sorted(os.listdir(image_folder))[-1]
    for name in os.listdir(os.path.join(image_folder, last)):
        os.remove(os.path.join(image_folder, last, name))
    summary = run(Request(model=tiny_model_file, data=image_folder, batch_size=8), roots, results_cache)
    assert summary["accuracy_views"]  # three folders, three outputs
    assert f"no images: {last}" in summary["notice"]


def test_one_class_with_images_is_refused_before_the_model_loads(image_folder, tiny_model_file, roots,
                                                                 results_cache):
    classes = sorted(os.listdir(image_folder))
    for name in classes[1:]:
        shutil.rmtree(os.path.join(image_folder, name))
        os.makedirs(os.path.join(image_folder, name))
    with pytest.raises(AnalysisError, match=f"only '{classes[0]}' has images"):
        run(Request(model=tiny_model_file, data=image_folder), roots, results_cache)


def test_headless_model_runs_with_a_notice(keras_mod, image_folder, tmp_path, results_cache):
    keras = keras_mod
    inp = keras.Input((16, 16, 3))
    out = keras.layers.Conv2D(4, 3, name="features")(keras.layers.Conv2D(4, 3, name="stem")(inp))
    path = str(tmp_path / "headless.keras")
    keras.Model(inp, out).save(path)
    roots = [str(tmp_path)]
    summary = run(Request(model=path, data=image_folder, batch_size=8), roots, results_cache)
    assert summary["layers"] == ["stem", "features"] and not summary["accuracy_views"]
    assert "no class output" in summary["notice"]


def test_the_notice_is_in_the_status_line():
    from callbacks.extraction import status_text
    summary = {"n": 10, "classes": ["a", "b"], "layers": ["c"], "model": "m.keras", "from_cache": False,
               "seconds": 1.0, "skipped": 0, "bad": 0,
               "notice": modelfit.compare(["a", "b"], [0, 1], 10)["notice"]}
    assert "10 outputs but the folder has 2 classes" in status_text(summary)


def test_order_hint_speaks_only_for_a_clear_permutation():
    names = ["a", "b", "c"]
    labels = np.repeat([0, 1, 2], 10)
    assert modelfit.order_hint(names, labels, labels) is None  # right order
    shifted = (labels + 1) % 3
    hint = modelfit.order_hint(names, labels, shifted)
    assert "0% accurate" in hint and "100% if" in hint and "output 0: c, a, b" in hint
    noisy = np.random.default_rng(0).integers(0, 3, len(labels))  # a poor model: no order helps
    assert modelfit.order_hint(names, labels, noisy) is None
    # one image per class: a swap of two is no evidence of another order
    assert modelfit.order_hint(names, [0, 1, 2], [1, 2, 0]) is None


def test_permuted_class_folders_get_the_order_to_write(keras_mod, tmp_path, results_cache):
    from tests.helpers import matched_filter, write_image_folder

    path = str(tmp_path / "model.keras")
    matched_filter(keras_mod, "raw", rescaling=True).save(path)  # outputs: circle, square, stripes
    folder = write_image_folder(tmp_path / "images")
    os.rename(os.path.join(folder, "circle"), os.path.join(folder, "wheel"))  # sorts last now
    roots = [str(tmp_path)]
    summary = run(Request(model=path, data=folder), roots, results_cache)
    assert "0% accurate" in summary["notice"] and "output 0: wheel, square, stripes" in summary["notice"]
    with open(os.path.join(folder, "classes.txt"), "w") as handle:
        handle.write("wheel\nsquare\nstripes\n")
    fixed = run(Request(model=path, data=folder), roots, results_cache)
    assert not fixed["notice"]
    meta = store.load_meta(results_cache, fixed["key"])
    assert np.mean(np.asarray(meta["top_classes"])[:, 0] == np.asarray(meta["labels"])) == 1.0
