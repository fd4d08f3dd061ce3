import warnings

import numpy as np
import pytest

from analysis.channels import (
    always_on_channels,
    border_area_share,
    border_channels,
    border_scores,
    dead_channels,
    redundant_channels,
    unimportant_table,
)

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
