"""Channel ranking and heatmap reduction for the channel x input heatmap.

Scores pick which channels (rows) to show; :func:`choose_columns` picks which
inputs (columns) fit; :func:`quantise_uint8` shrinks the cells to one byte so a
512 x 2,000 heatmap is about 1 MB on the page instead of 4 MB as float32.
"""

from __future__ import annotations

import numpy as np

from analysis.validation import check_acts

CRITERIA = ("variance", "f_stat", "mean", "selection")


def _check_index_array(values, name, n):
    values = np.asarray(values)
    if values.ndim != 1 or not (np.issubdtype(values.dtype, np.integer) or values.size == 0):
        raise ValueError(f"{name} must be a 1-D array of integer input indices; got {values.dtype} {values.shape}.")
    values = values.astype(np.intp, copy=False)
    if values.size and (values.min() < 0 or values.max() >= n):
        raise ValueError(f"{name} indices must be in 0..{n - 1}; got range {values.min()}..{values.max()}.")
    return values


def _f_stat(x, labels):
    n = x.shape[0]
    present, groups = np.unique(labels, return_inverse=True)
    k = present.size
    if k < 2:
        raise ValueError(f"criterion 'f_stat' needs at least 2 classes with members; got {k}.")
    if n <= k:
        raise ValueError(f"criterion 'f_stat' needs more inputs ({n}) than classes ({k}).")
    counts = np.bincount(groups, minlength=k).astype(np.float64)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), groups] = 1.0
    means = (onehot.T @ x) / counts[:, None]
    grand = x.mean(axis=0)
    between = counts @ (means - grand) ** 2
    within = ((x - means[groups]) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (between / (k - 1)) / (within / (n - k))
    # Perfect separation (no spread within classes, some between) is +inf, as in
    # scipy.stats.f_oneway; a constant channel separates nothing, so 0.
    f[within == 0] = np.inf
    f[np.ptp(x, axis=0) == 0] = 0.0
    return f


def _selection_effect(x, selection):
    n = x.shape[0]
    chosen = np.zeros(n, dtype=bool)
    chosen[selection] = True
    n_in = int(chosen.sum())
    if n_in == 0:
        raise ValueError("criterion 'selection' needs a non-empty selection; select some inputs first.")
    if n_in == n:
        raise ValueError("criterion 'selection' compares the selection with the rest, "
                         "but every input is selected; leave some inputs out.")
    if n < 3:
        raise ValueError(f"criterion 'selection' needs at least 3 inputs; got {n}.")
    # One pass over all rows (centred on the overall mean, float64) and one over the
    # selected rows; the rest's sums are the difference: no copy of the unselected rows.
    mean = x.mean(axis=0, dtype=np.float64)
    total_sq, low, high = _column_spread(x, mean)
    inside = x[chosen] - mean
    in_sum, in_sq = inside.sum(axis=0), np.einsum("ij,ij->j", inside, inside)
    n_out = n - n_in
    out_sum = -in_sum  # deviations about the overall mean sum to zero
    diff = in_sum / n_in - out_sum / n_out
    ss = (in_sq - in_sum ** 2 / n_in) + (total_sq - in_sq - out_sum ** 2 / n_out)
    ss[ss <= 1e-12 * total_sq] = 0.0  # rounding residue of the difference: constant groups
    pooled_sd = np.sqrt(np.maximum(ss, 0.0) / (n - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = diff / pooled_sd  # +/-inf where both groups are constant but differ.
    # Exact test: float means of a constant channel can differ by an ulp between groups.
    d[(diff == 0) | (high == low)] = 0.0
    return d


def _column_spread(x, mean, rows: int = 8192):
    """Per column: sum of squares about ``mean`` (float64), minimum and maximum; in row blocks."""
    total = np.zeros(x.shape[1])
    low, high = x.min(axis=0), x.max(axis=0)
    for start in range(0, x.shape[0], rows):
        block = x[start:start + rows] - mean
        total += np.einsum("ij,ij->j", block, block)
    return total, low, high


def channel_scores(acts, labels, criterion, selection=None):
    """Score every channel; higher means more worth showing.

    Parameters
    ----------
    acts : ndarray of shape (n_inputs, n_channels)
        Finite activations of one layer and one summary.
    labels : ndarray of shape (n_inputs,), int, or None
        Classes 0..K-1; required only by ``"f_stat"``.
    criterion : {"variance", "f_stat", "mean", "selection"}
        ``"variance"``: population variance across inputs.
        ``"f_stat"``: one-way ANOVA F across the classes present (as
        ``scipy.stats.f_oneway``); a constant channel scores 0, a channel that
        is constant within every class but differs between them scores +inf.
        ``"mean"``: mean activation.
        ``"selection"``: Cohen's d of the selected inputs against the rest,
        ``(mean_sel - mean_rest) / pooled_sd``, positive where the selection
        activates the channel more.  Pooled SD is used (not Welch's t) so a
        single selected input works.  +/-inf where both groups are constant
        but differ.
    selection : ndarray of shape (n_selected,), int, optional
        Input indices; required by ``"selection"``, non-empty and not every input.

    Returns
    -------
    ndarray of shape (n_channels,), float64
    """
    acts = check_acts(acts)
    if criterion not in CRITERIA:
        raise ValueError(f"Unknown criterion {criterion!r}; allowed: {', '.join(CRITERIA)}.")
    n = acts.shape[0]
    x = acts.astype(np.float64)
    if criterion == "variance":
        return x.var(axis=0)
    if criterion == "mean":
        return x.mean(axis=0)
    if criterion == "f_stat":
        if labels is None:
            raise ValueError("criterion 'f_stat' needs labels (one class index per input).")
        labels = np.asarray(labels)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be an integer array of shape ({n},); got {labels.dtype} {labels.shape}.")
        return _f_stat(x, labels)
    if selection is None:
        raise ValueError("criterion 'selection' needs a selection of input indices; got None.")
    return _selection_effect(x, _check_index_array(selection, "selection", n))


def top_channels(scores, k):
    """Indices of the ``k`` highest scores, highest first.

    Parameters
    ----------
    scores : ndarray of shape (n_channels,)
    k : int or None
        How many; None or ``k >= n_channels`` gives every channel.

    Returns
    -------
    ndarray of shape (min(k, n_channels),), int
        Ties keep the lower channel index first; NaN scores come last.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D (n_channels,); got shape {scores.shape}.")
    if k is not None and (not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1):
        raise ValueError(f"k must be a positive integer or None (all channels); got {k!r}.")
    order = np.argsort(-scores, kind="stable")
    return order if k is None else order[: int(k)]


def quantise_uint8(matrix, lo=None, hi=None):
    """Map values linearly onto 0..255 for a compact heatmap.

    Parameters
    ----------
    matrix : ndarray of any shape
        Real values.  NaN maps to 0.
    lo, hi : float, optional
        Values mapped to 0 and 255 (clipped outside); default the finite min
        and max of ``matrix``.

    Returns
    -------
    quantised : ndarray of the same shape, uint8
        ``round(255 * (matrix - lo) / (hi - lo))``; all 0 when ``hi == lo``.
    lo, hi : float
        The range used, so a colour bar can be labelled in original units
        (cell value v stands for ``lo + v * (hi - lo) / 255``).
    """
    matrix = np.asarray(matrix)
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(matrix.dtype, np.complexfloating):
        raise ValueError(f"matrix must be real numeric; got dtype {matrix.dtype}.")
    finite = matrix[np.isfinite(matrix)]
    if lo is None:
        lo = float(finite.min()) if finite.size else 0.0
    if hi is None:
        hi = float(finite.max()) if finite.size else 0.0
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
        raise ValueError(f"lo and hi must be finite with lo <= hi; got lo={lo}, hi={hi}.")
    if hi == lo:
        return np.zeros(matrix.shape, dtype=np.uint8), lo, hi
    scaled = (matrix.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    np.clip(scaled, 0, 255, out=scaled)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    return np.rint(scaled).astype(np.uint8), lo, hi


def _evenly(count, want):
    """``want`` indices into range(count), evenly spaced, first and last included."""
    if want >= count:
        return np.arange(count)
    if want == 1:
        return np.array([0])
    # floor(x + 0.5) is monotone, so spacing >= 1 keeps the indices distinct.
    return np.floor(np.linspace(0, count - 1, want) + 0.5).astype(np.intp)


def choose_columns(order, max_cols, keep=None):
    """Inputs to draw as heatmap columns, in display order.

    Parameters
    ----------
    order : ndarray of shape (n_ordered,), int
        Input indices in display order, each at most once.
    max_cols : int
        Most columns to return.
    keep : ndarray of shape (n_keep,), int, optional
        Inputs that must be shown (the selection); each must appear in ``order``.

    Returns
    -------
    ndarray of shape (n_cols,), int
        A subsequence of ``order``: all of it if it fits; otherwise every input
        in ``keep`` plus evenly spaced others, ``max_cols`` in all.  If ``keep``
        alone exceeds ``max_cols``, ``keep`` is evenly subsampled.
    """
    order = np.asarray(order)
    if order.ndim != 1 or not (np.issubdtype(order.dtype, np.integer) or order.size == 0):
        raise ValueError(f"order must be a 1-D integer array; got {order.dtype} {order.shape}.")
    order = order.astype(np.intp, copy=False)
    if np.unique(order).size != order.size:
        raise ValueError("order must list each input at most once.")
    if not isinstance(max_cols, (int, np.integer)) or isinstance(max_cols, bool) or max_cols < 1:
        raise ValueError(f"max_cols must be a positive integer; got {max_cols!r}.")
    if order.size <= max_cols:
        return order.copy()
    kept = np.zeros(order.size, dtype=bool)
    if keep is not None:
        keep = np.unique(_check_index_array(keep, "keep", np.iinfo(np.intp).max))
        kept = np.isin(order, keep)
        missing = keep.size - int(kept.sum())
        if missing:
            raise ValueError(f"keep has {missing} input(s) that are not in order; only ordered inputs can be kept.")
    kept_pos = np.flatnonzero(kept)
    if kept_pos.size >= max_cols:
        return order[kept_pos[_evenly(kept_pos.size, max_cols)]]
    other_pos = np.flatnonzero(~kept)
    chosen = other_pos[_evenly(other_pos.size, max_cols - kept_pos.size)]
    return order[np.sort(np.concatenate([kept_pos, chosen]))]
