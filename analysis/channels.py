"""Find channels that carry little information about the inputs.

Dead (almost never active), weak (mean activation a small fraction of the
layer's typical channel), always on (a constant, i.e. a bias), border
(activation mass in the map's border band, typically a padding artefact) and
redundant (near copy of an earlier channel, judged on full maps: two channels
with the same spatial means can have different maps).  The table that combines
them, explains each flag and exports the rows is :mod:`analysis.channel_table`.
"""

from __future__ import annotations


import numpy as np

__all__ = ["dead_channels", "weak_channels", "relative_strength", "always_on_channels", "border_area_share",
           "border_scores", "border_channels", "redundant_channels", "map_redundancy", "merge_fits",
           "REASON_WEIGHTS", "REASON_NAMES"]

#: Weight of each reason in :func:`unimportant_table`'s ``score``.
REASON_WEIGHTS = {"dead": 1.0, "weak": 0.9, "redundant": 0.8, "low_contribution": 0.7, "always_on": 0.6,
                  "border": 0.4}
#: How each reason reads in the page and in exports.
REASON_NAMES = {"dead": "dead", "weak": "weak", "redundant": "redundant", "low_contribution": "low contribution",
                "always_on": "always on", "border": "border-attending"}


def _as_2d(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"{name} must be 2-D (N inputs, C channels), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _check_unit(name: str, value, low_open: bool = False, high: float = 1.0) -> float:
    value = float(value)
    if not ((0.0 < value if low_open else 0.0 <= value) and value <= high):
        raise ValueError(f"{name} must be in {'(' if low_open else '['}0, {high}], got {value}")
    return value


def dead_channels(acts_max=None, frac_active=None, eps: float = 1e-6, max_active_share: float = 0.01) -> np.ndarray:
    """Channels that exceed ``eps`` in at most ``max_active_share`` of inputs.

    Parameters
    ----------
    acts_max : ndarray of float, shape (N, C), optional
        Per-input maximum activation of each channel (over the spatial map).
    frac_active : ndarray of float, shape (C,), optional
        Precomputed share of inputs on which each channel is active; used
        instead of ``acts_max`` when given (one of the two is required).
    eps : float, default 1e-6
        Activation above this counts as active.
    max_active_share : float in [0, 1], default 0.01

    Returns
    -------
    ndarray of bool, shape (C,)
    """
    return _active_share(acts_max, frac_active, eps) <= _check_unit("max_active_share", max_active_share)


def _active_share(acts_max, frac_active, eps: float) -> np.ndarray:
    if frac_active is not None:
        share = np.asarray(frac_active, dtype=np.float64)
        if share.ndim != 1 or np.any(~np.isfinite(share)) or np.any((share < 0) | (share > 1)):
            raise ValueError(f"frac_active must be 1-D (C,) with values in [0, 1], got shape {share.shape}")
        if acts_max is not None and np.shape(acts_max)[-1] != share.shape[0]:
            raise ValueError("acts_max and frac_active disagree on the number of channels C")
        return share
    if acts_max is None:
        raise ValueError("pass acts_max (N, C) or frac_active (C,)")
    return (_as_2d("acts_max", acts_max) > eps).mean(axis=0)


def _cv(acts_mean: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    mean = acts_mean.mean(axis=0)
    cv = np.full(mean.shape, np.inf)
    active = mean > eps
    cv[active] = acts_mean[:, active].std(axis=0) / mean[active]
    return mean, cv


def relative_strength(acts_mean, eps: float = 1e-6) -> np.ndarray:
    """Each channel's mean activation over the median of the layer's active channels.

    Parameters
    ----------
    acts_mean : ndarray of float, shape (N, C)
        Per-input mean activation of each channel (over the spatial map).
    eps : float, default 1e-6
        Channels whose mean over inputs is at most ``eps`` do not enter the
        median (they are dead).

    Returns
    -------
    ndarray of float64, shape (C,)
        0 for a channel that is never active; NaN for every channel when no
        channel of the layer is active.
    """
    mean = _as_2d("acts_mean", acts_mean).mean(axis=0)
    live = mean > eps
    if not live.any():
        return np.full(mean.shape, np.nan)
    return np.clip(mean, 0.0, None) / np.median(mean[live])


def weak_channels(acts_mean, threshold: float = 0.05, eps: float = 1e-6) -> np.ndarray:
    """Channels whose mean activation is below ``threshold`` x the layer's median channel.

    Zeroing such a channel changes the next layer's input by little, whatever
    the channel encodes.

    Parameters
    ----------
    acts_mean : ndarray of float, shape (N, C)
    threshold : float in (0, 1], default 0.05
    eps : float, default 1e-6

    Returns
    -------
    ndarray of bool, shape (C,)
    """
    rel = relative_strength(acts_mean, eps)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(rel, nan=np.inf) < _check_unit("threshold", threshold, low_open=True)


def always_on_channels(acts_mean, cv_threshold: float = 0.05, eps: float = 1e-6) -> np.ndarray:
    """Active channels whose activation hardly varies across inputs.

    Parameters
    ----------
    acts_mean : ndarray of float, shape (N, C)
        Per-input mean activation of each channel (over the spatial map).
    cv_threshold : float, default 0.05
        Flag when std / mean across inputs is below this.
    eps : float, default 1e-6
        A channel must have mean > eps to count as on.

    Returns
    -------
    ndarray of bool, shape (C,)
    """
    if not float(cv_threshold) > 0:
        raise ValueError(f"cv_threshold must be > 0, got {cv_threshold}")
    mean, cv = _cv(_as_2d("acts_mean", acts_mean), eps)
    return (mean > eps) & (cv < cv_threshold)


def _band_pixels(size: int, band: float) -> int:
    return int(np.clip(np.round(band * size), 1, (size + 1) // 2))


def border_area_share(height: int, width: int, band: float = 0.15) -> float:
    """Share of an ``height`` x ``width`` map's pixels in the border band.

    The band is ``max(1, round(band * H))`` rows at top and bottom and
    ``max(1, round(band * W))`` columns at left and right; e.g. 0.49 for
    28 x 28 and band 0.15.
    """
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"height and width must be >= 1, got {height} x {width}")
    _check_unit("band", band, low_open=True, high=0.5)
    bh, bw = _band_pixels(int(height), band), _band_pixels(int(width), band)
    inner = max(int(height) - 2 * bh, 0) * max(int(width) - 2 * bw, 0)
    return 1.0 - inner / (int(height) * int(width))


def border_scores(maps, band: float = 0.15) -> np.ndarray:
    """Share of each channel's activation mass in the border band.

    Parameters
    ----------
    maps : ndarray of float, shape (n_samples, H, W, C)
        Full activation maps (channels last) of a sample of inputs.
        Negative values are clipped to 0.
    band : float in (0, 0.5], default 0.15
        Relative width of the band on each side (see
        :func:`border_area_share`).

    Returns
    -------
    ndarray of float64, shape (C,)
        Per-sample border share averaged over the samples where the channel
        has any mass; NaN for a channel with no mass in any sample.
    """
    m = np.asarray(maps)
    if m.ndim != 4 or min(m.shape) < 1:
        raise ValueError(f"maps must be 4-D (n_samples, H, W, C), got shape {m.shape}")
    _check_unit("band", band, low_open=True, high=0.5)
    m = np.clip(m.astype(np.float64, copy=False), 0.0, None)
    if not np.all(np.isfinite(m)):
        raise ValueError("maps contain NaN or inf")
    h, w = m.shape[1:3]
    bh, bw = _band_pixels(h, band), _band_pixels(w, band)
    total = m.sum(axis=(1, 2))  # (n, C)
    inner = m[:, bh:h - bh, bw:w - bw, :].sum(axis=(1, 2))
    has_mass = total > 0
    share = np.where(has_mass, (total - inner) / np.where(has_mass, total, 1.0), 0.0)
    counts = has_mass.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, share.sum(axis=0) / counts, np.nan)


def border_channels(scores, expected: float | None = None, factor: float = 2.0, min_share: float = 0.6,
                    band: float = 0.15) -> np.ndarray:
    """Channels whose activation concentrates in the border band.

    A channel is flagged when its border share ``s`` is >= ``min_share`` and
    its mass per pixel in the band is >= ``factor`` times its mass per pixel
    inside, i.e. ``(s / a) / ((1 - s) / (1 - a)) >= factor`` with ``a`` the
    band's area share.  (Comparing ``s`` with ``factor * a`` directly would
    never flag anything at the defaults: the 0.15 band covers about half the
    map, and 2 x 0.5 = 1.)

    Parameters
    ----------
    scores : ndarray of float, shape (C,)
        From :func:`border_scores`; NaN is never flagged.
    expected : float in (0, 1), optional
        Band area share ``a``; pass ``border_area_share(H, W, band)``.  When
        None, the large-map limit ``1 - (1 - 2 band)^2`` is used.
    factor : float >= 1, default 2.0
    min_share : float in [0, 1], default 0.6
    band : float, default 0.15
        Only used when ``expected`` is None.

    Returns
    -------
    ndarray of bool, shape (C,)
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D (C,), got shape {s.shape}")
    if expected is None:
        expected = 1.0 - (1.0 - 2.0 * _check_unit("band", band, low_open=True, high=0.5)) ** 2
    a = float(expected)
    if not 0.0 < a < 1.0:
        raise ValueError(f"expected (band area share) must be in (0, 1), got {expected}")
    if not float(factor) >= 1.0:
        raise ValueError(f"factor must be >= 1, got {factor}")
    min_share = _check_unit("min_share", min_share)
    needed = max(min_share, factor * a / (1.0 - a + factor * a))
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(s, nan=-1.0) >= needed


def _redundancy(acts: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, c = acts.shape
    mean = acts.mean(axis=0)
    centred = acts - mean
    std = centred.std(axis=0)
    varying = np.flatnonzero(std > 1e-12 + 1e-9 * np.abs(mean))
    redundant = np.zeros(c, dtype=bool)
    partner = np.full(c, -1, dtype=np.int64)
    corr = np.full(c, np.nan)
    if varying.size < 2:
        return redundant, partner, corr
    zs = centred[:, varying] / std[varying]
    r = (zs.T @ zs) / n  # Pearson correlation among varying channels
    high = np.triu(r >= threshold, k=1)  # high[i, j]: earlier i, later j
    kept = np.ones(varying.size, dtype=bool)
    for j in np.flatnonzero(high.any(axis=0)):
        cand = np.flatnonzero(high[:j, j] & kept[:j])
        if cand.size:
            best = cand[np.argmax(r[cand, j])]
            kept[j] = False
            redundant[varying[j]] = True
            partner[varying[j]] = varying[best]
            corr[varying[j]] = r[best, j]
    return redundant, partner, corr


def redundant_channels(acts, threshold: float = 0.98) -> tuple[np.ndarray, np.ndarray]:
    """Channels that nearly copy an earlier kept channel.

    Channels are visited in index order; channel j is redundant when its
    Pearson correlation across inputs with some earlier channel that is not
    itself redundant is >= ``threshold``.  Its partner is the most correlated
    such channel.  Correlation is signed (anti-correlated channels are not
    copies).  Constant channels are never redundant nor partners.

    Parameters
    ----------
    acts : ndarray of float, shape (N, C)
        Per-input summary (e.g. spatial mean) of each channel; N >= 2.
    threshold : float in (0, 1], default 0.98

    Returns
    -------
    redundant : ndarray of bool, shape (C,)
    partner : ndarray of int64, shape (C,)
        Index of the earlier channel it copies; -1 when not redundant.
    """
    a = _as_2d("acts", acts)
    if a.shape[0] < 2:
        raise ValueError(f"acts needs at least 2 inputs to correlate channels, got {a.shape[0]}")
    redundant, partner, _ = _redundancy(a, _check_unit("threshold", threshold, low_open=True))
    return redundant, partner


def map_redundancy(maps, threshold: float = 0.98, max_rows: int = 200_000,
                   random_state=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Redundant channels judged on full maps (every input and position a row).

    Like :func:`redundant_channels`, but on the maps: a channel is a copy only
    if it follows its partner pixel by pixel, not just in the spatial mean.

    Parameters
    ----------
    maps : ndarray of float, shape (n_samples, *positions, C)
        Full activation maps of a sample of inputs, channels last.
    threshold : float in (0, 1], default 0.98
    max_rows : int, default 200000
        At most this many (input, position) rows are correlated (a random
        subset, drawn with ``random_state``).
    random_state : int or numpy Generator

    Returns
    -------
    redundant : ndarray of bool, shape (C,)
    partner : ndarray of int64, shape (C,)
        -1 when not redundant.
    correlation : ndarray of float64, shape (C,)
        With the partner; NaN when not redundant.
    """
    m = np.asarray(maps)
    if m.ndim < 2 or m.shape[0] < 1:
        raise ValueError(f"maps must be (n_samples, *positions, C), got shape {m.shape}")
    flat = m.reshape(-1, m.shape[-1])
    if flat.shape[0] > int(max_rows):
        rows = np.random.default_rng(random_state).choice(flat.shape[0], int(max_rows), replace=False)
        flat = flat[np.sort(rows)]
    flat = _as_2d("maps", flat)
    if flat.shape[0] < 2:
        raise ValueError("maps need at least 2 rows (inputs x positions) to correlate channels")
    return _redundancy(flat, _check_unit("threshold", threshold, low_open=True))


def merge_fits(maps, partner) -> dict:
    """Least-squares ``channel ~ scale * partner + offset`` on full maps, for each redundant channel.

    Replacing a redundant channel by this fit (or, equivalently, deleting it
    and folding its outgoing weights into the partner's) removes it without
    throwing away its share of the signal.

    Parameters
    ----------
    maps : ndarray of float, shape (n_samples, *positions, C)
    partner : ndarray of int, shape (C,)
        From :func:`map_redundancy`; -1 for channels that are not redundant.

    Returns
    -------
    dict[int, (int, float, float)]
        channel -> (partner, scale, offset).
    """
    flat = np.asarray(maps, dtype=np.float64).reshape(-1, np.shape(maps)[-1])
    fits = {}
    for j in np.flatnonzero(np.asarray(partner) >= 0):
        p = int(partner[j])
        x, y = flat[:, p], flat[:, j]
        var = x.var()
        scale = float(((x - x.mean()) * (y - y.mean())).mean() / var) if var > 0 else 0.0
        fits[int(j)] = (p, scale, float(y.mean() - scale * x.mean()))
    return fits
