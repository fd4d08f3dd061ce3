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
    steps = []
    result = findings.removal_job(results_cache, meta, n_threads=1, n_random_repeats=2,
                                  progress=lambda *step: steps.append(step))
    layers = findings.removable_layers(meta)
    # One step per map scan, the loading, each layer's check and the removal, counted up to the end.
    total = 2 * len(layers) + 2
    assert [step[:2] for step in steps] == [(done, total) for done in range(total)]
    assert steps[0][2].startswith(f"Scanning the maps of {layers[0]}")
    assert steps[len(layers)][2] == "Loading the model and the images"
    assert steps[len(layers) + 1][2].startswith(f"Checking the flags of {layers[0]} by ablation")
    assert steps[-1][2].startswith("Removing every kept channel at once")
    assert all(results_cache.get(findings.border_name(meta["key"], layer)) is not None for layer in layers)
    assert set(results_cache.get(findings.outgoing_name(meta["key"]))) == set(meta["layers"])  # contribution test
    rows = {layer: findings.unimportant_channels(results_cache, meta, layer) for layer in layers}
    check = results_cache.get(findings.check_name(meta["key"]))
    assert set(check) == set(layers)  # every layer's flags were checked by ablation first
    assert all(row.get("checked") is not None for per in rows.values() for row in per)
    expected = {layer: sorted(row["channel"] for row in per if row["checked"]) for layer, per in rows.items()}
    assert result["flagged"] == {layer: chans for layer, chans in expected.items() if chans}
    assert result["n_removed"] == sum(len(c) for c in expected.values()) > 0  # random weights: dead channels
    assert 0.0 <= result["flagged_accuracy"] <= 1.0 and len(result["random_accuracies"]) == 2
    text = findings.removal_text(result)
    assert "flagged channels of" in text
    assert result["check"]["n_images"] == len(meta["labels"]) and f"Ablation check on {len(meta['labels'])} inputs" in text


def one_decisive_channel_model():
    """conv(4, 1x1, relu) -> GAP -> Dense(2): the class is whether channel 0's mean exceeds 1;
    channels 1 and 3 are silent, channel 2 is live but unread."""
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(4, 1, activation="relu", name="conv")
    dense = keras.layers.Dense(2, name="out")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv(inputs))))
    conv.set_weights([np.array([1.0, 0.0, 0.5, 0.0], np.float32).reshape(1, 1, 1, 4), np.zeros(4, np.float32)])
    dense.set_weights([np.array([[1.0, 0.0], [0, 0], [0, 0], [0, 0]], np.float32), np.array([-1.0, 0.0], np.float32)])
    return model


def test_the_check_keeps_silent_flags_and_leaves_out_a_costly_one(data):
    model = one_decisive_channel_model()
    labels = np.asarray(model.predict_on_batch(data)).argmax(1)
    assert 0.2 < labels.mean() < 0.8  # both classes occur
    masked = removal.MaskedModel(model, ["conv"])
    cost = 1.0 - masked.accuracy({"conv": [0]}, data, labels)
    result = removal.verify_layer(masked, data, labels, "conv", zeroed=[0, 3], n_random_repeats=4)
    assert result["kept_zeroed"] == [3] and result["drop"] == 0.0 and result["checks"] == 2
    assert result["left_out"] == {0: cost} and cost > 0.2
    assert result["n_images"] == len(data) and result["added"] == [] and result["baseline"] == 1.0


def test_a_layer_without_flags_is_checked_with_the_candidates_given(data):
    model = two_conv_model()
    labels = np.asarray(model.predict_on_batch(data)).argmax(1)
    masked = removal.MaskedModel(model, ["conv1"])
    result = removal.verify_layer(masked, data, labels, "conv1", candidates_if_none=[1], n_random_repeats=2)
    assert result["kept_zeroed"] == [1] and result["added"] == [1] and result["left_out"] == {}
    nothing = removal.verify_layer(masked, data, labels, "conv1", n_random_repeats=2)
    assert nothing["kept_zeroed"] == [] and nothing["drop"] is None and nothing["checks"] == 0


