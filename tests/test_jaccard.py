"""Jaccard similarity of activated channel sets, checked against direct set arithmetic."""

import math
import re

import numpy as np
import pytest

from analysis import jaccard


def set_jaccard(a, b):
    a, b = set(np.flatnonzero(a)), set(np.flatnonzero(b))
    return len(a & b) / len(a | b) if a | b else 0.0


@pytest.fixture(scope="module")
def random_active():
    rng = np.random.default_rng(1)
    active = rng.random((40, 23)) < 0.3
    active[5] = False  # Two empty sets must have similarity 0.
    active[9] = False
    return active


def test_normalise_maps_each_channel_to_unit_range_and_constant_channels_to_zero():
    rng = np.random.default_rng(0)
    acts = rng.normal(3, 5, size=(50, 4)).astype(np.float32)
    acts[:, 2] = 7.0
    out = jaccard.normalise(acts)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, [0, 1, 3]].min(axis=0), 0)
    np.testing.assert_allclose(out[:, [0, 1, 3]].max(axis=0), 1)
    assert np.all(out[:, 2] == 0)
    expected = (acts[:, 0] - acts[:, 0].min()) / (acts[:, 0].max() - acts[:, 0].min())
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-5, atol=1e-6)


def test_topk_picks_the_highest_channels_and_breaks_ties_by_lower_index():
    rng = np.random.default_rng(2)
    acts = rng.integers(0, 4, size=(30, 17)).astype(np.float32)  # Many ties.
    value = 0.25
    k = math.ceil(value * 17)
    active = jaccard.activated_sets(acts, "topk", value)
    for row, got in zip(acts, active):
        best = sorted(range(17), key=lambda j: (-row[j], j))[:k]
        assert set(np.flatnonzero(got)) == set(best)


def test_topk_fraction_is_not_inflated_by_float_rounding():
    # 0.3 * 10 is 3.0000000000000004 in floating point; the set must still have 3 channels.
    acts = np.random.default_rng(3).random((5, 10))
    assert np.all(jaccard.activated_sets(acts, "topk", 0.3).sum(axis=1) == 3)


def test_quantile_rule_marks_values_strictly_above_each_channels_quantile():
    acts = np.random.default_rng(4).normal(size=(60, 6))
    active = jaccard.activated_sets(acts, "quantile", 0.8)
    for j in range(6):
        np.testing.assert_array_equal(active[:, j], acts[:, j] > np.quantile(acts[:, j], 0.8))


def test_threshold_rule_compares_normalised_activations():
    acts = np.random.default_rng(5).random((20, 5)) * 10
    active = jaccard.activated_sets(acts, "threshold", 0.5)
    lo, hi = acts.min(axis=0), acts.max(axis=0)
    np.testing.assert_array_equal(active, (acts - lo) / (hi - lo) >= 0.5 - 1e-7)


