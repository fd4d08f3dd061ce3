"""Channel ablation (``analysis.extraction``: ablated_model, evaluate_accuracy, ablation_check)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from analysis import extraction  # noqa: E402
from analysis.extraction import ExtractionError  # noqa: E402

N_FILTERS = 6


def tiny_model(sequential=False, activation="relu", seed=0):
    """Conv2D(6, relu) -> GAP -> Dense(3, softmax) on 8x8x1 inputs, fixed weights."""
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Conv2D(N_FILTERS, 3, padding="same", activation=activation, name="conv"),
              keras.layers.GlobalAveragePooling2D(name="gap"),
              keras.layers.Dropout(0.5, name="drop"),
              keras.layers.Dense(3, activation="softmax", name="out")]
    if sequential:
        model = keras.Sequential([keras.Input((8, 8, 1))] + layers)
    else:
        inputs = keras.Input((8, 8, 1), name="image")
        tensor = inputs
        for layer in layers:
            tensor = layer(tensor)
        model = keras.Model(inputs, tensor)
    kernel, bias = model.get_layer("conv").get_weights()
    model.get_layer("conv").set_weights([kernel, bias + 0.1])
    dense_kernel, dense_bias = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([dense_kernel * 5, np.array([0.3, -0.2, 0.1], np.float32)])
    return model


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    shift = rng.uniform(-3, 3, size=(40, 1, 1, 1))  # inputs far apart, so predictions differ
    return (rng.normal(size=(40, 8, 8, 1)) + shift).astype(np.float32)


def predict(model, x):
    return np.asarray(model.predict_on_batch(x))


def gap_output(model, x):
    return np.asarray(keras.Model(model.inputs, model.get_layer("gap").output).predict_on_batch(x))


@pytest.mark.parametrize("sequential", [False, True])
def test_zeroing_a_silent_channel_changes_nothing(images, sequential):
    model = tiny_model(sequential)
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., 2] = 0.0
    bias[2] = 0.0  # channel 2 is relu(0) = 0 everywhere
    model.get_layer("conv").set_weights([kernel, bias])
    ablated = extraction.ablated_model(model, "conv", [2])
    np.testing.assert_allclose(predict(ablated, images), predict(model, images), rtol=1e-6, atol=1e-7)
    # ... while ablating a live channel does change the predictions.
    other = extraction.ablated_model(model, "conv", [0])
    assert not np.allclose(predict(other, images), predict(model, images), atol=1e-4)


@pytest.mark.parametrize("sequential", [False, True])
def test_only_the_chosen_channels_are_zeroed(images, sequential):
    model = tiny_model(sequential, activation="sigmoid")  # sigmoid(0) != 0: weight zeroing would fail
    ablated = extraction.ablated_model(model, "conv", np.array([True, False, False, True, False, False]))
    before, after = gap_output(model, images), gap_output(ablated, images)
    assert np.all(after[:, [0, 3]] == 0.0)
    np.testing.assert_allclose(after[:, [1, 2, 4, 5]], before[:, [1, 2, 4, 5]], rtol=1e-6)


def test_ablating_every_channel_makes_predictions_constant(images):
    model = tiny_model()
    ablated = extraction.ablated_model(model, "conv", range(N_FILTERS))
    out = predict(ablated, images)
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), atol=1e-7)
    expected = np.exp([0.3, -0.2, 0.1]) / np.exp([0.3, -0.2, 0.1]).sum()  # softmax(dense bias)
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)
    assert len(np.unique(predict(model, images).argmax(axis=1))) > 1  # the original is not constant


def test_original_model_is_untouched(images):
    model = tiny_model()
    weights = [w.copy() for w in model.get_weights()]
    reference = predict(model, images)
    ablated = extraction.ablated_model(model, "conv", [0, 1, 2])
    extraction.ablation_check(model, images, np.zeros(len(images), np.int64), "conv", [1],
                              n_random_repeats=2)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(predict(model, images), reference)
    assert [layer.name for layer in model.layers if "mask" in layer.name] == []
    # The clone owns its variables: changing them leaves the original alone.
    ablated.get_layer("out").set_weights([np.zeros_like(w) for w in ablated.get_layer("out").get_weights()])
    np.testing.assert_array_equal(model.get_layer("out").get_weights()[0], weights[2])


def test_unsupported_layers_and_channels_give_clear_errors():
    model = tiny_model()
    with pytest.raises(ExtractionError, match="Dropout.*no channels-last output"):
        extraction.ablated_model(model, "drop", [0])
    with pytest.raises(ExtractionError, match="does not exist.*conv"):
        extraction.ablated_model(model, "nope", [0])
    with pytest.raises(ExtractionError, match="0..5"):
        extraction.ablated_model(model, "conv", [6])
    with pytest.raises(ExtractionError, match="6 entries"):
        extraction.ablated_model(model, "conv", np.ones(3, bool))
    assert extraction.ablatable_layers(model) == ["conv", "gap", "out"]


def test_dense_layer_and_accuracy(images):
    model = tiny_model()
    labels = predict(model, images).argmax(axis=1)
    assert extraction.evaluate_accuracy(model, images, labels, batch_size=16) == 1.0  # padded last batch
    ablated = extraction.ablated_model(model, "out", [0, 1, 2])  # softmax output zeroed: argmax 0
    assert extraction.evaluate_accuracy(ablated, images, labels) == pytest.approx(np.mean(labels == 0))
    with pytest.raises(ExtractionError, match="labels must have shape"):
        extraction.evaluate_accuracy(model, images, labels[:-1])


class Sliced:
    """A lazy, slice-only image source (like ``datasets.ImageBatches``)."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, item):
        if not isinstance(item, slice):
            raise TypeError("slices only")
        return self.data[item]


def test_ablation_check(images):
    model = tiny_model()
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., 4] = 0.0
    bias[4] = 0.0
    model.get_layer("conv").set_weights([kernel, bias])
    labels = predict(model, images).argmax(axis=1)
    result = extraction.ablation_check(model, Sliced(images), labels, "conv", [4], n_random_repeats=3,
                                       discriminative=[1, 1, 0, 2], random_state=0, batch_size=16)
    assert result["baseline"] == 1.0 and result["flagged_accuracy"] == 1.0 and result["drop_flagged"] == 0.0
    assert result["n_ablated"] == 1 and result["channels"] == N_FILTERS and result["flagged"] == [4]
    assert len(result["random_accuracies"]) == 3 and len(result["random_channels"]) == 3
    assert result["random_mean"] == pytest.approx(np.mean(result["random_accuracies"]))
    assert result["discriminative_channels"] == [1]
    expected = extraction.evaluate_accuracy(extraction.ablated_model(model, "conv", [1]), images, labels)
    assert result["discriminative_accuracy"] == pytest.approx(expected)
    again = extraction.ablation_check(model, images, labels, "conv", [4], n_random_repeats=3, random_state=0)
    assert again["random_channels"] == result["random_channels"]
    assert again["discriminative_accuracy"] is None and again["drop_discriminative"] is None
    empty = extraction.ablation_check(model, images, labels, "conv", [], n_random_repeats=2)
    assert empty["n_ablated"] == 0 and empty["flagged_accuracy"] == empty["random_mean"] == empty["baseline"]
