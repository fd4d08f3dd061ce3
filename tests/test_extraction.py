"""Extraction core against a numpy reference on a real (tiny) Keras model."""

import numpy as np
import pytest

from analysis import extraction
from analysis.extraction import SUMMARIES, ExtractionError
from tests.helpers import numpy_summaries

REFERENCE_LAYERS = ["conv_a", "bn_a", "relu_a", "conv_b", "add", "conv_c", "concat", "pool",
                    "conv1d", "conv3d", "gap", "dense", "predictions"]


def full_maps(model, images, layers):
    import keras
    sub = keras.Model(model.inputs, [model.get_layer(name).output for name in layers])
    outputs = sub.predict_on_batch(images)
    if len(layers) == 1:
        outputs = [outputs]
    return dict(zip(layers, [np.asarray(m) for m in outputs]))


def test_every_summary_of_every_layer_type_matches_numpy(tiny_cnn, tiny_images):
    acts = extraction.extract(tiny_cnn, tiny_images, REFERENCE_LAYERS, SUMMARIES, batch_size=8)
    maps = full_maps(tiny_cnn, tiny_images, REFERENCE_LAYERS)
    for layer in REFERENCE_LAYERS:
        reference = numpy_summaries(maps[layer])
        for summary in SUMMARIES:
            got = acts[layer][summary]
            assert got.shape == (len(tiny_images), maps[layer].shape[-1]), (layer, summary)
            np.testing.assert_allclose(got, reference[summary], rtol=1e-4, atol=1e-4,
                                       err_msg=f"{layer}/{summary}")


def test_l2_is_root_of_sum_of_squares_not_spectral_norm(tiny_cnn, tiny_images):
    acts = extraction.extract(tiny_cnn, tiny_images[:4], ["conv_a"], ["l2"], batch_size=4)
    maps = full_maps(tiny_cnn, tiny_images[:4], ["conv_a"])["conv_a"]
    expected = np.sqrt((maps ** 2).sum(axis=(1, 2)))
    np.testing.assert_allclose(acts["conv_a"]["l2"], expected, rtol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 5, 37, 64])
def test_batch_size_and_ragged_last_batch_do_not_change_results(tiny_cnn, tiny_images, batch_size):
    reference = extraction.extract(tiny_cnn, tiny_images, ["conv_c", "dense"], batch_size=37)
    acts = extraction.extract(tiny_cnn, tiny_images, ["conv_c", "dense"], batch_size=batch_size)
    for layer in reference:
        for summary in SUMMARIES:
            np.testing.assert_allclose(acts[layer][summary], reference[layer][summary],
                                       rtol=1e-5, atol=1e-5)


def test_one_forward_pass_per_batch_serves_every_layer(keras_mod, tiny_images):
    keras = keras_mod
    from keras import layers

    class CountingLayer(layers.Layer):
        """Identity that counts how many times the graph really runs."""

        def build(self, input_shape):
            self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                         name="calls")

        def call(self, x):
            self.calls.assign_add(1.0)
            return x

    inp = keras.Input((16, 16, 3))
    counted = CountingLayer(name="counter")(inp)
    a = layers.Conv2D(4, 3, name="c1")(counted)
    b = layers.Conv2D(4, 3, name="c2")(a)
    out = layers.Dense(2, name="out")(layers.GlobalAveragePooling2D()(b))
    model = keras.Model(inp, out)
    extractor = extraction.Extractor(model, ["c1", "c2", "out"])
    acts, probs = extraction.extract_all(model, tiny_images, batch_size=8, extractor=extractor)
    batches = int(np.ceil(len(tiny_images) / 8))
    assert extractor.forward_passes == batches
    assert float(model.get_layer("counter").calls.numpy()) == batches
    assert set(acts) == {"c1", "c2", "out"}
    assert probs.shape == (len(tiny_images), 2)


