"""Models whose input leaves the size open (``keras.Input((None, None, 3))``): the size is
taken from the images, the model rebuilt at that size with the same weights, and the
analysis runs as for any model, with a notice saying which size was used."""

import os

import numpy as np
import pytest
from PIL import Image

from analysis import datasets, extraction, pipeline, store, stored_model
from analysis.errors import ExtractionError
from analysis.images import typical_size
from analysis.pipeline import Request
from tests.helpers import numpy_summaries

HEIGHT, WIDTH = 40, 48


def free_size_model(keras):
    """A fully convolutional classifier that takes any image size."""
    layers = keras.layers
    keras.utils.set_random_seed(21)
    inp = keras.Input((None, None, 3), name="photo")
    x = layers.Rescaling(1 / 255.0, name="scale")(inp)
    x = layers.Conv2D(6, 3, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Conv2D(8, 3, padding="same", name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="out")(x), name="free")


def nested_free_size_model(keras):
    """A transfer-style model around a nested base that takes any size."""
    layers = keras.layers
    keras.utils.set_random_seed(22)
    base = keras.Sequential([keras.Input((None, None, 3)), layers.Conv2D(4, 3, activation="relu", name="b1"),
                             layers.Conv2D(5, 3, name="b2")], name="base")
    inp = keras.Input((None, None, 3), name="photo")
    x = layers.GlobalMaxPooling2D(name="gmp")(base(inp))
    return keras.Model(inp, layers.Dense(2, name="head")(x), name="nested_free")


def write_sized_folder(root, sizes_per_class):
    rng = np.random.default_rng(5)
    for name, sizes in sizes_per_class.items():
        os.makedirs(root / name)
        for i, (height, width) in enumerate(sizes):
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return str(root)


def test_typical_size_is_the_median_scaled_into_bounds(tmp_path):
    folder = write_sized_folder(tmp_path / "a", {"x": [(40, 48)] * 3, "y": [(60, 80)] * 2})
    assert datasets.typical_size(datasets.scan_folder(folder)) == (40, 48)
    big = write_sized_folder(tmp_path / "b", {"x": [(2000, 1000)], "y": [(2000, 1000)]})
    assert datasets.typical_size(datasets.scan_folder(big)) == (512, 256)  # longer side 512
    tiny = write_sized_folder(tmp_path / "c", {"x": [(8, 4)], "y": [(8, 4)]})
    assert datasets.typical_size(datasets.scan_folder(tiny)) == (32, 16)  # shorter side 16
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert typical_size([str(broken)]) == (224, 224)
    assert typical_size([str(broken), os.path.join(folder, "x", "0.png")]) == (40, 48)


def test_fixed_model_keeps_names_and_weights_and_matches_the_original(keras_mod):
    keras = keras_mod
    for build in (free_size_model, nested_free_size_model):
        model = build(keras)
        assert extraction.free_input_size(model)
        with pytest.raises(ExtractionError, match="not fixed"):
            extraction.image_input_shape(model)
        fixed = extraction.fix_input_size(model, (HEIGHT, WIDTH))
        assert not extraction.free_input_size(fixed)
        assert extraction.image_input_shape(fixed) == (HEIGHT, WIDTH, 3)
        assert [layer.name for layer in fixed.layers] == [layer.name for layer in model.layers]
        assert extraction.conv_dense_layers(fixed) == extraction.conv_dense_layers(model)
        images = np.random.default_rng(1).uniform(0, 255, (3, HEIGHT, WIDTH, 3)).astype(np.float32)
        np.testing.assert_allclose(np.asarray(fixed(images)), np.asarray(model(images)), rtol=1e-5, atol=1e-6)
        # Every default layer, nested ones included, extracts in one pass at the fixed size.
        acts, _ = extraction.extract_all(fixed, images, batch_size=3)
        assert set(acts) == set(extraction.conv_dense_layers(model))
    assert extraction.fix_input_size(fixed, (8, 8)) is fixed  # already fixed: unchanged


def test_too_small_a_size_is_scaled_up_and_an_impossible_one_refused_in_words(keras_mod):
    keras = keras_mod
    inp = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(2, 9, name="wide")(keras.layers.Conv2D(2, 9, name="wide0")(inp))
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))
    fixed = extraction.fix_input_size(model, (10, 12))  # needs 17 px: twice the size runs
    assert extraction.image_input_shape(fixed) == (20, 24, 1)

    huge = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(1, 200)(inp)))
    with pytest.raises(ExtractionError, match="cannot run at 10 x 10 px .*nor at up to 16 times that: "
                                              "Computed output size would be zero or negative"):
        extraction.fix_input_size(huge, (10, 10))