@pytest.mark.parametrize("rule, value, fragment", [
    ("best", 0.5, "allowed: topk, quantile, threshold"),
    ("topk", 0.0, "(0, 1]"),
    ("topk", 1.5, "(0, 1]"),
    ("quantile", 1.0, "[0, 1)"),
    ("threshold", -0.1, "[0, 1]"),
])
def test_activated_sets_rejects_bad_rules_and_values_with_the_allowed_range(rule, value, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        jaccard.activated_sets(np.ones((3, 4)), rule, value)


def test_activated_sets_rejects_non_finite_activations():
    acts = np.ones((3, 4))
    acts[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        jaccard.activated_sets(acts, "topk", 0.5)


def test_jaccard_matrix_matches_python_set_arithmetic_and_empty_pairs_are_zero(random_active):
    got = jaccard.jaccard_matrix(random_active)
    assert got.dtype == np.float32 and got.shape == (40, 40)
    expected = np.array([[set_jaccard(a, b) for b in random_active] for a in random_active])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert got[5, 9] == 0 and got[5, 5] == 0


def test_jaccard_matrix_rejects_non_boolean_input():
    with pytest.raises(ValueError, match="boolean"):
        jaccard.jaccard_matrix(np.ones((3, 3), dtype=np.float32))


def _two_subclusters(n_per, c, rng):
    """Bool sets in two planted groups that share few channels, interleaved in input order."""
    base = np.zeros((2 * n_per, c), dtype=bool)
    base[0::2, : c // 2] = rng.random((n_per, c // 2)) < 0.7
    base[1::2, c // 2 :] = rng.random((n_per, c - c // 2)) < 0.7
    return base


def test_class_order_groups_classes_in_label_order_and_is_a_permutation():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, size=80)
    order = jaccard.class_order(labels, rng.random((80, 10)) < 0.4)
    assert sorted(order.tolist()) == list(range(80))
    assert np.all(np.diff(labels[order]) >= 0)


@pytest.mark.parametrize("linkage_max", [jaccard.LINKAGE_MAX, 5])
def test_class_order_keeps_planted_subgroups_contiguous(monkeypatch, linkage_max):
    # linkage_max=5 forces the principal-component path used for large classes.
    monkeypatch.setattr(jaccard, "LINKAGE_MAX", linkage_max)
    rng = np.random.default_rng(7)
    active = _two_subclusters(30, 20, rng)
    subgroup = np.arange(60) % 2
    order = jaccard.class_order(np.zeros(60, dtype=int), active)
    assert np.count_nonzero(np.diff(subgroup[order])) == 1
    features = active.astype(np.float32) + rng.normal(0, 0.05, active.shape).astype(np.float32)
    order = jaccard.class_order(np.zeros(60, dtype=int), features)
    assert np.count_nonzero(np.diff(subgroup[order])) == 1


def test_class_order_rejects_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match="one per input"):
        jaccard.class_order(np.zeros(3, dtype=int), np.ones((4, 2), dtype=bool))


def test_jaccard_blocks_without_reduction_is_the_permuted_full_matrix(random_active):
    order = np.random.default_rng(8).permutation(40)
    blocks, block_of_input = jaccard.jaccard_blocks(random_active, order, max_size=400)
    full = jaccard.jaccard_matrix(random_active)
    np.testing.assert_allclose(blocks, full[np.ix_(order, order)])
    np.testing.assert_array_equal(block_of_input[order], np.arange(40))


def test_jaccard_blocks_are_block_means_of_the_full_matrix():
    rng = np.random.default_rng(9)
    n, size = 1003, 50  # Unequal block sizes; chunk boundaries cut through blocks.
    active = rng.random((n, 32)) < 0.2
    order = rng.permutation(n)
    blocks, block_of_input = jaccard.jaccard_blocks(active, order, max_size=size, chunk=97)
    assert blocks.shape == (size, size) and blocks.dtype == np.float32
    ordered_blocks = block_of_input[order]
    assert np.all(np.diff(ordered_blocks) >= 0) and set(ordered_blocks) == set(range(size))
    counts = np.bincount(block_of_input)
    assert counts.max() - counts.min() <= 1
    full = jaccard.jaccard_matrix(active)
    members = [np.flatnonzero(block_of_input == b) for b in range(size)]
    expected = np.array([[full[np.ix_(mi, mj)].mean() for mj in members] for mi in members])
    np.testing.assert_allclose(blocks, expected, rtol=1e-5, atol=1e-6)


def test_jaccard_blocks_rejects_an_order_that_is_not_a_permutation(random_active):
    with pytest.raises(ValueError, match="permutation"):
        jaccard.jaccard_blocks(random_active, np.zeros(40, dtype=int))


def test_class_jaccard_matches_a_direct_pair_loop_excluding_self_pairs(random_active):
    labels = np.array([0] * 15 + [1] * 24 + [3])  # Class 2 empty, class 3 a single input.
    got = jaccard.class_jaccard(random_active, labels, n_classes=4, chunk=7)
    assert got.shape == (4, 4) and got.dtype == np.float32
    expected = np.full((4, 4), np.nan)
    for ci in range(4):
        for cj in range(4):
            pairs = [set_jaccard(random_active[a], random_active[b])
                     for a in np.flatnonzero(labels == ci) for b in np.flatnonzero(labels == cj) if a != b]
            if pairs:
                expected[ci, cj] = np.mean(pairs)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.isnan(got[2]).all() and np.isnan(got[3, 3]) and not np.isnan(got[3, 0])


def test_class_jaccard_rejects_labels_outside_n_classes(random_active):
    with pytest.raises(ValueError, match="n_classes=2"):
        jaccard.class_jaccard(random_active, np.arange(40) % 3, n_classes=2)