def test_predictions_are_probabilities_with_top5(tiny_cnn, tiny_images):
    _, probs = extraction.extract_all(tiny_cnn, tiny_images, ["dense"], batch_size=16)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, tiny_cnn.predict_on_batch(tiny_images), rtol=1e-4, atol=1e-6)
    classes, top = extraction.top_predictions(probs, 5)
    assert classes.shape == (37, 3)  # only 3 classes exist
    assert np.all(np.diff(top, axis=1) <= 0)
    np.testing.assert_array_equal(classes[:, 0], probs.argmax(axis=1))


def test_logits_are_turned_into_probabilities():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]], np.float32)
    probs = extraction.to_probabilities(logits)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-6)


def test_p90_above_the_position_cap_uses_strided_positions(keras_mod):
    from keras import ops
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 20, 20, 5)).astype(np.float32)  # 400 positions
    got = extraction.summarise(ops.convert_to_tensor(maps), ["p90"], p90_max_positions=100)["p90"]
    flat = maps.reshape(3, 400, 5)[:, ::4, :]
    np.testing.assert_allclose(np.asarray(got), np.percentile(flat, 90, axis=1), rtol=1e-5)
    exact = extraction.summarise(ops.convert_to_tensor(maps), ["p90"], p90_max_positions=400)["p90"]
    np.testing.assert_allclose(np.asarray(exact), np.percentile(maps.reshape(3, 400, 5), 90, axis=1),
                               rtol=1e-5)


def test_default_layers_are_conv_and_dense(tiny_cnn):
    # conv_a -> bn_a -> relu_a is one block, served by its activation's output;
    # conv_b feeds a residual Add and stays itself.
    assert extraction.conv_dense_layers(tiny_cnn) == [
        "relu_a", "conv_b", "conv_c", "conv1d", "conv3d", "dense", "predictions"]
    every = extraction.channel_layers(tiny_cnn)
    assert "bn_a" in every and "add" in every and "pool" in every
    assert "image" not in every and "as_sequence" not in every and "flat1d" not in every


def test_unknown_layer_error_lists_valid_layers(tiny_cnn):
    with pytest.raises(ExtractionError, match="valid layers: .*conv_a"):
        extraction.Extractor(tiny_cnn, ["nope"])
    with pytest.raises(ExtractionError, match="allowed: mean"):
        extraction.Extractor(tiny_cnn, ["conv_a"], ["median"])


def test_model_without_image_input_is_refused(keras_mod):
    keras = keras_mod
    inp = keras.Input((10,))
    model = keras.Model(inp, keras.layers.Dense(3)(inp))
    with pytest.raises(ExtractionError, match="image input"):
        extraction.image_input_shape(model)


def test_describe_layers_gives_the_graph(tiny_cnn):
    info = {row["name"]: row for row in extraction.describe_layers(tiny_cnn, ["conv_a"])}
    assert info["add"]["inbound"] == ["relu_a", "conv_b"]
    assert info["add"]["type"] == "Add"
    assert info["conv_a"]["extracted"] and not info["conv_b"]["extracted"]
    assert info["conv_a"]["output_shape"] == [16, 16, 8] and info["conv_a"]["channels"] == 8


def test_activation_maps_for_one_image(tiny_cnn, tiny_images):
    maps = extraction.activation_maps(tiny_cnn, tiny_images[0], "conv_c")
    assert maps.shape == (16, 16, 4)
    acts = extraction.extract(tiny_cnn, tiny_images[:1], ["conv_c"], ["mean"], batch_size=1)
    np.testing.assert_allclose(maps.mean(axis=(0, 1)), acts["conv_c"]["mean"][0], rtol=1e-5)


def test_not_a_keras_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_text("this is not a zip archive")
    with pytest.raises(ExtractionError, match="Could not load"):
        extraction.load_model_file(str(bad))
    with pytest.raises(ExtractionError, match="not a .keras or .h5 file"):
        extraction.load_model_file(str(tmp_path / "model.pt"))
    (tmp_path / "model.h5").write_text("not HDF5")
    with pytest.raises(ExtractionError, match="Could not read"):
        extraction.load_model_file(str(tmp_path / "model.h5"))


