"""How sure is a finding?  Stability under bootstrap resampling of the inputs.

Each finding is recomputed on resamples of the inputs and compared with the
answer on all inputs:

* :func:`supercut_stability`: the super-class cut of the class tree (class-
  stratified bootstrap; adjusted Rand index of each resample's cut against
  the full cut, and how often the exact same grouping comes back).
* :func:`subclass_stability`: the sub-class split of one class (ARI between
  the split of each resample and the full split on the inputs they share,
  and how often the same number of sub-classes is found).
* :func:`mislabel_stability`: the mislabel ranking (for each input of the
  full top k, how often it stays in the top k share of a resample).

Neighbour-based methods see a duplicated input as its own nearest neighbour,
so the sub-class and mislabel checks use the distinct inputs of each
bootstrap draw (about 63% of them); the class-level cut uses the draw as is.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from sklearn.metrics import adjusted_rand_score

from analysis import hierarchy, jaccard

__all__ = ["bootstrap_draws", "supercut", "supercut_stability", "subclass_stability", "mislabel_stability",
           "verdict"]


def _check_n_boot(n_boot) -> int:
    if isinstance(n_boot, bool) or int(n_boot) < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    return int(n_boot)


def bootstrap_draws(labels, n_boot: int = 10, random_state=0, stratified: bool = True) -> list[np.ndarray]:
    """Index arrays of bootstrap resamples (with replacement).

    Parameters
    ----------
    labels : ndarray of int, shape (N,)
    n_boot : int >= 1
    random_state : int or numpy Generator
    stratified : bool, default True
        Resample within each class, keeping the class sizes.

    Returns
    -------
    list of ndarray of int64, each of shape (N,)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size < 2:
        raise ValueError(f"labels must be 1-D with at least 2 entries, got shape {labels.shape}")
    rng = np.random.default_rng(random_state)
    n_boot = _check_n_boot(n_boot)
    if not stratified:
        return [rng.integers(0, labels.size, labels.size) for _ in range(n_boot)]
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    return [np.concatenate([rng.choice(m, m.size) for m in members]) for _ in range(n_boot)]


def supercut(acts, labels, n_classes: int, fraction: float, n_groups=None) -> np.ndarray:
    """Super-class of each class: top-``fraction`` channel sets -> class Jaccard -> tree -> cut.

    Parameters
    ----------
    acts : ndarray (N, C), or dict of layer -> ndarray (N, C_layer)
        With several layers their class similarities are combined
        (:func:`hierarchy.combine_similarities`).

    Returns
    -------
    ndarray of int64, shape (n_classes,)
    """
    layers = list(acts.values()) if isinstance(acts, Mapping) else [acts]
    sims = [jaccard.class_jaccard(jaccard.activated_sets(a, "topk", fraction), labels, n_classes) for a in layers]
    linkage, _ = hierarchy.class_dendrogram(sims[0] if len(sims) == 1 else hierarchy.combine_similarities(sims))
    return hierarchy.super_classes(linkage, n_groups)


def _rows(acts, draw):
    return {k: np.asarray(v)[draw] for k, v in acts.items()} if isinstance(acts, Mapping) else np.asarray(acts)[draw]


def supercut_stability(acts, labels, n_classes: int, fraction: float = 0.3, n_groups=None, n_boot: int = 10,
                       random_state=0) -> dict:
    """Stability of the super-class cut under class-stratified bootstrap.

    Parameters
    ----------
    acts : ndarray of float, shape (N, C), or dict of layer -> (N, C_layer)
        One layer's per-input summary, or several layers combined.
    labels : ndarray of int, shape (N,)
        Every class 0..n_classes-1 must have inputs.
    n_classes : int
    fraction : float in (0, 1], default 0.3
        Share of each input's channels that count as active.
    n_groups : int or None
        None: automatic cut (largest gap); else a fixed number of groups.
    n_boot : int, default 10

    Returns
    -------
    dict
        ``groups`` (the cut on all inputs, int64 (K,)), ``ari`` (list, one
        per resample, against ``groups``), ``mean_ari``, ``same`` (share of
        resamples with exactly the same grouping), ``n_boot``.
    """
    labels = np.asarray(labels)
    full = supercut(acts, labels, n_classes, fraction, n_groups)
    aris = []
    for draw in bootstrap_draws(labels, n_boot, random_state):
        aris.append(float(adjusted_rand_score(full, supercut(_rows(acts, draw), labels[draw], n_classes,
                                                             fraction, n_groups))))
    return {"groups": full, "ari": aris, "mean_ari": float(np.mean(aris)),
            "same": float(np.mean(np.isclose(aris, 1.0))), "n_boot": len(aris)}


