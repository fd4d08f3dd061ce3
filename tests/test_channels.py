import warnings

import numpy as np
import pytest

from analysis.channels import (
    always_on_channels,
    border_area_share,
    border_channels,
    border_scores,
    dead_channels,
    map_redundancy,
    merge_fits,
    redundant_channels,
    relative_strength,
    weak_channels,
)
from analysis.channel_table import explain, table_csv, unimportant_table

N, H, W = 300, 12, 12
NORMAL = [0, 5, 6, 7]  # plain random channels everywhere; must never be flagged
DEAD, CONSTANT, DUPLICATE, BORDER = 1, 2, 3, 4


def _planted_layer(seed=0):
    """Summaries (N, 8) with a dead, a constant and a scaled-duplicate channel."""
    rng = np.random.default_rng(seed)
    acts_mean = np.abs(rng.normal(1.0, 0.8, size=(N, 8))) + 0.05
    acts_mean[:, DEAD] = 0.0
    acts_mean[:2, DEAD] = 0.3  # active on 2/300 < 1% of inputs
    acts_mean[:, CONSTANT] = 3.0
    acts_mean[:, DUPLICATE] = 2.5 * acts_mean[:, 0] + rng.normal(0, 0.01, N)
    acts_max = acts_mean * 2.0
    return acts_max.astype(np.float32), acts_mean.astype(np.float32)


def _planted_maps(seed=0, n=16, c=8):
    """Maps (n, H, W, C): channel BORDER fires only on the one-pixel frame."""
    rng = np.random.default_rng(seed)
    maps = rng.random((n, H, W, c)).astype(np.float32)
    frame = np.ones((H, W), dtype=bool)
    frame[1:-1, 1:-1] = False
    maps[..., BORDER] = np.where(frame, rng.random((n, H, W)) + 0.5, 0.0)
    maps[..., DEAD] = 0.0
    return maps


def test_dead_channel_flagged_and_live_channels_not():
    acts_max, _ = _planted_layer()
    dead = dead_channels(acts_max)
    assert np.flatnonzero(dead).tolist() == [DEAD]
    share = (acts_max > 1e-6).mean(axis=0)
    np.testing.assert_array_equal(dead_channels(None, frac_active=share), dead)
    # Stricter share: 2/300 active inputs is too many at 0.5%.
    assert not dead_channels(acts_max, max_active_share=0.005)[DEAD]


def test_constant_channel_is_always_on_and_random_ones_are_not():
    _, acts_mean = _planted_layer()
    on = always_on_channels(acts_mean)
    assert np.flatnonzero(on).tolist() == [CONSTANT]


def test_border_only_channel_scores_high_and_is_flagged():
    scores = border_scores(_planted_maps())
    assert scores[BORDER] == pytest.approx(1.0)
    expected = border_area_share(H, W)
    assert expected == pytest.approx(1 - (8 * 8) / 144)  # 2-pixel band on 12 x 12
    np.testing.assert_allclose(scores[NORMAL], expected, atol=0.03)
    assert np.isnan(scores[DEAD])
    flags = border_channels(scores, expected)
    assert np.flatnonzero(flags).tolist() == [BORDER]
    assert np.flatnonzero(border_channels(scores)).tolist() == [BORDER]


def test_border_needs_enrichment_not_just_a_large_share():
    # 0.62 share of a band covering 56% of the map is barely above uniform.
    assert not border_channels(np.array([0.62]), expected=0.56)[0]
    assert border_channels(np.array([0.85]), expected=0.56)[0]


def test_negative_activations_do_not_count_as_mass():
    maps = np.zeros((2, 10, 10, 1))
    maps[:, 4:6, 4:6, 0] = 1.0
    maps[:, 0, :, 0] = -5.0
    assert border_scores(maps)[0] == 0.0


def test_scaled_duplicate_is_redundant_with_its_original():
    _, acts_mean = _planted_layer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constant/dead channels must not produce NaN warnings
        redundant, partner = redundant_channels(acts_mean)
    assert np.flatnonzero(redundant).tolist() == [DUPLICATE]
    assert partner[DUPLICATE] == 0
    assert np.all(partner[~redundant] == -1)


def test_redundancy_is_judged_against_kept_channels_only():
    # a ~ b (r=0.989), b ~ c (r=0.990) but a vs c only 0.958: b is dropped
    # as a copy of a, so c has no kept partner and stays.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 5000))
    y -= x * (x @ y) / (x @ x)
    y *= np.linalg.norm(x) / np.linalg.norm(y)
    acts = np.stack([x, x + 0.15 * y, x + 0.3 * y, -x], axis=1)
    redundant, partner = redundant_channels(acts)
    assert redundant.tolist() == [False, True, False, False]  # anti-copy (-x) is not redundant
    assert partner.tolist() == [-1, 0, -1, -1]


def test_table_lists_only_planted_channels_most_unimportant_first():
    acts_max, acts_mean = _planted_layer()
    rows = unimportant_table(acts_max, acts_mean, border_scores(_planted_maps()),
                             border_expected=border_area_share(H, W))
    by_channel = {r["channel"]: r for r in rows}
    assert sorted(by_channel) == [DEAD, CONSTANT, DUPLICATE, BORDER]
    assert by_channel[DEAD]["reasons"] == ["dead"]
    assert by_channel[CONSTANT]["reasons"] == ["always_on"]
    assert by_channel[DUPLICATE]["reasons"] == ["redundant"] and by_channel[DUPLICATE]["partner"] == 0
    assert by_channel[BORDER]["reasons"] == ["border"]
    assert [r["channel"] for r in rows] == [DEAD, DUPLICATE, CONSTANT, BORDER]
    assert by_channel[DEAD]["border_share"] is None  # NaN made JSON-safe


