"""Removing channels of several layers at once (``analysis.removal``)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from analysis import removal  # noqa: E402
from analysis.errors import ExtractionError  # noqa: E402


def two_conv_model(sequential=False):
    """conv1(4) -> conv2(5) -> GAP -> Dense(3); conv1 channel 1 and conv2 channel 3 are silent."""
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1"),
              keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv2"),
              keras.layers.GlobalAveragePooling2D(name="gap"),
              keras.layers.Dense(3, activation="softmax", name="out")]
    if sequential:
        model = keras.Sequential([keras.Input((8, 8, 1))] + layers)
    else:
        tensor = inputs = keras.Input((8, 8, 1))
        for layer in layers:
            tensor = layer(tensor)
        model = keras.Model(inputs, tensor)
    for name, silent in (("conv1", 1), ("conv2", 3)):
        kernel, bias = model.get_layer(name).get_weights()
        kernel[..., silent] = 0.0
        model.get_layer(name).set_weights([kernel, bias * 0 + 0.05 * (np.arange(len(bias)) != silent)])
    kernel, bias = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([kernel * 20, np.array([0.0, 0.5, -0.5], np.float32)])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(60, 8, 8, 1)) + rng.uniform(-3, 3, size=(60, 1, 1, 1))).astype(np.float32)
    return x


@pytest.mark.parametrize("sequential", [False, True])
def test_removing_silent_channels_in_two_layers_keeps_every_prediction(data, sequential):
    model = two_conv_model(sequential)
    labels = np.asarray(model.predict_on_batch(data)).argmax(1)  # baseline accuracy 1.0
    result = removal.removal_check(model, data, labels, {"conv1": [1], "conv2": [3]}, n_random_repeats=3)
    assert result["baseline"] == 1.0 and result["flagged_accuracy"] == 1.0
    assert result["n_removed"] == 2 and result["per_layer"] == {"conv1": 1, "conv2": 1}
    assert result["channels_total"] == 9 and len(result["random_accuracies"]) == 3
    # With every channel of both layers zeroed the output is the bias (class 1) for all inputs.
    assert (labels != 1).any()
    masked = removal.MaskedModel(model, ["conv1", "conv2"])
    assert masked.accuracy({"conv1": [0, 2, 3], "conv2": [0, 1, 2, 4]}, data, labels) == np.mean(labels == 1)
    np.testing.assert_array_equal(np.asarray(model.predict_on_batch(data)).argmax(1), labels)
    np.testing.assert_array_equal(np.asarray(model.predict_on_batch(data)).argmax(1), labels)


def test_layer_checks_count_a_layer_without_flags_as_not_met(data):
    model = two_conv_model()
    labels = np.asarray(model.predict_on_batch(data)).argmax(1)
    checks = removal.layer_checks(model, data, labels, {"conv1": [1], "conv2": []}, n_random_repeats=4)
    assert checks["conv2"]["n_removed"] == 0 and not checks["conv2"]["met"]
    assert checks["conv1"]["drop_flagged"] == 0.0
    assert checks["conv1"]["met"] == (0.0 <= checks["conv1"]["drop_random"] / 3)


def test_bad_layers_and_channels_are_rejected(data):
    model = two_conv_model()
    with pytest.raises(ExtractionError, match="can be ablated in"):
        removal.MaskedModel(model, ["gap_typo"])
    masked = removal.MaskedModel(model, ["conv1"])
    with pytest.raises(ExtractionError, match="0..3"):
        masked.set({"conv1": [7]})
    with pytest.raises(ExtractionError, match="No mask after"):
        masked.set({"conv2": [0]})


def test_merging_a_copy_into_its_partner_keeps_predictions_where_zeroing_it_does_not(data):
    model = two_conv_model()
    kernel, bias = model.get_layer("conv1").get_weights()
    kernel[..., 1] = kernel[..., 0] * 2.0  # channel 1 = 2 x channel 0 (relu commutes with a positive scale)
    bias[1] = bias[0] * 2.0
    model.get_layer("conv1").set_weights([kernel, bias])
    labels = np.asarray(model.predict_on_batch(data)).argmax(1)
    masked = removal.MaskedModel(model, ["conv1"])
    merged = removal.removal_check(model, data, labels, {"conv1": []}, 2, masked=masked,
                                   merged={"conv1": {1: (0, 2.0, 0.0)}})
    assert merged["flagged_accuracy"] == 1.0 and merged["n_removed"] == 1 and merged["n_merged"] == 1
    original = np.asarray(model.predict_on_batch(data))
    masked.set({}, {"conv1": {1: (0, 2.0, 0.0)}})
    np.testing.assert_allclose(np.asarray(masked.model.predict_on_batch(data)), original, rtol=1e-5, atol=1e-6)
    masked.set({"conv1": [1]})  # zeroing the copy instead changes the outputs
    assert np.abs(np.asarray(masked.model.predict_on_batch(data)) - original).max() > 1e-3


def test_removal_job_of_a_stored_analysis_scans_maps_and_removes_every_flag(
        image_folder, tiny_model_file, tmp_path, results_cache):
    import os

    from analysis import findings, pipeline, store
    roots = [str(tmp_path), os.path.dirname(tiny_model_file)]
    summary = pipeline.run(pipeline.Request(model=tiny_model_file, data=image_folder, layers="all"),
                           data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
    meta = store.load_meta(results_cache, summary["key"])
    result = findings.removal_job(results_cache, meta, n_threads=1, n_random_repeats=2)
    layers = findings.removable_layers(meta)
    assert all(results_cache.get(findings.border_name(meta["key"], layer)) is not None for layer in layers)
    assert set(results_cache.get(findings.outgoing_name(meta["key"]))) == set(meta["layers"])  # contribution test
    expected = {layer: sorted(row["channel"] for row in findings.unimportant_channels(results_cache, meta, layer))
                for layer in layers}
    assert result["flagged"] == {layer: chans for layer, chans in expected.items() if chans}
    assert result["n_removed"] == sum(len(c) for c in expected.values()) > 0  # random weights: dead channels
    assert 0.0 <= result["flagged_accuracy"] <= 1.0 and len(result["random_accuracies"]) == 2
    assert "flagged channels of" in findings.removal_text(result)