def test_free_size_model_is_analysed_at_the_folders_size(keras_mod, tmp_path, results_cache):
    keras = keras_mod
    model = free_size_model(keras)
    path = str(tmp_path / "free.keras")
    model.save(path)
    folder = write_sized_folder(tmp_path / "images", {name: [(HEIGHT, WIDTH)] * 4 for name in "abc"})
    roots = [str(tmp_path)]
    summary = pipeline.run(Request(model=path, data=folder, batch_size=8), data_roots=roots,
                           model_roots=roots, cache=results_cache, n_threads=1)
    assert summary["n"] == 12 and summary["layers"] == ["conv1", "conv2", "out"]
    assert f"{HEIGHT} × {WIDTH} px" in summary["notice"] and "any input size" in summary["notice"]
    meta = store.load_meta(results_cache, summary["key"])
    assert list(meta["input_shape"]) == [HEIGHT, WIDTH, 3]

    # The stored summaries are those of the original (open-size) model on the same inputs.
    images = np.asarray(stored_model.stored_images(meta, np.arange(12))[0:12])
    maps = keras.Model(model.inputs, model.get_layer("conv2").output)([images])
    reference = numpy_summaries(np.asarray(maps))
    stored = store.load_layer(results_cache, summary["key"], "conv2")
    for name in meta["summaries"]:
        np.testing.assert_allclose(stored[name], reference[name], rtol=1e-3, atol=1e-4)

    # Loading the stored analysis's model again (channel maps) uses the same size.
    image, maps = stored_model.activation_maps(meta, "conv1", 5, n_threads=1)
    assert image.shape[:2] == (HEIGHT, WIDTH) and maps.shape == (HEIGHT - 2, WIDTH - 2, 6)


def channelless_cnn(keras, side):
    """A grayscale CNN whose input has no channel axis, as in many MNIST examples."""
    layers = keras.layers
    keras.utils.set_random_seed(23)
    inp = keras.Input((side, side), name="digits")
    x = layers.Reshape((side, side, 1), name="add_axis")(inp)
    x = layers.Conv2D(3, 3, activation="relu", name="conv")(x)
    x = layers.Flatten(name="flat")(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="out")(x))


def test_input_without_channel_axis_is_read_as_grayscale(keras_mod, tmp_path, results_cache):
    keras = keras_mod
    model = channelless_cnn(keras, 12)
    assert extraction.channelless_input(model) and not extraction.free_input_size(model)
    fixed = extraction.fix_input_size(model, None)
    assert extraction.image_input_shape(fixed) == (12, 12, 1)
    images = np.random.default_rng(2).uniform(0, 1, (3, 12, 12, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(fixed(images)), np.asarray(model(images[..., 0])), rtol=1e-5)

    path = str(tmp_path / "digits.keras")
    model.save(path)
    folder = write_sized_folder(tmp_path / "images", {name: [(12, 12)] * 3 for name in "abc"})
    roots = [str(tmp_path)]
    summary = pipeline.run(Request(model=path, data=folder, batch_size=4), data_roots=roots,
                           model_roots=roots, cache=results_cache, n_threads=1)
    assert "no channel axis" in summary["notice"] and "resized" not in summary["notice"]
    meta = store.load_meta(results_cache, summary["key"])
    assert list(meta["input_shape"]) == [12, 12, 1] and summary["accuracy_views"]


def test_a_channelless_input_that_is_not_an_image_is_refused_in_words(keras_mod):
    keras = keras_mod
    inp = keras.Input((16, 16))  # 16 steps of 16 features, read along the last axis
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Conv1D(4, 3, name="steps")(inp)))
    with pytest.raises(ExtractionError, match="without a channel axis"):
        extraction.fix_input_size(model, None)


def test_images_too_small_for_the_model_are_analysed_at_a_size_it_runs_at(keras_mod, tmp_path,
                                                                         results_cache):
    keras = keras_mod
    keras.utils.set_random_seed(24)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 9, activation="relu", name="wide0")(inp)
    x = keras.layers.Conv2D(4, 9, activation="relu", name="wide")(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(keras.layers.GlobalAveragePooling2D()(x))
    path = str(tmp_path / "wide.keras")
    keras.Model(inp, out).save(path)
    folder = write_sized_folder(tmp_path / "images", {name: [(16, 20)] * 3 for name in "abc"})
    roots = [str(tmp_path)]
    summary = pipeline.run(Request(model=path, data=folder, batch_size=4), data_roots=roots,
                           model_roots=roots, cache=results_cache, n_threads=1)
    assert "resized to 32 × 40 px, the folder's typical 16 × 20 scaled up" in summary["notice"]
    meta = store.load_meta(results_cache, summary["key"])
    assert list(meta["input_shape"]) == [32, 40, 3]
    _, maps = stored_model.activation_maps(meta, "wide", 0, n_threads=1)
    assert maps.shape == (32 - 16, 40 - 16, 4)