def test_invalid_arguments_are_rejected_with_reason():
    with pytest.raises(ValueError, match="acts_max"):
        dead_channels(np.zeros(5))
    with pytest.raises(ValueError, match="acts_max .* or frac_active"):
        dead_channels()
    with pytest.raises(ValueError, match="band"):
        border_scores(np.zeros((1, 4, 4, 2)), band=0.7)
    with pytest.raises(ValueError, match="4-D"):
        border_scores(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="threshold"):
        redundant_channels(np.zeros((5, 3)), threshold=1.5)
    with pytest.raises(ValueError, match="number of channels"):
        unimportant_table(np.zeros((5, 3)), np.zeros((5, 4)))


def test_weak_channel_is_a_small_fraction_of_the_median_channel():
    _, acts_mean = _planted_layer()
    acts_mean = acts_mean.copy()
    acts_mean[:, 6] *= 0.01  # 1% of its former strength, still active on every input
    rel = relative_strength(acts_mean)
    assert rel[6] < 0.05 and rel[DEAD] < 0.01 and np.all(rel[[0, 5, 7]] > 0.3)
    assert np.flatnonzero(weak_channels(acts_mean)).tolist() == [DEAD, 6]
    rows = {r["channel"]: r for r in unimportant_table(None, acts_mean, redundancy_threshold=None)}
    assert rows[6]["reasons"] == ["weak"]
    assert rows[6]["explanation"][0].startswith("weak: mean activation 1") and "median channel" in rows[6]["explanation"][0]
    assert 6 not in {r["channel"] for r in unimportant_table(None, acts_mean, weak_threshold=None,
                                                              redundancy_threshold=None)}


def test_same_means_different_maps_are_not_redundant_on_maps():
    rng = np.random.default_rng(1)
    base = rng.random((40, 6, 6, 1))
    shuffled = base[:, ::-1, ::-1, :] + rng.normal(0, 1e-3, base.shape)  # same mean, other pixels
    copy = 1.7 * base + rng.normal(0, 1e-3, base.shape)
    maps = np.concatenate([base, shuffled, copy, rng.random((40, 6, 6, 1))], axis=3)
    means = maps.mean(axis=(1, 2))
    assert redundant_channels(means)[0][1]  # the spatial means say "copy"
    redundant, partner, corr = map_redundancy(maps)
    assert redundant.tolist() == [False, False, True, False]
    assert partner[2] == 0 and corr[2] > 0.99 and np.isnan(corr[1])
    rows = unimportant_table(None, means, redundancy=(redundant, partner, corr), weak_threshold=None)
    assert [r["channel"] for r in rows] == [2]
    assert rows[0]["explanation"] == [f"redundant: corr {corr[2]:.3f} with ch 0 on full maps"]


def test_map_redundancy_subsamples_rows_reproducibly():
    rng = np.random.default_rng(2)
    maps = rng.random((30, 10, 10, 3))
    maps[..., 2] = maps[..., 0] * 3
    a = map_redundancy(maps, max_rows=500, random_state=0)
    b = map_redundancy(maps, max_rows=500, random_state=0)
    assert a[0].tolist() == [False, False, True]
    np.testing.assert_array_equal(a[2], b[2])


def test_each_reason_is_explained_with_its_figure():
    acts_max, acts_mean = _planted_layer()
    rows = {r["channel"]: r for r in unimportant_table(
        acts_max, acts_mean, border_scores(_planted_maps()), border_expected=border_area_share(H, W))}
    assert rows[DEAD]["explanation"] == ["dead: active on 0.7% of inputs"]
    assert rows[CONSTANT]["explanation"] == ["always on: varies by 0% (CV) across inputs"]
    assert rows[DUPLICATE]["explanation"] == ["redundant: corr 1.000 with ch 0 on stored means"]
    assert rows[BORDER]["explanation"] == ["border-attending: 100% of its mass in the outer 15% band (56% of the map)"]
    assert explain({"reasons": ["dead", "border"], "active_share": 0.001, "border_share": 0.82,
                    "border_expected": 0.49}) == [
        "dead: active on 0.1% of inputs", "border-attending: 82% of its mass in the outer 15% band (49% of the map)"]


def test_csv_export_has_layer_channel_reasons_and_figures():
    acts_max, acts_mean = _planted_layer()
    rows = unimportant_table(acts_max, acts_mean)
    text = table_csv({"conv1": rows, "conv2": rows[:1]})
    lines = text.strip().split("\n")
    assert lines[0] == ("layer,channel,reasons,active_share,relative_mean,cv,border_share,partner,"
                        "correlation,relative_contribution,checked,explanation")
    assert len(lines) == 1 + len(rows) + 1
    dup = next(line for line in lines if line.startswith(f"conv1,{DUPLICATE},"))
    fields = dup.split(",")
    assert fields[2] == "redundant" and fields[7] == "0" and float(fields[8]) > 0.99
    assert lines[-1].startswith(f"conv2,{rows[0]['channel']},dead,")


def test_merge_fit_recovers_scale_and_offset_of_a_copy():
    rng = np.random.default_rng(4)
    maps = rng.random((10, 6, 6, 3))
    maps[..., 2] = 3.0 * maps[..., 0] + 0.5
    redundant, partner, _ = map_redundancy(maps)
    fits = merge_fits(maps, partner)
    assert list(fits) == [2]
    p, scale, offset = fits[2]
    assert p == 0 and scale == pytest.approx(3.0) and offset == pytest.approx(0.5)
