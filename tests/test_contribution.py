"""The contribution rule: activation energy x outgoing weight norm, from a small real Keras model."""

import csv
import io

import numpy as np
import pytest

from analysis import findings, store
from analysis.channel_table import table_csv, unimportant_table
from analysis.contribution import low_contribution_channels, outgoing_norms, relative_contribution
from tests.helpers import store_synthetic_analysis


@pytest.fixture(scope="module")
def chain_cnn(keras_mod):
    """conv1 (4) -> pool -> conv2 (3) -> flatten -> fc (5) -> predictions (2), random weights, seed 7."""
    keras = keras_mod
    layers = keras.layers
    keras.utils.set_random_seed(7)
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(5, activation="relu", name="fc")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    out = layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out)


def test_outgoing_norms_are_the_consumers_kernel_slices(chain_cnn):
    norms = outgoing_norms(chain_cnn, ["conv1", "conv2", "fc", "predictions"])
    conv2 = chain_cnn.get_layer("conv2").get_weights()[0]      # (3, 3, 4, 3)
    fc = chain_cnn.get_layer("fc").get_weights()[0]            # (4 * 4 * 3, 5), rows position * 3 + channel
    head = chain_cnn.get_layer("predictions").get_weights()[0]  # (5, 2)
    np.testing.assert_allclose(norms["conv1"], np.sqrt((conv2 ** 2).sum(axis=(0, 1, 3))), rtol=1e-6)
    np.testing.assert_allclose(norms["conv2"], [np.linalg.norm(fc[c::3]) for c in range(3)], rtol=1e-6)
    np.testing.assert_allclose(norms["fc"], np.linalg.norm(head, axis=1), rtol=1e-6)  # through the Dropout
    assert norms["predictions"] is None  # nothing reads the output


def test_a_channel_the_next_layer_ignores_is_flagged_after_its_weights_are_zeroed(chain_cnn):
    conv2 = chain_cnn.get_layer("conv2")
    kernel, bias = conv2.get_weights()
    try:
        conv2.set_weights([np.where(np.arange(4)[None, None, :, None] == 2, 0.0, kernel), bias])
        norms = outgoing_norms(chain_cnn, ["conv1"])["conv1"]
    finally:
        conv2.set_weights([kernel, bias])
    assert norms[2] == 0.0 and np.all(norms[[0, 1, 3]] > 0)
    rng = np.random.default_rng(0)
    energy = rng.uniform(1.0, 2.0, (50, 4))  # every channel strong: no weak or dead one
    flagged = low_contribution_channels(energy, norms, 0.1)
    assert flagged.tolist() == [False, False, True, False]


def test_relative_contribution_is_energy_times_norm_over_the_median():
    energy = np.array([[1.0, 2.0, 4.0, 0.1], [3.0, 2.0, 4.0, 0.1]])  # means 2, 2, 4, 0.1
    norms = np.array([1.0, 0.5, 1.0, 10.0])                           # contributions 2, 1, 4, 1; median 1.5
    np.testing.assert_allclose(relative_contribution(energy, norms), [4 / 3, 2 / 3, 8 / 3, 2 / 3])
    # A weak channel read by large weights contributes as much as a strong one read by small weights.
    assert low_contribution_channels(energy, norms, 0.7).tolist() == [False, True, False, True]
    assert np.isnan(relative_contribution(np.zeros((2, 3)), np.ones(3))).all()
    with pytest.raises(ValueError, match="out_norms"):
        relative_contribution(energy, norms[:3])
    with pytest.raises(ValueError, match="threshold"):
        low_contribution_channels(energy, norms, 0.0)


def test_table_explains_and_exports_low_contribution():
    rng = np.random.default_rng(1)
    acts_mean = rng.uniform(1.0, 2.0, (100, 6))
    norms = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.02])
    rows = unimportant_table(acts_mean * 2, acts_mean, energy=acts_mean, out_norms=norms,
                             contribution_threshold=0.1, redundancy_threshold=None)
    assert [r["channel"] for r in rows] == [5] and rows[0]["reasons"] == ["low_contribution"]
    expected = acts_mean.mean(0)[5] * 0.02 / np.median(acts_mean.mean(0) * norms)
    assert rows[0]["relative_contribution"] == pytest.approx(expected)
    assert rows[0]["explanation"] == [
        f"low contribution: {100 * expected:.0f}% of the layer's median channel (activation x outgoing weights)"]
    exported = list(csv.DictReader(io.StringIO(table_csv({"conv": rows}))))
    assert exported[0]["reasons"] == "low_contribution"
    assert float(exported[0]["relative_contribution"]) == pytest.approx(expected, rel=1e-5)
    # Without the threshold the figure is still reported, nothing is flagged for it.
    assert unimportant_table(acts_mean * 2, acts_mean, energy=acts_mean, out_norms=norms,
                             redundancy_threshold=None) == []


def test_findings_flag_low_contribution_once_the_norms_are_stored(results_cache, tmp_path, chain_cnn):
    summary = store_synthetic_analysis(results_cache, tmp_path / "data", n_classes=4,
                                       layers=("conv_1", "conv_2", "conv_3", "conv_4"))
    meta = store.load_meta(results_cache, summary["key"])
    before = findings.unimportant_channels(results_cache, meta, "conv_2")
    width = store.load_layer(results_cache, meta["key"], "conv_2")["mean"].shape[1]
    norms = np.ones(width)
    norms[11] = 1e-3
    results_cache.set(findings.outgoing_name(meta["key"]), {"conv_2": norms})
    after = {r["channel"]: r for r in findings.unimportant_channels(results_cache, meta, "conv_2")}
    assert 11 not in {r["channel"] for r in before}
    assert "low_contribution" in after[11]["reasons"]
    assert after[11]["explanation"][-1].startswith("low contribution: ")
