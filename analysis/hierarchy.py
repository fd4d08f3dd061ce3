"""Class hierarchy (super-classes) and within-class structure (sub-classes).

* :func:`class_dendrogram` turns a K x K class-similarity matrix (e.g. mean
  Jaccard similarity of channel activations between classes) into an
  average-linkage tree.
* :func:`super_classes` cuts the tree into groups of classes the network
  treats alike.
* :func:`dendrogram_segments` lays the tree out for drawing (plotly) with
  clickable nodes.
* :func:`sub_classes` looks for clusters among the inputs of one class.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.cluster.hierarchy import is_valid_linkage, leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import squareform
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

__all__ = ["class_dendrogram", "combine_similarities", "super_classes", "dendrogram_segments", "sub_classes"]


def class_dendrogram(class_similarity) -> tuple[np.ndarray, np.ndarray]:
    """Average-linkage tree of classes from a class-similarity matrix.

    Normalisation: only the off-diagonal entries are used.  They are min-max
    scaled to [0, 1] (``s' = (s - min_off) / (max_off - min_off)``), so the
    most similar pair of distinct classes gets distance 0 and the least
    similar gets 1; ``distance = 1 - s'`` with a zero diagonal.  The diagonal
    (self-similarity, often much larger or on another scale) therefore cannot
    dominate, and merge heights are comparable across layers.  If all
    off-diagonal similarities are equal every distance is 1.

    Parameters
    ----------
    class_similarity : ndarray of float, shape (K, K)
        Symmetric (up to 1e-5 relative tolerance), K >= 2; larger = more
        similar; e.g. ``analysis.jaccard.class_jaccard``.  Off-diagonal
        entries must be finite; the diagonal is ignored (NaN allowed).

    Returns
    -------
    linkage : ndarray of float64, shape (K - 1, 4)
        SciPy linkage matrix (rows reordered by optimal leaf ordering; merge
        heights in column 2 are non-decreasing).
    leaf_order : ndarray of int64, shape (K,)
        Class indices in left-to-right drawing order.
    """
    s = np.asarray(class_similarity, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 2:
        raise ValueError(f"class_similarity must be a square (K, K) matrix with K >= 2, got shape {s.shape}")
    k = s.shape[0]
    off_mask = ~np.eye(k, dtype=bool)
    if not np.all(np.isfinite(s[off_mask])):
        raise ValueError("class_similarity has NaN or inf off the diagonal (a class without inputs?); "
                         "drop such classes first")
    if not np.allclose(s[off_mask], s.T[off_mask], rtol=1e-5, atol=1e-8):
        raise ValueError("class_similarity must be symmetric; symmetrise it first, e.g. (S + S.T) / 2")
    off = s[off_mask]
    lo, hi = off.min(), off.max()
    s = np.where(off_mask, s, hi)
    scaled = (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
    dist = np.clip(1.0 - scaled, 0.0, 1.0)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False)
    z = linkage(condensed, method="average")
    if k > 2:
        z = optimal_leaf_ordering(z, condensed)
    return z, leaves_list(z).astype(np.int64)


def combine_similarities(similarities) -> np.ndarray:
    """Average of several K x K class-similarity matrices, each min-max scaled off the diagonal.

    Scaling first (as :func:`class_dendrogram` does) gives every layer the
    same say, whatever the range of its Jaccard values.  The diagonal of the
    result is 1.

    Parameters
    ----------
    similarities : sequence of ndarray, each of shape (K, K)

    Returns
    -------
    ndarray of float64, shape (K, K)
    """
    mats = [np.asarray(s, dtype=np.float64) for s in similarities]
    if not mats:
        raise ValueError("pass at least one class-similarity matrix")
    k = mats[0].shape[0]
    if any(m.shape != (k, k) for m in mats) or k < 2:
        raise ValueError(f"all matrices must be (K, K) with the same K >= 2, got {[m.shape for m in mats]}")
    off = ~np.eye(k, dtype=bool)
    scaled = []
    for m in mats:
        if not np.all(np.isfinite(m[off])):
            raise ValueError("class similarity has NaN or inf off the diagonal (a class without inputs?)")
        lo, hi = m[off].min(), m[off].max()
        scaled.append((m - lo) / (hi - lo) if hi > lo else np.zeros_like(m))
    out = np.mean(scaled, axis=0)
    out = (out + out.T) / 2.0  # float32 Jaccard sums are symmetric only up to rounding
    np.fill_diagonal(out, 1.0)
    return out


def _check_linkage(z) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 4 or z.shape[0] < 1 or not is_valid_linkage(z):
        raise ValueError(
            f"linkage must be a valid SciPy linkage matrix of shape (K-1, 4), got shape {z.shape}; "
            "use class_dendrogram() to build one"
        )
    return z


def _groups_after(z: np.ndarray, n_merges: int) -> np.ndarray:
    """Group id per leaf after applying the first ``n_merges`` merges.

    Groups are numbered 0.. in order of their smallest member class.
    """
    k = z.shape[0] + 1
    members = {i: [i] for i in range(k)}
    for i in range(n_merges):
        a, b = int(z[i, 0]), int(z[i, 1])
        members[k + i] = members.pop(a) + members.pop(b)
    groups = np.empty(k, dtype=np.int64)
    for gid, leaves in enumerate(sorted(members.values(), key=min)):
        groups[leaves] = gid
    return groups


def super_classes(linkage_matrix, n_groups: int | None = None) -> np.ndarray:
    """Cut the class tree into groups of classes.

    Parameters
    ----------
    linkage_matrix : ndarray of float, shape (K - 1, 4)
        From :func:`class_dendrogram` (heights must be non-decreasing, as for
        average linkage).
    n_groups : int, optional
        Number of groups, 1 <= n_groups <= K.  When None the cut is chosen
        automatically at the largest gap between consecutive merge heights,
        restricted to 2..K-1 groups (needs K >= 3).

    Returns
    -------
    ndarray of int64, shape (K,)
        Group id per class, numbered 0.. in order of each group's smallest
        class index.
    """
    z = _check_linkage(linkage_matrix)
    k = z.shape[0] + 1
    if np.any(np.diff(z[:, 2]) < 0):
        raise ValueError("linkage merge heights must be non-decreasing (average/complete/single linkage), "
                         "so that the first merges form a cut")
    if n_groups is None:
        if k < 3:
            raise ValueError(f"automatic cut needs K >= 3 classes (2..K-1 groups), got K={k}; pass n_groups")
        heights = z[:, 2]
        # Applying m merges (m = 1..K-2) leaves K - m groups; the gap above
        # that cut is heights[m] - heights[m - 1].  Ties go to fewer merges.
        gaps = np.diff(heights)  # gaps[m - 1] for m = 1..K-2
        n_merges = int(np.argmax(gaps)) + 1
    else:
        if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or not 1 <= n_groups <= k:
            raise ValueError(f"n_groups must be an int in 1..K = 1..{k}, or None for an automatic cut; got {n_groups!r}")
        n_merges = k - int(n_groups)
    return _groups_after(z, n_merges)


def dendrogram_segments(linkage_matrix, labels: Sequence[str] | None = None) -> list[dict]:
    """Node layout of the class tree for drawing and clicking.

    Leaves sit at ``x = 0, 1, ..., K-1`` in leaf order and ``y = 0``; an
    internal node sits at the mean x of its two children and at its merge
    height.

    Parameters
    ----------
    linkage_matrix : ndarray of float, shape (K - 1, 4)
    labels : sequence of str, length K, optional
        Class names; default ``"0", "1", ...``.

    Returns
    -------
    list of dict, length 2K - 1
        One dict per node, leaves first (ids 0..K-1 = class index), then
        internal nodes in merge order (ids K..2K-2, root last).  Keys:
        ``id`` int, ``x`` float, ``y`` float, ``children`` list[int] (node ids,
        empty for leaves), ``members`` list[int] (sorted class indices under
        the node), ``label`` str (class name for leaves, names of members
        joined by ", " for internal nodes), ``is_leaf`` bool, and ``path_x`` /
        ``path_y`` lists of 4 floats giving the bracket from the left child up
        to the node height and down to the right child (empty for leaves).
    """
    z = _check_linkage(linkage_matrix)
    k = z.shape[0] + 1
    if labels is None:
        labels = [str(i) for i in range(k)]
    labels = [str(x) for x in labels]
    if len(labels) != k:
        raise ValueError(f"labels must have K={k} entries (one per class), got {len(labels)}")
    xpos = np.empty(k)
    xpos[leaves_list(z)] = np.arange(k, dtype=np.float64)
    nodes: list[dict] = [
        {"id": i, "x": float(xpos[i]), "y": 0.0, "children": [], "members": [i], "label": labels[i],
         "is_leaf": True, "path_x": [], "path_y": []}
        for i in range(k)
    ]
    for i, (a, b, h, _) in enumerate(z):
        left, right = nodes[int(a)], nodes[int(b)]
        if left["x"] > right["x"]:
            left, right = right, left
        members = sorted(left["members"] + right["members"])
        nodes.append({
            "id": k + i,
            "x": (left["x"] + right["x"]) / 2.0,
            "y": float(h),
            "children": [left["id"], right["id"]],
            "members": members,
            "label": ", ".join(labels[m] for m in members),
            "is_leaf": False,
            "path_x": [left["x"], left["x"], right["x"], right["x"]],
            "path_y": [left["y"], float(h), float(h), right["y"]],
        })
    return nodes


def sub_classes(
    features,
    k_range: tuple[int, int] = (2, 6),
    random_state=0,
    min_silhouette: float = 0.1,
    null_margin: float | None = 0.05,
    max_dims: int = 20,
    silhouette_samples: int = 2000,
) -> dict:
    """Look for sub-clusters among the inputs of one class.

    Features are standardised, reduced by PCA to at most ``max_dims``
    dimensions, and clustered by KMeans for every k in ``k_range``
    (inclusive); the k with the best silhouette wins.  The answer is k = 1
    (no sub-structure) when the best silhouette is below ``min_silhouette``,
    or, if ``null_margin`` is not None, when it does not beat by
    ``null_margin`` the silhouette the same k reaches on a single Gaussian
    with the same PCA variances.  The null check matters for real
    activations: correlated channels leave few dominant components, and
    KMeans on one elongated Gaussian easily reaches silhouettes of 0.3.

    Parameters
    ----------
    features : ndarray of float, shape (n, d)
        Inputs of one class; n >= 3.
    k_range : (int, int), default (2, 6)
        Smallest and largest k tried, inclusive; 2 <= k_min <= k_max.  k_max
        is clipped to n - 1.
    random_state : int, None or numpy Generator, default 0
        Seeds PCA, KMeans, silhouette subsampling and the null sample.
    min_silhouette : float, default 0.1
    null_margin : float or None, default 0.05
    max_dims : int, default 20
    silhouette_samples : int, default 2000
        Silhouettes are computed on at most this many points.

    Returns
    -------
    dict
        ``labels`` int64 (n,) cluster id per input (all 0 when k = 1);
        ``k`` int; ``silhouettes`` dict k -> float; ``null_silhouettes``
        {best k: float} for the Gaussian null (empty when it was not needed).
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 1:
        raise ValueError(f"features must be 2-D (n, d) with n >= 3 rows, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or inf")
    if (len(k_range) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in k_range)
            or not 2 <= k_range[0] <= k_range[1]):
        raise ValueError(f"k_range must be two ints (k_min, k_max) with 2 <= k_min <= k_max, got {k_range!r}")
    if max_dims < 1 or silhouette_samples < 3:
        raise ValueError("max_dims must be >= 1 and silhouette_samples >= 3")
    n = x.shape[0]
    seed = np.random.default_rng(random_state).integers(2**31 - 1)

    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    n_comp = min(max_dims, x.shape[1], n - 1)
    z = PCA(n_components=n_comp, random_state=seed).fit_transform(x)
    if np.allclose(z, 0.0):
        return {"labels": np.zeros(n, dtype=np.int64), "k": 1, "silhouettes": {}, "null_silhouettes": {}}

    def fit_scores(data: np.ndarray, ks) -> tuple[dict, dict]:
        labs, sils = {}, {}
        sample = min(silhouette_samples, n)
        for kk in ks:
            # Single-threaded: for n <= ~10^4 points in <= 20 dims OpenMP
            # start-up and spin-waiting cost far more than they save, and
            # on a busy host (other Dash workers) they slow KMeans ~30x.
            with threadpool_limits(limits=1, user_api="openmp"):
                lab = KMeans(n_clusters=kk, n_init=4, random_state=seed).fit_predict(data)
            labs[kk] = lab
            if len(np.unique(lab)) < 2:
                sils[kk] = -1.0
                continue
            sils[kk] = float(silhouette_score(data, lab, sample_size=sample if sample < n else None,
                                              random_state=seed))
        return labs, sils

    ks = range(k_range[0], min(k_range[1], n - 1) + 1)
    if len(ks) == 0:
        raise ValueError(f"too few inputs (n={n}) for k_range {k_range!r}")
    labs, sils = fit_scores(z, ks)
    best = max(sils, key=lambda kk: (sils[kk], -kk))
    null_sils: dict = {}
    accept = sils[best] >= min_silhouette
    if accept and null_margin is not None:
        ref = np.random.default_rng(seed).normal(size=z.shape) * z.std(axis=0)
        _, null_sils = fit_scores(ref, [best])
        accept = sils[best] >= null_sils[best] + null_margin
    if not accept:
        return {"labels": np.zeros(n, dtype=np.int64), "k": 1, "silhouettes": sils, "null_silhouettes": null_sils}
    return {"labels": labs[best].astype(np.int64), "k": int(best), "silhouettes": sils,
            "null_silhouettes": null_sils}
