"""``auto`` preprocessing for a model file without a Rescaling layer: the pixel scaling under
which the model is most accurate on a sample of the folder (when it clearly beats raw pixels),
said in the status line; raw pixels for a model that scales its input itself."""

import numpy as np
import pytest

from analysis import datasets, extraction, pipeline, store
from analysis.pipeline import Request
from tests.helpers import CLASSES, matched_filter, templates, write_image_folder

SIZE = 16  # the helpers' image side


@pytest.mark.parametrize("expects,rescaling", [("unit", False), ("raw", False), ("raw", True)],
                         ids=["expects-0..1", "expects-0..255", "has-rescaling"])
def test_auto_picks_the_scaling_the_model_works_with(keras_mod, tmp_path, results_cache, expects,
                                                     rescaling):
    expected = expects
    path = str(tmp_path / "model.keras")
    matched_filter(keras_mod, expects, rescaling).save(path)
    folder = write_image_folder(tmp_path / "images")
    roots = [str(tmp_path)]
    summary = pipeline.run(Request(model=path, data=folder), data_roots=roots, model_roots=roots,
                           cache=results_cache, n_threads=1)
    meta = store.load_meta(results_cache, summary["key"])
    assert meta["preprocess"] == expected
    accuracy = np.mean(np.asarray(meta["top_classes"])[:, 0] == np.asarray(meta["labels"]))
    assert accuracy == 1.0  # the hand-set filter is right on every planted pattern
    if expected == "unit":
        assert "'unit'" in summary["notice"] and "Rescaling" in summary["notice"]
    else:
        assert not summary["notice"]


def test_an_explicit_choice_is_kept(keras_mod, tmp_path, results_cache):
    path = str(tmp_path / "model.keras")
    matched_filter(keras_mod, "unit").save(path)
    folder = write_image_folder(tmp_path / "images")
    roots = [str(tmp_path)]
    summary = pipeline.run(Request(model=path, data=folder, preprocess="raw"), data_roots=roots,
                           model_roots=roots, cache=results_cache, n_threads=1)
    meta = store.load_meta(results_cache, summary["key"])
    assert meta["preprocess"] == "raw" and not summary["notice"]
    accuracy = np.mean(np.asarray(meta["top_classes"])[:, 0] == np.asarray(meta["labels"]))
    assert accuracy == pytest.approx(1 / len(CLASSES))  # raw pixels blind it: one class for all


def test_no_better_than_naming_one_class_keeps_raw_pixels(keras_mod, tmp_path, results_cache):
    """A model that is always wrong with raw pixels (each pattern's filter sits on the next
    class's output) and names one class for every image with 0..1 pixels (a bias outweighs the
    filters then): 'unit' is more accurate than raw, but no better than naming one class, so
    raw pixels stay."""
    keras = keras_mod
    layers = keras.layers
    inp = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(3, SIZE, name="match")(inp)
    model = keras.Model(inp, layers.Activation("softmax")(layers.Flatten()(x)))
    shifted = np.roll(templates(), 1, axis=-1)  # output k holds the filter of class k - 1
    model.get_layer("match").set_weights([np.repeat(shifted[:, :, None, :] / 3, 3, axis=2),
                                          np.array([50.0, 0.0, 0.0], np.float32)])
    folder = write_image_folder(tmp_path / "images", per_class=12)
    scanned = datasets.scan_folder(folder)
    pixels = datasets.ImageBatches(scanned, (SIZE, SIZE), 3, "raw")[0:len(scanned)]
    truth = np.asarray(scanned.labels)
    np.testing.assert_array_equal(extraction.predicted_classes(model, pixels), (truth + 1) % 3)
    assert set(extraction.predicted_classes(model, pixels / 255.0).tolist()) == {0}
    path = str(tmp_path / "shifted.keras")
    model.save(path)
    summary = pipeline.run(Request(model=path, data=folder), data_roots=[str(tmp_path)],
                           model_roots=[str(tmp_path)], cache=results_cache, n_threads=1)
    assert store.load_meta(results_cache, summary["key"])["preprocess"] == "raw", summary["notice"]