def subclass_stability(features, n_boot: int = 10, random_state=0, **sub_class_args) -> dict:
    """Stability of one class's sub-class split (:func:`hierarchy.sub_classes`).

    Parameters
    ----------
    features : ndarray of float, shape (n, d)
        The class's inputs.
    n_boot : int, default 10
    random_state : int
        Seeds the draws and each split.
    **sub_class_args
        Passed to :func:`hierarchy.sub_classes`.

    Returns
    -------
    dict
        ``k`` and ``labels`` on all inputs; ``ari`` (list: each resample's
        split against the full split on the distinct inputs they share; 1.0
        when both find no sub-structure), ``mean_ari``, ``same_k`` (share
        of resamples finding the same k), ``ks`` (k per resample).
    """
    x = np.asarray(features, dtype=np.float64)
    full = hierarchy.sub_classes(x, random_state=random_state, **sub_class_args)
    rng = np.random.default_rng(random_state)
    aris, ks = [], []
    for _ in range(_check_n_boot(n_boot)):
        rows = np.unique(rng.integers(0, len(x), len(x)))
        if rows.size < 3:
            continue
        part = hierarchy.sub_classes(x[rows], random_state=random_state, **sub_class_args)
        ks.append(int(part["k"]))
        if part["k"] == 1 and full["k"] == 1:
            aris.append(1.0)
        else:
            aris.append(float(adjusted_rand_score(full["labels"][rows], part["labels"])))
    return {"k": int(full["k"]), "labels": full["labels"], "ari": aris,
            "mean_ari": float(np.mean(aris)) if aris else float("nan"),
            "same_k": float(np.mean(np.asarray(ks) == full["k"])) if ks else float("nan"), "ks": ks}


def mislabel_stability(score_fn: Callable[[np.ndarray], np.ndarray], n: int, top: int, n_boot: int = 10,
                       random_state=0) -> dict:
    """How firmly each of the top suspicious inputs stays near the top.

    Parameters
    ----------
    score_fn : callable(rows) -> ndarray of float, shape (len(rows),)
        Mislabel scores computed on the given subset of inputs only (e.g.
        ``mislabel.mislabel_scores`` on the subset's activations, labels and
        probabilities).
    n : int
        Number of inputs.
    top : int
        Size of the list checked (e.g. the k shown).
    n_boot : int, default 10

    Returns
    -------
    dict
        ``order`` (the full ranking), ``top`` (its first ``top`` indices),
        ``frequency`` float (top,): for each, the share of resamples
        containing it in which it ranks within the first m places, m being
        the number of the list's inputs the resample contains,
        ``mean_frequency`` (the list's overall stability).
    """
    if not 1 <= int(top) <= int(n):
        raise ValueError(f"top must be in 1..n={n}, got {top}")
    order = np.argsort(-np.asarray(score_fn(np.arange(n)), dtype=np.float64), kind="stable")
    head = order[:top]
    hits = np.zeros(top)
    seen = np.zeros(top)
    rng = np.random.default_rng(random_state)
    for _ in range(_check_n_boot(n_boot)):
        rows = np.unique(rng.integers(0, n, n))
        scores = np.asarray(score_fn(rows), dtype=np.float64)
        present = np.isin(head, rows)
        # The list's inputs that the resample holds should fill its first places.
        cutoff = max(1, int(present.sum()))
        best = set(rows[np.argsort(-scores, kind="stable")[:cutoff]].tolist())
        seen += present
        hits += present & np.isin(head, list(best))
    freq = np.divide(hits, seen, out=np.full(top, np.nan), where=seen > 0)
    return {"order": order, "top": head, "frequency": freq, "mean_frequency": float(np.nanmean(freq))}


def verdict(value: float) -> str:
    """Words for a stability figure in [0, 1] (mean ARI or frequency)."""
    if not np.isfinite(value):
        return "unknown"
    return "firm" if value >= 0.9 else "fairly stable" if value >= 0.7 else "shaky" if value >= 0.4 else "a coin toss"


def layer_stabilities(layer_acts: Mapping[str, np.ndarray], labels, n_classes: int, fraction: float = 0.3,
                      n_boot: int = 10, random_state=0) -> dict:
    """:func:`supercut_stability` (automatic cut) of each layer; dict layer -> result."""
    return {name: supercut_stability(acts, labels, n_classes, fraction, None, n_boot, random_state)
            for name, acts in layer_acts.items()}


def most_stable_layer(stabilities: Mapping[str, dict]) -> str:
    """The layer whose automatic cut is most stable (mean ARI; ties go to the deeper layer)."""
    if not stabilities:
        raise ValueError("no layers to choose from")
    names = list(stabilities)
    return max(reversed(names), key=lambda name: stabilities[name]["mean_ari"])