def test_application_without_local_weights_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ExtractionError, match="never downloads"):
        extraction.load_application("vgg16")
    with pytest.raises(ExtractionError, match="Unknown model"):
        extraction.load_application("alexnet")


@pytest.mark.parametrize("shape, nonnegative", [
    ((2, 16, 16, 64), True),     # ReLU output: fraction > 0 from sign(x); TensorFlow's reductions
    ((2, 16, 16, 64), False),    # signed map: fraction > 0 from x > 0
    ((2, 128, 128, 8), True),    # 16,384 positions: products with ones and max pooling
    ((2, 128, 128, 8), False),
    ((3, 40, 5), False),         # 1-D map (Conv1D)
    ((4, 7), False),             # dense layer: one position per channel
])
def test_the_four_cheap_summaries_equal_numpy(keras_mod, shape, nonnegative):
    from keras import ops
    from analysis import reductions
    assert (np.prod(shape[1:-1]) >= reductions.LARGE_MAP_POSITIONS) == (shape[1] == 128)
    rng = np.random.default_rng(1)
    maps = (rng.normal(size=shape) * rng.uniform(0.1, 10, shape[-1])).astype(np.float32)
    if nonnegative:
        maps = np.maximum(maps, 0)
    maps.flat[:: 7] = 0.0  # exact zeros count as not positive
    names = ["mean", "max", "l2", "frac_pos"]
    got = extraction.summarise(ops.convert_to_tensor(maps), names, nonnegative=nonnegative)
    reference = numpy_summaries(maps if maps.ndim > 2 else maps[:, None, :])
    for name in names:
        np.testing.assert_allclose(np.asarray(got[name]), reference[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_float16_maps_are_summarised_in_float32(keras_mod):
    from keras import ops
    maps = np.full((1, 64, 64, 3), 0.5, np.float16)  # 4,096 halves: a float16 sum would stall at 2,048
    got = extraction.summarise(ops.convert_to_tensor(maps), ["mean", "l2", "frac_pos"])
    np.testing.assert_allclose(np.asarray(got["mean"]), 0.5, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got["l2"]), np.sqrt(4096 * 0.25), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(got["frac_pos"]), 1.0)


def test_non_negative_outputs_are_told_from_the_layer_configuration(keras_mod):
    layers = keras_mod.layers
    assert extraction.has_nonnegative_output(layers.Conv2D(4, 3, activation="relu"))
    assert extraction.has_nonnegative_output(layers.Dense(4, activation="softmax"))
    assert extraction.has_nonnegative_output(layers.Activation("sigmoid"))
    assert extraction.has_nonnegative_output(layers.ReLU())
    assert not extraction.has_nonnegative_output(layers.ReLU(negative_slope=0.1))
    assert not extraction.has_nonnegative_output(layers.Conv2D(4, 3))
    assert not extraction.has_nonnegative_output(layers.Conv2D(4, 3, activation="tanh"))
    assert not extraction.has_nonnegative_output(layers.BatchNormalization())
    assert not extraction.has_nonnegative_output(layers.MaxPooling2D())


def test_the_next_batch_is_read_by_a_reader_thread_in_order(tiny_cnn, tiny_images):
    import threading

    class Recorded:
        """A sliceable image source that records which thread read which slice."""
        def __init__(self, images):
            self.images, self.reads = images, []

        def __len__(self):
            return len(self.images)

        def __getitem__(self, item):
            self.reads.append((item.start, threading.current_thread().name))
            return self.images[item]

    source = Recorded(tiny_images)
    acts, _ = extraction.extract_all(tiny_cnn, source, ["conv_a"], ["mean"], batch_size=4)
    assert [start for start, _ in source.reads] == list(range(0, len(tiny_images), 4))
    assert all(name.startswith("image-reader") for _, name in source.reads)
    direct = extraction.extract(tiny_cnn, tiny_images, ["conv_a"], ["mean"], batch_size=len(tiny_images))
    np.testing.assert_allclose(acts["conv_a"]["mean"], direct["conv_a"]["mean"], rtol=1e-5, atol=1e-6)
