"""Rank inputs by how likely their given label is wrong.

Each input is compared with its nearest neighbours in the activation space
of every layer: if the neighbours mostly carry another label, the given label
is suspicious.  Deeper layers (closer to the output) are weighted more,
because their activations are more class-specific.  When the model's
predicted probabilities are available, the model's own disagreement with the
label is blended in.

Also holds small validation helpers (:func:`rank`, :func:`precision_at_k`,
:func:`average_precision`) used to check the ranking against planted label
errors.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits

__all__ = [
    "mislabel_scores",
    "rank",
    "precision_at_k",
    "average_precision",
]

_METRICS = ("cosine", "euclidean")
_MODEL_TERMS = ("true", "other")


def _check_labels(labels, n: int | None = None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers in 0..K-1, got dtype {labels.dtype}")
    if n is not None and labels.shape[0] != n:
        raise ValueError(f"labels has {labels.shape[0]} entries but the activations have {n} rows")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be in 0..K-1, found {labels.min()}")
    return labels.astype(np.int64, copy=False)


def _prepare(acts: np.ndarray, unit_rows: bool, dtype=np.float64) -> np.ndarray:
    """Standardise columns, then optionally L2-normalise rows ((N, C) of ``dtype``).

    Constant columns are left at zero; all-zero rows stay zero.  Column statistics
    are accumulated in float64 whatever ``dtype``; the work is done in place on one copy.
    """
    x = np.array(acts, dtype=dtype)
    mean = x.mean(axis=0, dtype=np.float64)
    x -= mean.astype(dtype)
    std = _column_sd(x)
    x /= np.where(std > 0, std, 1.0).astype(dtype)
    if unit_rows:
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        x /= np.where(norm > 0, norm, 1.0).astype(dtype)
    return x


def _column_sd(centred: np.ndarray, rows: int = 4096) -> np.ndarray:
    """Population SD of each column of centred data, accumulated in float64 in row blocks
    (no float64 copy of the whole array)."""
    total = np.zeros(centred.shape[1])
    for start in range(0, centred.shape[0], rows):
        block = centred[start:start + rows].astype(np.float64)
        total += np.einsum("ij,ij->j", block, block)
    return np.sqrt(total / max(1, centred.shape[0]))


#: Above EXACT_MAX inputs the neighbours of every input are searched among a
#: fixed random reference sample of REFERENCE inputs, in the first
#: :data:`APPROX_DIMS` principal components: the vote shares estimate the same
#: local class mix, in seconds instead of minutes per layer at N = 50,000.
EXACT_MAX = 10_000
REFERENCE = 5_000
APPROX_DIMS = 32
EXACT_AXES_MAX = 1024  # wider layers: the principal axes by randomised SVD


def _neighbour_indices(x: np.ndarray, k: int) -> np.ndarray:
    """Indices (N, k + 1) of each row's nearest rows (itself first when it is searched)."""
    n = x.shape[0]
    reference = np.arange(n)
    if n > EXACT_MAX:
        reference = np.sort(np.random.default_rng(0).choice(n, min(REFERENCE, n), replace=False))
        if x.shape[1] > APPROX_DIMS:  # principal axes of the reference sample (C x C covariance), applied to all
            x = x.astype(np.float32, copy=False)
            centred = x[reference] - x[reference].mean(axis=0)
            if x.shape[1] <= EXACT_AXES_MAX:
                _, vectors = np.linalg.eigh(centred.T @ centred)
                axes = vectors[:, -APPROX_DIMS:]
            else:  # a 4,096-wide layer: eigh of its C x C covariance alone took tens of seconds
                axes = randomized_svd(centred, APPROX_DIMS, random_state=0)[2].T
            x = x @ axes.astype(np.float32)
    with threadpool_limits(limits=1, user_api="openmp"):
        nn = NearestNeighbors(n_neighbors=k + 1, metric="euclidean", algorithm="brute" if n > EXACT_MAX else "auto")
        return reference[nn.fit(x[reference]).kneighbors(x, return_distance=False)]