def test_check_verdicts_reach_the_rows_and_the_csv():
    from analysis import channel_table
    rows = [{"channel": 2, "reasons": ["dead"], "active_share": 0.0, "relative_mean": 0.0, "cv": None,
             "border_share": None, "partner": None, "correlation": None, "relative_contribution": 0.0},
            {"channel": 5, "reasons": ["weak"], "active_share": 0.9, "relative_mean": 0.02, "cv": 0.4,
             "border_share": None, "partner": None, "correlation": None, "relative_contribution": 0.3}]
    check = {"n_images": 1000, "kept_zeroed": [2, 7], "kept_merged": {}, "left_out": {5: 0.003},
             "added": [7], "drop": 0.0, "random_drop": 0.0042}
    out = channel_table.apply_check(rows, check, np.linspace(0, 1, 10))
    assert [(r["channel"], r["checked"]) for r in out] == [(2, True), (5, False), (7, True)]
    assert out[1]["explanation"][-1] == "left out by the ablation check: removing it alone cost 3 of 1000 inputs"
    assert "cost 0 of 1000 inputs; as many random ones cost 4.2 on average" in out[0]["explanation"][-1]
    assert out[2]["reasons"] == ["removable"] and "78%" in out[2]["explanation"][0]
    lines = channel_table.table_csv({"conv": out}).splitlines()
    assert lines[0].split(",")[-2:] == ["checked", "explanation"]
    assert lines[2].split(",")[1:3] == ["5", "weak"] and ",False," in lines[2]


def test_the_removal_test_counts_equal_accuracies_as_equal():
    baseline = 1901 / 2000  # 0.9505: ten equal random accuracies average to a hair above it
    random_drop = baseline - float(np.mean([baseline] * 10))
    assert random_drop < 0  # the rounding this guards against
    assert removal.removable(0.0, random_drop)
    assert not removal.removable(0.0, -1 / 2000)  # a random drop below zero by one input: not met
    assert removal.removable(1 / 2000, 3 / 2000) and not removal.removable(2 / 2000, 3 / 2000)


def test_a_layer_is_checked_on_top_of_the_removals_before_it(data):
    # conv1 (1x1: x, 0.5 x) -> conv2 (1x1: conv1's channel 0, a silent channel) -> GAP -> Dense:
    # the class is whether the mean of relu(x) exceeds 1.
    inputs = keras.Input((8, 8, 1))
    conv1 = keras.layers.Conv2D(2, 1, activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(2, 1, activation="relu", name="conv2")
    dense = keras.layers.Dense(2, name="out")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv2(conv1(inputs)))))
    conv1.set_weights([np.array([1.0, 0.5], np.float32).reshape(1, 1, 1, 2), np.zeros(2, np.float32)])
    conv2.set_weights([np.array([[1.0, 0.0], [0.0, 0.0]], np.float32).reshape(1, 1, 2, 2), np.zeros(2, np.float32)])
    dense.set_weights([np.array([[1.0, 0.0], [0.0, 0.0]], np.float32), np.array([-1.0, 0.0], np.float32)])
    labels = np.asarray(model.predict_on_batch(data)).argmax(1)
    masked = removal.MaskedModel(model, ["conv1", "conv2"])
    before = ({"conv1": [0]}, {})
    expected = masked.accuracy(*before[:1], data, labels)
    assert 0.0 < expected < 1.0
    result = removal.verify_layer(masked, data, labels, "conv2", zeroed=[1], n_random_repeats=2,
                                  removed_before=before)
    # The baseline is the accuracy with conv1's channels already removed; conv2's silent channel
    # costs nothing on top of it.
    assert result["baseline"] == expected and result["kept_zeroed"] == [1] and result["drop"] == 0.0
    alone = removal.verify_layer(masked, data, labels, "conv2", zeroed=[1], n_random_repeats=2)
    assert alone["baseline"] == 1.0
