"""Jaccard similarity between inputs, via the sets of channels each input activates.

An input's *activated set* is a boolean row over channels.  Similarities are
float32 matrix products (counts of shared channels are exact in float32 up to
2**24 channels), and the N x N matrix is only formed when asked for: the block
and class summaries work in row chunks so memory stays O(chunk x N).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from analysis.validation import check_acts

RULES = ("topk", "quantile", "threshold")
# Above this many members, a class is ordered by its first principal component
# instead of average linkage (whose O(n^2) memory and time grow too fast).
LINKAGE_MAX = 2000
# Above this many inputs, block and class means are estimated from a seeded
# sample of about this many inputs (spread evenly over the blocks or classes):
# the exact means need all N^2 pairs (N=50,000: minutes; the sample: about a second).
PAIR_SAMPLE = 8000


def _check_active(active):
    active = np.asarray(active)
    if active.ndim != 2 or active.dtype != bool or active.shape[0] == 0:
        raise ValueError("active must be a non-empty 2-D boolean array (n_inputs, n_channels); "
                         f"got dtype {active.dtype} and shape {active.shape}.")
    return active


def _check_labels(labels, n, n_classes=None):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), one per input; got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers 0..K-1; got dtype {labels.dtype}.")
    if labels.min() < 0:
        raise ValueError(f"labels must be >= 0; got minimum {labels.min()}.")
    if n_classes is not None and labels.max() >= n_classes:
        raise ValueError(f"labels must be < n_classes={n_classes}; got maximum {labels.max()}.")
    return labels.astype(np.intp, copy=False)


def normalise(acts):
    """Min-max scale each channel to [0, 1] across inputs.

    Parameters
    ----------
    acts : ndarray of shape (n_inputs, n_channels)
        Finite activations.

    Returns
    -------
    ndarray of shape (n_inputs, n_channels), float32
        ``(acts - min) / (max - min)`` per channel; a constant channel maps to 0.
    """
    acts = check_acts(acts).astype(np.float32, copy=False)
    lo = acts.min(axis=0)
    span = acts.max(axis=0) - lo
    out = acts - lo
    np.divide(out, span, out=out, where=span > 0)
    out[:, span == 0] = 0.0
    return out


def activated_sets(acts, rule, value):
    """Which channels each input activates.

    Parameters
    ----------
    acts : ndarray of shape (n_inputs, n_channels)
        Finite activations.
    rule : {"topk", "quantile", "threshold"}
        ``"topk"``: each input's ``ceil(value * n_channels)`` highest channels
        (ties go to the lower channel index), ``value`` in (0, 1].
        ``"quantile"``: a channel is active for an input when its activation is
        strictly above that channel's ``value`` quantile across inputs, ``value``
        in [0, 1).
        ``"threshold"``: active when ``normalise(acts) >= value``, ``value`` in [0, 1].
    value : float

    Returns
    -------
    ndarray of shape (n_inputs, n_channels), bool
    """
    acts = check_acts(acts)
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}; allowed: {', '.join(RULES)}.")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"value must be a number; got {value!r}.") from None
    n, c = acts.shape
    if rule == "topk":
        if not 0 < value <= 1:
            raise ValueError(f"For rule 'topk', value is the fraction of channels and must be in (0, 1]; got {value}.")
        # round() absorbs float noise such as 0.3 * 10 = 3.0000000000000004.
        k = min(c, max(1, math.ceil(round(value * c, 9))))
        kth = np.partition(acts, c - k, axis=1)[:, c - k : c - k + 1]
        above = acts > kth
        tied = acts == kth
        room = k - above.sum(axis=1, keepdims=True)
        return above | (tied & (np.cumsum(tied, axis=1) <= room))
    if rule == "quantile":
        if not 0 <= value < 1:
            raise ValueError(f"For rule 'quantile', value must be in [0, 1); got {value}.")
        return acts > np.quantile(acts, value, axis=0)
    if not 0 <= value <= 1:
        raise ValueError(f"For rule 'threshold', value is on the normalised scale and must be in [0, 1]; got {value}.")
    return normalise(acts) >= np.float32(value)


def _rows_jaccard(rows, cols, row_sizes, col_sizes):
    """Jaccard of float32 0/1 rows against float32 0/1 cols: (len(rows), len(cols)) float32."""
    inter = rows @ cols.T
    union = np.add.outer(row_sizes, col_sizes)
    union -= inter
    # Where the union is empty the intersection is 0 too, so 0 / 1 = 0.
    union[union == 0] = 1.0
    inter /= union
    return inter


def _chunks(n, chunk):
    return ((start, min(n, start + chunk)) for start in range(0, n, chunk))


def _upper_bands(a, sizes, chunk):
    """Yield ``(lo, hi, square, right)``: the Jaccard of rows ``lo:hi`` of ``a`` against rows
    ``lo:hi`` (``square``, both orders of each pair) and against rows ``hi:`` (``right``).

    Summing ``square`` and ``right`` plus the transpose of ``right`` over the bands covers
    every ordered pair once, with half the products of the full matrix (J is symmetric).
    """
    for lo, hi in _chunks(a.shape[0], chunk):
        sim = _rows_jaccard(a[lo:hi], a[lo:], sizes[lo:hi], sizes[lo:])
        yield lo, hi, sim[:, :hi - lo], sim[:, hi - lo:]


def _run_sums(values, groups, axis, dtype=np.float64):
    """Sums of ``values`` along ``axis`` over the runs of equal, sorted ``groups``; (sums, run ids)."""
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.add.reduceat(values, first, axis=axis, dtype=dtype), groups[first]


def _check_positive(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def jaccard_matrix(active):
    """Pairwise Jaccard similarity ``|a & b| / |a | b|`` between inputs.

    Parameters
    ----------
    active : ndarray of shape (n_inputs, n_channels), bool

    Returns
    -------
    ndarray of shape (n_inputs, n_inputs), float32
        By definition the similarity of two empty sets (including an empty set
        with itself) is 0, so an input that activates nothing is similar to
        nothing.  Needs about 4 * n_inputs**2 bytes plus one row chunk.
    """
    a = _check_active(active).astype(np.float32)
    sizes = a.sum(axis=1)
    out = np.empty((a.shape[0], a.shape[0]), dtype=np.float32)
    for lo, hi in _chunks(a.shape[0], 1024):
        out[lo:hi] = _rows_jaccard(a[lo:hi], a, sizes[lo:hi], sizes)
    return out


def _pc1(x, random_state):
    """Scores on the first principal component (its sign fixed: largest loading positive).

    Through the features' covariance (C x C, C = channels): for a class of 5,000
    inputs this took milliseconds where a randomized SVD took about a second.
    ``random_state`` is kept for the signature; the result is deterministic.
    """
    x = x - x.mean(axis=0)
    if not np.any(x):
        return np.zeros(x.shape[0])
    _, vectors = np.linalg.eigh(x.T @ x)
    v = vectors[:, -1]
    v = v * (1.0 if v[np.argmax(np.abs(v))] >= 0 else -1.0)
    return x @ v


def _within_class_order(rows, random_state):
    """Positions 0..len(rows)-1 ordered so similar rows are adjacent."""
    n = rows.shape[0]
    if n <= 2:
        return np.arange(n)
    if n > LINKAGE_MAX:
        return np.argsort(_pc1(rows.astype(np.float64), random_state), kind="stable")
    if rows.dtype == bool:
        dist = 1.0 - jaccard_matrix(rows).astype(np.float64)
    else:
        x = rows.astype(np.float64)
        sq = np.einsum("ij,ij->i", x, x)
        dist = np.sqrt(np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None))
    np.fill_diagonal(dist, 0.0)
    dist = 0.5 * (dist + dist.T)
    return leaves_list(linkage(squareform(dist, checks=False), method="average"))


def class_order(labels, active_or_features, random_state=0):
    """Display order of inputs: grouped by class, similar inputs adjacent.

    Parameters
    ----------
    labels : ndarray of shape (n_inputs,), int
        Class of each input, 0..K-1.  Class 0 comes first.
    active_or_features : ndarray of shape (n_inputs, n_features)
        Bool activated sets (compared by Jaccard distance) or real features
        (compared by Euclidean distance).
    random_state : int, default 0
        Seed of the randomized SVD used for classes larger than ``LINKAGE_MAX``.

    Returns
    -------
    ndarray of shape (n_inputs,), int
        A permutation of ``range(n_inputs)``.  Within a class of at most
        ``LINKAGE_MAX`` members the order is the leaf order of an
        average-linkage tree; larger classes are sorted by their first
        principal component.
    """
    rows = np.asarray(active_or_features)
    if rows.dtype != bool:
        rows = check_acts(rows, "active_or_features")
    elif rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(f"active_or_features must be 2-D with at least one row; got shape {rows.shape}.")
    labels = _check_labels(labels, rows.shape[0])
    by_class = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[by_class])) + 1
    pieces = []
    for members in np.split(by_class, bounds):
        pieces.append(members[_within_class_order(rows[members], random_state)])
    return np.concatenate(pieces)


def _check_order(order, n):
    order = np.asarray(order)
    if order.shape != (n,) or not np.issubdtype(order.dtype, np.integer):
        raise ValueError(f"order must be an integer array of shape ({n},); got {order.dtype} {order.shape}.")
    seen = np.zeros(n, dtype=bool)
    valid = (order >= 0) & (order < n)
    seen[order[valid]] = True
    if not valid.all() or not seen.all():
        raise ValueError(f"order must be a permutation of 0..{n - 1} (each input exactly once).")
    return order.astype(np.intp, copy=False)


def _spread_sample(groups, n_groups, total, random_state=0):
    """Sorted indices: up to ceil(total / n_groups) members of each group, drawn at random."""
    per_group = math.ceil(total / n_groups)
    rng = np.random.default_rng(random_state)
    chosen = []
    for members in np.split(np.argsort(groups, kind="stable"),
                            np.cumsum(np.bincount(groups, minlength=n_groups))[:-1]):
        chosen.append(members if len(members) <= per_group
                      else rng.choice(members, per_group, replace=False))
    return np.sort(np.concatenate(chosen))


def jaccard_blocks(active, order, max_size=400, chunk=1024, sample=PAIR_SAMPLE):
    """Jaccard matrix in display order, reduced to at most ``max_size`` rows.

    Parameters
    ----------
    active : ndarray of shape (n_inputs, n_channels), bool
    order : ndarray of shape (n_inputs,), int
        Display order, a permutation (e.g. from :func:`class_order`).
    max_size : int, default 400
        Largest number of display rows/columns B.
    chunk : int, default 1024
        Rows per matrix product; peak extra memory is about 8 * chunk * n_inputs bytes.

    Returns
    -------
    block_matrix : ndarray of shape (B, B), float32
        If ``n_inputs <= max_size``, B = n_inputs and this is the full Jaccard
        matrix permuted by ``order``.  Otherwise the ordered inputs are cut into
        B = max_size contiguous blocks (sizes differ by at most one) and each
        cell is the mean Jaccard over all pairs of the two blocks, self-pairs
        included.  Above ``sample`` inputs each cell is the mean over the pairs
        of a seeded random sample of each block's members (about
        ``sample / B`` per block).
    block_of_input : ndarray of shape (n_inputs,), int
        The display row holding input i.
    """
    active = _check_active(active)
    n = active.shape[0]
    order = _check_order(order, n)
    max_size = _check_positive(max_size, "max_size")
    chunk = _check_positive(chunk, "chunk")
    b = min(max_size, n)
    block_of_position = (np.arange(n) * b) // n
    block_of_input = np.empty(n, dtype=np.intp)
    block_of_input[order] = block_of_position
    if n <= max_size:
        return jaccard_matrix(active[order]), block_of_input
    a = active[order].astype(np.float32)
    full_counts = np.bincount(block_of_position, minlength=b).astype(np.float64)
    sampled = bool(sample) and n > sample
    if sampled:
        kept = _spread_sample(block_of_position, b, sample)
        a, block_of_position = a[kept], block_of_position[kept]
        n = len(kept)
    sizes = a.sum(axis=1)
    square = np.zeros((b, b), dtype=np.float64)
    right = np.zeros((b, b), dtype=np.float64)
    for lo, hi, inside, beyond in _upper_bands(a, sizes, chunk):
        for part, sums, cols in ((inside, square, block_of_position[lo:hi]),
                                 (beyond, right, block_of_position[hi:])):
            if part.shape[1]:
                # Rows first: adding whole rows is fast (float32: a run is a few dozen rows of
                # values in [0, 1]), and leaves few rows to split by column.
                row_sums, row_blocks = _run_sums(part, block_of_position[lo:hi], axis=0,
                                                 dtype=np.float32)
                block_sums, col_blocks = _run_sums(row_sums, cols, axis=1)
                sums[np.ix_(row_blocks, col_blocks)] += block_sums
    sums = square + right + right.T
    counts = np.bincount(block_of_position, minlength=b).astype(np.float64)
    if not sampled:
        return (sums / np.outer(counts, counts)).astype(np.float32), block_of_input
    # Diagonal cells: a sample over-weights self-pairs (J = 1 for a non-empty set), so
    # estimate the mean over distinct pairs and weight self-pairs as in the whole block.
    means = sums / np.outer(counts, counts)
    nonempty = np.bincount(block_of_position, weights=(sizes > 0), minlength=b)
    distinct = (np.diag(sums) - nonempty) / np.maximum(counts * (counts - 1), 1.0)
    share = nonempty / np.maximum(counts, 1.0)  # non-empty fraction, as sampled
    means[np.diag_indices(b)] = (distinct * (full_counts - 1) + share) / full_counts
    return means.astype(np.float32), block_of_input


def class_jaccard(active, labels, n_classes, chunk=1024, sample=PAIR_SAMPLE):
    """Mean Jaccard similarity between and within classes.

    Parameters
    ----------
    active : ndarray of shape (n_inputs, n_channels), bool
    labels : ndarray of shape (n_inputs,), int
        Values in 0..n_classes-1.
    n_classes : int
        K.
    chunk : int, default 1024
        Rows per matrix product (memory O(chunk * n_inputs)).

    Returns
    -------
    ndarray of shape (n_classes, n_classes), float32
        Cell (i, j) is the mean Jaccard over pairs (a in class i, b in class j).
        Diagonal cells exclude self-pairs.  NaN where there is no pair: a class
        with no members, or the diagonal of a class with one member.  Above
        ``sample`` inputs, estimated from a seeded random sample of up to
        ``sample / n_classes`` members per class.
    """
    active = _check_active(active)
    k = _check_positive(n_classes, "n_classes")
    labels = _check_labels(labels, active.shape[0], k)
    chunk = _check_positive(chunk, "chunk")
    if sample and active.shape[0] > sample:
        kept = _spread_sample(labels, k, sample)
        active, labels = active[kept], labels[kept]
    a = active.astype(np.float32)
    sizes = a.sum(axis=1)
    onehot = np.zeros((a.shape[0], k), dtype=np.float32)
    onehot[np.arange(a.shape[0]), labels] = 1.0
    square = np.zeros((k, k), dtype=np.float64)
    right = np.zeros((k, k), dtype=np.float64)
    for lo, hi, inside, beyond in _upper_bands(a, sizes, chunk):
        rows = onehot[lo:hi].T.astype(np.float64)
        square += rows @ (inside @ onehot[lo:hi]).astype(np.float64)
        right += rows @ (beyond @ onehot[hi:]).astype(np.float64)
    sums = square + right + right.T
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    # Self-pairs contribute J(a, a) = 1 for every non-empty set, 0 for an empty one.
    sums[np.diag_indices(k)] -= np.bincount(labels, weights=(sizes > 0), minlength=k)
    pairs = np.outer(counts, counts)
    pairs[np.diag_indices(k)] = counts * (counts - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(pairs > 0, sums / pairs, np.nan)
    return out.astype(np.float32)