def _neighbour_votes(x: np.ndarray, labels: np.ndarray, k: int, n_classes: int) -> np.ndarray:
    """Class-vote shares of each row's ``k`` nearest neighbours, self excluded.

    Returns float64 (N, K), rows summing to 1.
    """
    n = x.shape[0]
    idx = _neighbour_indices(x, k)  # (N, k+1)
    # Drop self; with exact duplicates self may not be in column 0 (or at all),
    # in which case the farthest neighbour is dropped instead.
    is_self = idx == np.arange(n)[:, None]
    first_self = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(is_self)
    keep[np.arange(n), first_self] = False
    nbrs = idx[keep].reshape(n, k)
    flat = np.repeat(np.arange(n), k) * n_classes + labels[nbrs].ravel()
    votes = np.bincount(flat, minlength=n * n_classes).reshape(n, n_classes)
    return votes / float(k)


def mislabel_scores(
    layer_acts: Mapping[str, np.ndarray],
    labels,
    probs=None,
    n_neighbors: int = 10,
    layer_weights=None,
    model_weight: float = 0.5,
    metric: str = "cosine",
    model_term: str = "true",
) -> dict:
    """Score every input for how likely its label is wrong.

    Parameters
    ----------
    layer_acts : dict[str, ndarray]
        Layer name -> activations, float (N, C_layer), in input-to-output
        order (dict order is used to assign depth weights).
    labels : ndarray of int, shape (N,)
        Given labels in 0..K-1.
    probs : ndarray of float, shape (N, K), optional
        Model's predicted class probabilities.  When None the score is the
        neighbour term alone.
    n_neighbors : int, default 10
        Neighbours per input (self excluded); 1 <= n_neighbors < N.
    layer_weights : sequence of float, shape (L,), optional
        Non-negative per-layer weights; normalised to sum 1.  Default is
        ``1, 2, ..., L`` (deeper layers count more), normalised.
    model_weight : float in [0, 1], default 0.5
        Weight of the model term in ``score`` (ignored when ``probs`` is None).
    metric : {"cosine", "euclidean"}, default "cosine"
        Neighbour metric on standardised features.  "cosine" L2-normalises
        rows first (euclidean on unit rows ranks like cosine distance);
        "euclidean" uses standardised features as they are.
    model_term : {"true", "other"}, default "true"
        ``"true"``: ``1 - probs[i, label_i]``; ``"other"``: the largest
        probability of a class other than ``label_i``.

    Returns
    -------
    dict
        ``score`` float64 (N,), higher = more likely mislabelled, in [0, 1];
        ``suggested`` int64 (N,), most likely other class;
        ``neighbour_disagreement`` float64 (N,), 1 - weighted vote share of the
        given label; ``model_other`` float64 (N,) model term (NaN when
        ``probs`` is None); ``votes`` float64 (N, K) weighted neighbour class
        shares; ``layer_weights`` float64 (L,) normalised weights used.
    """
    if not isinstance(layer_acts, Mapping) or len(layer_acts) == 0:
        raise ValueError("layer_acts must be a non-empty dict {layer name: array (N, C)}")
    mats = []
    for name, a in layer_acts.items():
        a = np.asarray(a)
        if a.ndim != 2:
            raise ValueError(f"layer {name!r}: activations must be 2-D (N, C), got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"layer {name!r}: activations contain NaN or inf")
        mats.append(a)
    n = mats[0].shape[0]
    if any(a.shape[0] != n for a in mats):
        raise ValueError(f"all layers must have the same number of rows N; got {[a.shape[0] for a in mats]}")
    labels = _check_labels(labels, n)
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    if model_term not in _MODEL_TERMS:
        raise ValueError(f"model_term must be one of {_MODEL_TERMS}, got {model_term!r}")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or not 1 <= n_neighbors < n:
        raise ValueError(f"n_neighbors must be an int in 1..N-1 = 1..{n - 1}, got {n_neighbors!r}")
    if not 0.0 <= float(model_weight) <= 1.0:
        raise ValueError(f"model_weight must be in [0, 1], got {model_weight}")

    n_classes = int(labels.max()) + 1
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[0] != n:
            raise ValueError(f"probs must have shape (N={n}, K), got {probs.shape}")
        if probs.shape[1] < n_classes:
            raise ValueError(f"probs has {probs.shape[1]} classes but labels go up to {n_classes - 1}")
        if not np.all(np.isfinite(probs)):
            raise ValueError("probs contain NaN or inf")
        n_classes = probs.shape[1]
    if n_classes < 2:
        raise ValueError("need at least 2 classes to suggest another label")

    n_layers = len(mats)
    if layer_weights is None:
        w = np.arange(1, n_layers + 1, dtype=np.float64)
    else:
        w = np.asarray(layer_weights, dtype=np.float64)
        if w.shape != (n_layers,) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(
                f"layer_weights must be {n_layers} non-negative finite numbers with a positive sum, got {layer_weights!r}"
            )
    w = w / w.sum()

    votes = np.zeros((n, n_classes))
    for wl, a in zip(w, mats):
        if wl == 0:
            continue
        # float32 above EXACT_MAX: the neighbour search there is approximate anyway, and
        # a 4,096-wide layer at 50,000 inputs is 0.8 GB instead of 1.6 GB.
        x = _prepare(a, unit_rows=(metric == "cosine"), dtype=np.float32 if n > EXACT_MAX else np.float64)
        votes += wl * _neighbour_votes(x, labels, int(n_neighbors), n_classes)

    rows = np.arange(n)
    neighbour = 1.0 - votes[rows, labels]
    if probs is None:
        model = np.full(n, np.nan)
        score = neighbour.copy()
        evidence = votes.copy()
    else:
        if model_term == "true":
            model = 1.0 - probs[rows, labels]
        else:
            other = probs.copy()
            other[rows, labels] = -np.inf
            model = other.max(axis=1)
        mw = float(model_weight)
        score = (1.0 - mw) * neighbour + mw * model
        evidence = (1.0 - mw) * votes + mw * probs
    evidence[rows, labels] = -np.inf
    suggested = evidence.argmax(axis=1).astype(np.int64)
    return {
        "score": score,
        "suggested": suggested,
        "neighbour_disagreement": neighbour,
        "model_other": model,
        "votes": votes,
        "layer_weights": w,
    }


def _check_score(score) -> np.ndarray:
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 1 or score.size == 0:
        raise ValueError(f"score must be a non-empty 1-D array (N,), got shape {score.shape}")
    if not np.all(np.isfinite(score)):
        raise ValueError("score contains NaN or inf")
    return score


def _check_truth(truth_mask, n: int) -> np.ndarray:
    truth = np.asarray(truth_mask)
    if truth.shape != (n,):
        raise ValueError(f"truth_mask must have shape ({n},) like score, got {truth.shape}")
    if truth.dtype != bool:
        if not np.all(np.isin(truth, (0, 1))):
            raise ValueError("truth_mask must be boolean (or 0/1)")
        truth = truth.astype(bool)
    return truth


def rank(score) -> np.ndarray:
    """Indices that sort ``score`` descending (ties: lower index first).

    Parameters
    ----------
    score : ndarray of float, shape (N,)

    Returns
    -------
    ndarray of int64, shape (N,)
    """
    score = _check_score(score)
    return np.argsort(-score, kind="stable").astype(np.int64)


def precision_at_k(score, truth_mask, k: int) -> float:
    """Fraction of the ``k`` highest-scored inputs that are truly mislabelled.

    Parameters
    ----------
    score : ndarray of float, shape (N,)
    truth_mask : ndarray of bool, shape (N,)
        True where the label is known to be wrong.
    k : int, 1 <= k <= N

    Returns
    -------
    float
    """
    score = _check_score(score)
    truth = _check_truth(truth_mask, score.shape[0])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= score.shape[0]:
        raise ValueError(f"k must be an int in 1..N = 1..{score.shape[0]}, got {k!r}")
    return float(truth[rank(score)[:k]].mean())


def average_precision(score, truth_mask) -> float:
    """Average precision of ``score`` for retrieving ``truth_mask``.

    Same definition as ``sklearn.metrics.average_precision_score``:
    ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds (tied
    scores enter together).

    Parameters
    ----------
    score : ndarray of float, shape (N,)
    truth_mask : ndarray of bool, shape (N,)
        Must contain at least one True.

    Returns
    -------
    float in [0, 1]
    """
    score = _check_score(score)
    truth = _check_truth(truth_mask, score.shape[0])
    if not truth.any():
        raise ValueError("truth_mask has no positives; average precision is undefined")
    order = np.argsort(-score, kind="stable")
    s, t = score[order], truth[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp = np.cumsum(t)[last_of_tie]
    precision = tp / (last_of_tie + 1.0)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
