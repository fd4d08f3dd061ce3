"""Channel scores and heatmap reduction, checked against scipy and direct formulas."""

import numpy as np
import pytest
from scipy import stats

from analysis import ranking


@pytest.fixture(scope="module")
def planted():
    """Acts where channel 3 tracks the class and channel 5 is raised on inputs 0..9."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    acts = rng.normal(size=(60, 8)).astype(np.float32)
    acts[:, 3] += 4 * labels
    acts[:10, 5] += 6
    acts[:, 7] = 2.5  # Constant channel.
    return acts, labels


def test_variance_and_mean_scores_match_numpy(planted):
    acts, labels = planted
    np.testing.assert_allclose(ranking.channel_scores(acts, labels, "variance"), acts.astype(float).var(axis=0))
    np.testing.assert_allclose(ranking.channel_scores(acts, None, "mean"), acts.astype(float).mean(axis=0))
    assert ranking.channel_scores(acts, None, "mean").dtype == np.float64


def test_f_stat_matches_scipy_f_oneway_and_constant_channels_score_zero(planted):
    acts, labels = planted
    got = ranking.channel_scores(acts, labels, "f_stat")
    groups = [acts[labels == k].astype(float) for k in range(3)]
    expected = stats.f_oneway(*[g[:, :7] for g in groups], axis=0).statistic
    np.testing.assert_allclose(got[:7], expected, rtol=1e-9)
    assert got[7] == 0
    assert ranking.top_channels(got, 1)[0] == 3


def test_f_stat_ignores_absent_class_ids():
    rng = np.random.default_rng(1)
    acts = rng.normal(size=(30, 4))
    labels = np.repeat([0, 2, 5], 10)  # Classes 1, 3, 4 have no members.
    expected = stats.f_oneway(*[acts[labels == k] for k in (0, 2, 5)], axis=0).statistic
    np.testing.assert_allclose(ranking.channel_scores(acts, labels, "f_stat"), expected, rtol=1e-9)


def test_f_stat_is_infinite_for_a_channel_constant_within_but_not_between_classes():
    labels = np.repeat([0, 1], 5)
    acts = np.column_stack([labels * 2.0, np.arange(10.0)])
    scores = ranking.channel_scores(acts, labels, "f_stat")
    assert np.isposinf(scores[0]) and np.isfinite(scores[1])


def test_f_stat_needs_labels_and_two_classes(planted):
    acts, labels = planted
    with pytest.raises(ValueError, match="needs labels"):
        ranking.channel_scores(acts, None, "f_stat")
    with pytest.raises(ValueError, match="at least 2 classes"):
        ranking.channel_scores(acts, np.zeros(60, dtype=int), "f_stat")


def test_selection_score_is_cohens_d_with_pooled_sd(planted):
    acts, _ = planted
    selection = np.arange(10)
    got = ranking.channel_scores(acts, None, "selection", selection=selection)
    x = acts.astype(float)
    for j in range(7):
        a, b = x[:10, j], x[10:, j]
        pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
        assert got[j] == pytest.approx((a.mean() - b.mean()) / pooled, rel=1e-9)
    assert got[7] == 0
    assert ranking.top_channels(got, 1)[0] == 5


def test_selection_of_a_single_input_gives_finite_scores(planted):
    acts, _ = planted
    got = ranking.channel_scores(acts, None, "selection", selection=np.array([4]))
    assert np.all(np.isfinite(got))


def test_selection_score_is_signed_infinity_for_constant_groups_and_zero_for_constant_channels():
    acts = np.zeros((7, 3))
    acts[:2, 0] = 1.0   # Only the selection fires: +inf.
    acts[2:, 1] = 1.0   # Only the rest fires: -inf.
    acts[:, 2] = 0.1    # Constant, though float means of 0.1 differ by group size.
    scores = ranking.channel_scores(acts, None, "selection", selection=np.array([0, 1]))
    assert np.isposinf(scores[0]) and np.isneginf(scores[1]) and scores[2] == 0


@pytest.mark.parametrize("selection, fragment", [
    (None, "needs a selection"),
    (np.array([], dtype=int), "non-empty"),
    (np.arange(60), "every input is selected"),
    (np.array([0, 60]), r"0\.\.59"),
])
def test_selection_score_rejects_unusable_selections(planted, selection, fragment):
    acts, _ = planted
    with pytest.raises(ValueError, match=fragment):
        ranking.channel_scores(acts, None, "selection", selection=selection)


def test_unknown_criterion_lists_the_allowed_ones(planted):
    acts, labels = planted
    with pytest.raises(ValueError, match="allowed: variance, f_stat, mean, selection"):
        ranking.channel_scores(acts, labels, "entropy")


def test_top_channels_sorts_descending_with_stable_ties_and_nan_last():
    scores = np.array([1.0, 3.0, np.nan, 3.0, 2.0, np.inf])
    np.testing.assert_array_equal(ranking.top_channels(scores, 4), [5, 1, 3, 4])
    np.testing.assert_array_equal(ranking.top_channels(scores, None), [5, 1, 3, 4, 0, 2])
    np.testing.assert_array_equal(ranking.top_channels(scores, 99), [5, 1, 3, 4, 0, 2])
    with pytest.raises(ValueError, match="positive integer"):
        ranking.top_channels(scores, 0)


def test_quantise_uint8_maps_the_range_linearly_onto_0_255():
    matrix = np.random.default_rng(2).normal(size=(30, 40)).astype(np.float32)
    q, lo, hi = ranking.quantise_uint8(matrix)
    assert q.dtype == np.uint8 and q.shape == matrix.shape
    assert (lo, hi) == (float(matrix.min()), float(matrix.max()))
    assert q.min() == 0 and q.max() == 255
    decoded = lo + q.astype(float) * (hi - lo) / 255
    assert np.abs(decoded - matrix).max() <= (hi - lo) / 510 + 1e-6


def test_quantise_uint8_clips_to_the_given_range_and_handles_degenerate_input():
    q, lo, hi = ranking.quantise_uint8(np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan]), lo=0.0, hi=1.0)
    np.testing.assert_array_equal(q, [0, 0, 128, 255, 255, 0])
    q, lo, hi = ranking.quantise_uint8(np.full((2, 3), 4.0))
    assert not q.any() and lo == hi == 4.0
    with pytest.raises(ValueError, match="lo <= hi"):
        ranking.quantise_uint8(np.ones(3), lo=2.0, hi=1.0)


def test_choose_columns_returns_all_of_order_when_it_fits():
    order = np.array([4, 2, 0, 1, 3])
    np.testing.assert_array_equal(ranking.choose_columns(order, 5), order)


def test_choose_columns_keeps_every_selected_input_in_display_order():
    rng = np.random.default_rng(3)
    order = rng.permutation(5000)
    keep = rng.choice(5000, size=37, replace=False)
    cols = ranking.choose_columns(order, 300, keep=keep)
    assert len(cols) == 300 and len(set(cols.tolist())) == 300
    assert set(keep.tolist()) <= set(cols.tolist())
    position = np.empty(5000, dtype=int)
    position[order] = np.arange(5000)
    assert np.all(np.diff(position[cols]) > 0)  # A subsequence of order.
    others = np.sort(position[np.setdiff1d(cols, keep)])
    gaps = np.diff(others)
    assert gaps.max() <= 2 * gaps.min() + 2  # The rest are evenly spread.


def test_choose_columns_subsamples_the_selection_when_it_alone_is_too_large():
    order = np.arange(1000)[::-1]
    keep = np.arange(0, 1000, 2)
    cols = ranking.choose_columns(order, 50, keep=keep)
    assert len(cols) == 50 and set(cols.tolist()) <= set(keep.tolist())
    assert cols[0] == 998 and cols[-1] == 0 and np.all(np.diff(cols) < 0)


def test_choose_columns_rejects_kept_inputs_missing_from_order():
    with pytest.raises(ValueError, match="not in order"):
        ranking.choose_columns(np.arange(10), 5, keep=np.array([3, 12]))


def test_selection_score_equals_the_two_group_effect_size_on_large_data():
    rng = np.random.default_rng(5)
    acts = (rng.normal(size=(20_000, 16)) * rng.uniform(0.1, 50, 16) + rng.uniform(-5, 500, 16)).astype(np.float32)
    selection = np.sort(rng.choice(20_000, 1_500, replace=False))
    chosen = np.zeros(20_000, bool)
    chosen[selection] = True
    inside, outside = acts[chosen].astype(np.float64), acts[~chosen].astype(np.float64)
    ss = ((inside - inside.mean(0)) ** 2).sum(0) + ((outside - outside.mean(0)) ** 2).sum(0)
    expected = (inside.mean(0) - outside.mean(0)) / np.sqrt(ss / (20_000 - 2))
    got = ranking.channel_scores(acts, None, "selection", selection=selection)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
