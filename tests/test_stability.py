"""Bootstrap stability of the findings (analysis.stability) on planted structure."""

import numpy as np
import pytest

from analysis import hierarchy, stability


def planted_groups(n_per_class=60, noise=0.3, seed=0):
    """6 classes in 2 super-classes: classes 0-2 share channels 0-9, classes 3-5 channels 10-19."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(6), n_per_class)
    acts = rng.random((labels.size, 30)) * noise
    for c in range(6):
        rows = labels == c
        acts[np.ix_(rows, np.arange(10) + 10 * (c >= 3))] += 1.0
        acts[np.ix_(rows, [20 + c])] += 0.8  # each class's own channel
    return acts, labels


def test_bootstrap_draws_keep_class_sizes_and_are_seeded():
    labels = np.array([0] * 5 + [1] * 3)
    draws = stability.bootstrap_draws(labels, 4, random_state=1)
    assert len(draws) == 4
    for d in draws:
        assert np.bincount(labels[d]).tolist() == [5, 3]
    again = stability.bootstrap_draws(labels, 4, random_state=1)
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))


def test_planted_super_classes_are_firm():
    acts, labels = planted_groups()
    result = stability.supercut_stability(acts, labels, 6, fraction=0.3, n_boot=8)
    assert result["groups"].tolist() == [0, 0, 0, 1, 1, 1]
    assert result["mean_ari"] == 1.0 and result["same"] == 1.0
    assert stability.verdict(result["mean_ari"]) == "firm"


def test_no_structure_gives_an_unstable_cut():
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(6), 30)
    acts = rng.random((labels.size, 30))
    result = stability.supercut_stability(acts, labels, 6, fraction=0.3, n_boot=8)
    assert result["mean_ari"] < 0.7


def test_combined_layers_agree_with_a_single_clear_layer():
    acts, labels = planted_groups()
    noise = np.random.default_rng(1).random(acts.shape)
    both = stability.supercut({"a": acts, "b": acts * 2.0}, labels, 6, 0.3)
    assert both.tolist() == [0, 0, 0, 1, 1, 1]
    combined = hierarchy.combine_similarities([np.eye(3) + 0.5, (np.eye(3) + 0.5) * 10])
    assert np.allclose(np.diag(combined), 1.0)
    with pytest.raises(ValueError, match="same K"):
        hierarchy.combine_similarities([np.eye(3), np.eye(4)])
    assert stability.supercut({"noise": noise}, labels, 6, 0.3).shape == (6,)


def test_subclass_split_of_two_blobs_is_stable_and_of_one_blob_is_k1():
    rng = np.random.default_rng(0)
    two = np.concatenate([rng.normal(0, 1, (80, 5)), rng.normal(6, 1, (80, 5))])
    result = stability.subclass_stability(two, n_boot=5)
    assert result["k"] == 2 and result["mean_ari"] > 0.95 and result["same_k"] == 1.0
    one = rng.normal(0, 1, (150, 5))
    result = stability.subclass_stability(one, n_boot=5)
    assert result["k"] == 1 and result["same_k"] >= 0.8


def test_mislabel_stability_separates_a_firm_outlier_from_ties():
    rng = np.random.default_rng(0)
    base = rng.random(200) * 0.1
    base[[3, 17]] = [5.0, 4.0]  # two clear suspects

    def score(rows):
        return base[rows] + rng.random(rows.size) * 0.2  # the rest is noise

    result = stability.mislabel_stability(score, 200, top=10, n_boot=10)
    head = result["top"].tolist()
    assert head[:2] == [3, 17]
    freq = dict(zip(head, result["frequency"]))
    assert freq[3] == 1.0 and freq[17] == 1.0
    assert np.nanmean(result["frequency"][2:]) < 0.6
    with pytest.raises(ValueError, match="top"):
        stability.mislabel_stability(score, 200, top=0)
