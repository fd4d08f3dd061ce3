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
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
        x = np.asarray(a)[idx].astype(np.float64, copy=False)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"layer {name!r}: activations contain NaN or inf")
        model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=n_neighbors))
        out[name] = float(np.mean(cross_val_score(model, x, y, cv=folds)))
    return out
