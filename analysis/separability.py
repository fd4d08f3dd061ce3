"""How well each layer's activations separate the classes.

The measure is the cross-validated accuracy of a k-nearest-neighbour
classifier on the standardised activations: it needs no training beyond
storing the data, makes no linearity assumption, and reads directly as "how
often does an input's neighbourhood in this layer share its class".  Plotted
over layers (input to output) it shows where the network makes the classes
separable; a late drop or plateau points at layers that add nothing.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from sklearn.model_selection import StratifiedKFold

__all__ = ["separability", "stratified_subsample"]


def stratified_subsample(labels, max_samples: int, random_state=0) -> np.ndarray:
    """Indices of a class-stratified random subsample of at most ``max_samples``.

    Every class keeps ``floor(n_c * max_samples / N)`` members, but at least
    ``min(n_c, 2)``, so small classes survive.

    Parameters
    ----------
    labels : ndarray of int, shape (N,)
    max_samples : int >= 1
    random_state : int, None or numpy Generator, default 0

    Returns
    -------
    ndarray of int64, shape (n,), sorted; all of ``arange(N)`` when
    ``N <= max_samples``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {labels.shape}")
    if isinstance(max_samples, bool) or not isinstance(max_samples, (int, np.integer)) or max_samples < 1:
        raise ValueError(f"max_samples must be a positive int, got {max_samples!r}")
    n = labels.shape[0]
    if n <= max_samples:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(n)
    perm = perm[np.argsort(labels[perm], kind="stable")]  # grouped by class, random within
    classes, starts, counts = np.unique(labels[perm], return_index=True, return_counts=True)
    quota = np.maximum(np.floor(counts * (max_samples / n)).astype(np.int64), np.minimum(counts, 2))
    rank_in_class = np.arange(n) - np.repeat(starts, counts)
    keep = rank_in_class < np.repeat(quota, counts)
    return np.sort(perm[keep]).astype(np.int64)


def separability(
    layer_acts: Mapping[str, np.ndarray],
    labels,
    n_neighbors: int = 5,
    cv: int = 5,
    random_state=0,
    max_samples: int = 5000,
) -> dict[str, float]:
    """Mean cross-validated kNN accuracy of each layer.

    Parameters
    ----------
    layer_acts : dict[str, ndarray]
        Layer name -> activations, float (N, C_layer); every layer has N rows.
    labels : ndarray of int, shape (N,)
        Class of each input.
    n_neighbors : int, default 5
        Neighbours of the kNN classifier; must be smaller than the training
        fold size.
    cv : int >= 2, default 5
        Stratified folds (shuffled with ``random_state``).
    random_state : int, None or numpy Generator, default 0
        Seeds the subsample and the fold split; the same inputs and folds are
        used for every layer, so layers are compared on equal terms.
    max_samples : int, default 5000
        When N is larger, a class-stratified subsample of about this size is
        used (see :func:`stratified_subsample`).

    Returns
    -------
    dict[str, float]
        Layer name -> mean accuracy over the folds, in [0, 1], in the order
        of ``layer_acts``.  Chance level is about the largest class share.
    """
    if not isinstance(layer_acts, Mapping) or len(layer_acts) == 0:
        raise ValueError("layer_acts must be a non-empty dict {layer name: array (N, C)}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"labels must be a 1-D integer array (N,), got shape {labels.shape}, dtype {labels.dtype}")
    n = labels.shape[0]
    for name, a in layer_acts.items():
        shape = np.shape(a)
        if len(shape) != 2 or shape[0] != n:
            raise ValueError(f"layer {name!r}: activations must be 2-D (N={n}, C), got shape {shape}")
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ValueError(f"cv must be an int >= 2, got {cv!r}")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be a positive int, got {n_neighbors!r}")

    rng = np.random.default_rng(random_state)
    idx = stratified_subsample(labels, max_samples, rng)
    y = labels[idx]
    _, counts = np.unique(y, return_counts=True)
    if counts.size < 2:
        raise ValueError("labels must contain at least 2 classes")
    if counts.max() < cv:
        raise ValueError(f"cv={cv} folds need a class with at least {cv} inputs; largest class has {counts.max()}")
    min_train = len(y) - int(np.ceil(len(y) / cv))
    if n_neighbors > min_train:
        raise ValueError(f"n_neighbors={n_neighbors} exceeds the smallest training fold ({min_train} inputs)")

    folds = list(StratifiedKFold(n_splits=cv, shuffle=True, random_state=int(rng.integers(2**31 - 1))).split(idx, y))
    out: dict[str, float] = {}
    for name, a in layer_acts.items():
        x = np.asarray(a)[idx]
        if not np.all(np.isfinite(x)):
            raise ValueError(f"layer {name!r}: activations contain NaN or inf")
        rows = _rows_within_budget(len(y), x.shape[1])
        out[name] = float(np.mean([_knn_fold_accuracy(x, y, train[rows(train)], test[rows(test)], n_neighbors)
                                   for train, test in folds]))
    return out


#: Distance work per layer and fold (test rows x train rows x features) above which the
#: folds are thinned evenly: a 4,096-unit dense layer at 5,000 inputs would cost 16 G
#: multiply-adds per fold; the cap keeps each layer to about a second, with more than
#: 1,500 inputs still in every wide layer's estimate.
MAX_FOLD_WORK = 4_000 * 1_000 * 512


def _rows_within_budget(n: int, features: int):
    """A function thinning a fold's index array so test x train x features stays in budget."""
    share = min(1.0, float(np.sqrt(MAX_FOLD_WORK / max(1.0, 0.16 * n * n * features))))
    if share >= 1.0:
        return lambda fold: slice(None)
    return lambda fold: np.unique(np.linspace(0, len(fold) - 1, max(2, int(len(fold) * share))).astype(int))


def _knn_fold_accuracy(x, y, train, test, k: int) -> float:
    """Accuracy of a k-nearest-neighbour vote (euclidean, uniform weights, ties to the
    smallest label) on ``x[test]``, standardised with the training fold's mean and SD."""
    a = x[train].astype(np.float64)
    b = x[test].astype(np.float64)
    mean, sd = a.mean(axis=0), a.std(axis=0)
    sd[sd < 10 * np.finfo(np.float64).eps] = 1.0  # constant columns: centred, not scaled
    a = ((a - mean) / sd).astype(np.float32)
    b = ((b - mean) / sd).astype(np.float32)
    distance = (b * b).sum(axis=1)[:, None] - 2.0 * (b @ a.T) + (a * a).sum(axis=1)[None, :]
    k = min(k, len(train))
    nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
    classes = int(y.max()) + 1
    votes = np.zeros((len(test), classes), np.int64)
    np.add.at(votes, (np.repeat(np.arange(len(test)), k), y[train][nearest].ravel()), 1)
    return float(np.mean(votes.argmax(axis=1) == y[test]))
