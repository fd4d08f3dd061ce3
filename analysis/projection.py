"""2-D projections of inputs (scatter plot coordinates) from their channel features.

Every method standardises the features first (zero-variance columns dropped),
runs its heavy numerics under ``threadpoolctl`` so it does not fight other
work for the cores, and returns float32 (about 80 KB for 10,000 points).
``umap`` is imported lazily because importing it also imports TensorFlow.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh
from scipy.sparse.linalg import eigsh
from threadpoolctl import threadpool_limits

METHODS = ("pca", "umap", "tsne", "mds")
MDS_METRICS = ("euclidean", "cosine")
# Parameters each method accepts besides ``n_threads``.
_PARAMS = {
    "pca": set(),
    "tsne": {"perplexity", "max_iter"},
    "umap": {"n_neighbors", "min_dist", "max_fit"},
    "mds": {"metric", "n_landmarks"},
}
PRE_PCA_DIMS = 50
EXACT_MDS_MAX = 1000
# Below this many inputs t-SNE runs on one thread: its OpenMP barriers cost more
# than they save (N=200 on a busy 2-core machine: 0.3 s on one thread, 5-18 s on two).
TSNE_PARALLEL_MIN = 1000
TSNE_MAX_ITER, TSNE_EARLY_ITER = 750, 250
# Exact neighbours up to this many inputs (deterministic, and faster: 0.7 s against Annoy's
# 2.8-3.6 s for 10,000 inputs in 50 dimensions on 2 cores); Annoy above.
TSNE_EXACT_KNN_MAX = 20_000
# UMAP lays out at most this many inputs (a seeded uniform sample); the others
# are placed among their nearest laid-out neighbours (UMAP at 10,000 inputs took
# 81 s on the busy 2-core machine, and grows faster than linearly).
UMAP_MAX_FIT = 20_000
PLACE_NEIGHBOURS = 10


def standardise(features):
    """Z-score each column and drop columns that are constant.

    Parameters
    ----------
    features : ndarray of shape (n_inputs, n_features)

    Returns
    -------
    ndarray of shape (n_inputs, n_kept), float64
        ``n_kept`` may be 0 when every column is constant.
    """
    x = np.asarray(features, dtype=np.float64)
    varying = np.ptp(x, axis=0) > 0
    x = x[:, varying]
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    return x / np.where(sd > 0, sd, 1.0)


def _check_features(features):
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"features must be 2-D (n_inputs, n_features) and non-empty; got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise ValueError(f"features must be numeric; got dtype {x.dtype}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contains NaN or infinite values; only finite values are allowed.")
    return x


def _pca(x, n_components, random_state):
    from sklearn.decomposition import PCA

    n_components = min(n_components, x.shape[0], x.shape[1])
    return PCA(n_components=n_components, random_state=random_state).fit_transform(x)


def _pad2(y):
    out = np.zeros((y.shape[0], 2), dtype=np.float32)
    out[:, : min(2, y.shape[1])] = y[:, :2]
    return out


def _tsne(x, random_state, n_threads, perplexity=None, max_iter=TSNE_MAX_ITER):
    """openTSNE (FFT-interpolated gradients: O(N) per iteration, so 50,000 points
    take minutes, not hours); ``max_iter`` counts the 250 early-exaggeration
    iterations, as scikit-learn's does.  ``n_threads`` OpenMP threads (the job's
    ``config.job_threads``; the caller uses one below ``TSNE_PARALLEL_MIN`` inputs).  Jobs
    set ``OMP_WAIT_POLICY=PASSIVE`` (``analysis.session.job``): spinning threads made two
    threads 5-25x slower on a shared, oversubscribed machine (../shared/FACTS.md)."""
    from openTSNE import TSNE

    n = x.shape[0]
    perplexity = min(30.0, (n - 1) / 3.0) if perplexity is None else float(perplexity)
    if not 0 < perplexity < n:
        raise ValueError(f"t-SNE perplexity must be in (0, n_inputs={n}); got {perplexity}.")
    x = _pca(x, PRE_PCA_DIMS, random_state)
    early = min(TSNE_EARLY_ITER, int(max_iter))
    tsne = TSNE(n_components=2, perplexity=perplexity, initialization="pca",
                early_exaggeration_iter=early, n_iter=int(max_iter) - early,
                negative_gradient_method="fft", neighbors="exact" if n <= TSNE_EXACT_KNN_MAX else "annoy",
                n_jobs=int(n_threads), random_state=random_state, verbose=False)
    return np.asarray(tsne.fit(np.ascontiguousarray(x, dtype=np.float64)))


def _import_umap():
    """Import umap without its optional TensorFlow part (saves ~10 s per process).

    umap-learn imports TensorFlow only for ParametricUMAP, inside a
    ``try/except ImportError``; blocking the name for the duration of the
    import makes it skip that.  Only done when TensorFlow is not imported yet
    (projection jobs run in their own single-threaded processes).
    """
    import sys
    import warnings

    if "umap" in sys.modules or "tensorflow" in sys.modules:
        import umap
        return umap
    sys.modules["tensorflow"] = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)
            import umap
    finally:
        if sys.modules.get("tensorflow", 0) is None:
            del sys.modules["tensorflow"]
    return umap


def _umap(x, random_state, n_threads, n_neighbors=None, min_dist=0.1, max_fit=UMAP_MAX_FIT):
    import numba

    umap = _import_umap()

    n = x.shape[0]
    n_neighbors = min(15, n - 1) if n_neighbors is None else int(n_neighbors)
    if not 2 <= n_neighbors < n:
        raise ValueError(f"UMAP n_neighbors must be in [2, n_inputs={n}); got {n_neighbors}.")
    x = _pca(x, PRE_PCA_DIMS, random_state)
    fitted = _fit_sample(n, max_fit, random_state)
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        # A fixed random_state makes UMAP single-threaded; n_jobs=1 says so and avoids its warning.
        # init="pca": the default spectral init stalled for minutes on a neighbour
        # graph split into many pieces (near-duplicate images); PCA init does not.
        reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=float(min_dist),
                            init="pca",
                            random_state=random_state, n_jobs=1)
        y_fit = reducer.fit_transform(x[fitted])
    finally:
        numba.set_num_threads(previous)
    if len(fitted) == n:
        return y_fit
    return _place_rest(x, fitted, y_fit)


def _fit_sample(n, max_fit, random_state):
    """Sorted indices of the inputs a sampling method lays out (all when n <= max_fit)."""
    if n <= max_fit:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=int(max_fit), replace=False))


def _place_rest(x, fitted, y_fit, k=PLACE_NEIGHBOURS):
    """Coordinates for every input: laid-out ones keep theirs, each other one goes to the
    distance-weighted mean of its ``k`` nearest laid-out inputs (in the PCA space)."""
    from sklearn.neighbors import NearestNeighbors

    y = np.zeros((x.shape[0], 2))
    y[fitted] = y_fit
    rest = np.setdiff1d(np.arange(x.shape[0]), fitted)
    k = min(k, len(fitted))
    dist, nearest = NearestNeighbors(n_neighbors=k).fit(x[fitted]).kneighbors(x[rest])
    weight = 1.0 / (dist + 1e-12)
    weight /= weight.sum(axis=1, keepdims=True)
    y[rest] = np.einsum("ij,ijk->ik", weight, y_fit[nearest])
    return y


def _sq_dists(x, y, metric):
    """Squared distances between rows of x and rows of y: (len(x), len(y)) float64."""
    if metric == "cosine":
        def unit(a):
            norm = np.linalg.norm(a, axis=1, keepdims=True)
            return a / np.where(norm > 0, norm, 1.0)
        return np.square(np.clip(1.0 - unit(x) @ unit(y).T, 0.0, 2.0))
    xx = np.einsum("ij,ij->i", x, x)
    yy = np.einsum("ij,ij->i", y, y)
    return np.clip(xx[:, None] + yy[None, :] - 2.0 * (x @ y.T), 0.0, None)


def _top_eig(b, k):
    """Largest ``k`` eigenpairs of symmetric ``b``, largest first."""
    n = b.shape[0]
    k = min(k, n)
    if n <= 100:
        w, v = eigh(b, subset_by_index=[n - k, n - 1])
    else:
        # Lanczos is ~10x faster than a full LAPACK solve at n=1000.  A fixed
        # random start keeps it deterministic; not ones(n), which a
        # double-centred matrix maps to 0.
        v0 = np.random.default_rng(0).normal(size=n)
        w, v = eigsh(b, k=k, which="LA", v0=v0)
        top = np.argsort(w)
        w, v = w[top], v[:, top]
    return w[::-1], v[:, ::-1]


def _fix_signs(y):
    """Flip each axis so its largest-magnitude coordinate is positive (deterministic output)."""
    if y.size:
        signs = np.sign(y[np.argmax(np.abs(y), axis=0), np.arange(y.shape[1])])
        y = y * np.where(signs == 0, 1.0, signs)
    return y


def classical_mds(sq_dist, n_components=2):
    """Torgerson MDS of a squared-distance matrix.

    Parameters
    ----------
    sq_dist : ndarray of shape (n, n)
        Symmetric squared distances.
    n_components : int, default 2

    Returns
    -------
    ndarray of shape (n, n_components), float64
        Axes with non-positive eigenvalues are 0.
    """
    d = np.asarray(sq_dist, dtype=np.float64)
    b = d - d.mean(axis=0) - d.mean(axis=1)[:, None] + d.mean()
    w, v = _top_eig(-0.5 * b, n_components)
    y = np.zeros((d.shape[0], n_components))
    y[:, : w.size] = v * np.sqrt(np.clip(w, 0.0, None))
    return _fix_signs(y)


def _mds(x, random_state, metric="euclidean", n_landmarks=EXACT_MDS_MAX):
    n_landmarks = int(n_landmarks)
    n = x.shape[0]
    if n <= n_landmarks:
        return classical_mds(_sq_dists(x, x, metric))
    # Landmark MDS (de Silva & Tenenbaum 2004): classical MDS on the landmarks,
    # then every point is placed by distance-based triangulation against them.
    rng = np.random.default_rng(random_state)
    landmarks = np.sort(rng.choice(n, size=n_landmarks, replace=False))
    delta = _sq_dists(x[landmarks], x[landmarks], metric)
    mean_col = delta.mean(axis=0)
    b = -0.5 * (delta - mean_col - delta.mean(axis=1)[:, None] + delta.mean())
    w, v = _top_eig(b, 2)
    positive = w > 0
    pinv = np.zeros((n_landmarks, 2))
    pinv[:, positive] = v[:, positive] / np.sqrt(w[positive])
    y = -0.5 * (_sq_dists(x, x[landmarks], metric) - mean_col) @ pinv
    return _fix_signs(y)


def _check_params(method, params):
    unknown = set(params) - _PARAMS[method]
    if unknown:
        allowed = ", ".join(sorted(_PARAMS[method] | {"n_threads"}))
        raise ValueError(f"Unknown parameter(s) {', '.join(sorted(unknown))} for {method!r}; allowed: {allowed}.")
    if params.get("metric", "euclidean") not in MDS_METRICS:
        raise ValueError(f"Unknown MDS metric {params['metric']!r}; allowed: {', '.join(MDS_METRICS)}.")
    minimum = {"n_landmarks": 3, "max_iter": 250, "n_neighbors": 2, "max_fit": 16}
    for name, low in minimum.items():
        if name in params and (not isinstance(params[name], (int, np.integer)) or params[name] < low):
            raise ValueError(f"{name} must be an integer >= {low}; got {params[name]!r}.")
    for name, positive in (("perplexity", True), ("min_dist", False)):
        if name in params:
            value = params[name]
            if not isinstance(value, (int, float, np.number)) or value < 0 or (positive and value == 0):
                raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} number; got {value!r}.")


def project(features, method, random_state=0, **params):
    """Project inputs to 2-D (see ``project_with_info`` for how many points were used).

    Parameters
    ----------
    features : ndarray of shape (n_inputs, n_features)
        Finite features (e.g. one layer's channel summaries).
    method : {"pca", "umap", "tsne", "mds"}
        ``"pca"``: sklearn PCA.  ``"tsne"``: openTSNE (FFT gradients) on the
        first 50 PCA components, PCA initialisation, perplexity
        ``min(30, (n-1)/3)``, 750 iterations (250 early exaggeration).
        ``"umap"``: umap-learn on the first 50 PCA components, n_neighbors
        ``min(15, n-1)``, on at most ``max_fit`` (default 20,000) inputs drawn at
        random, the others placed among their nearest laid-out neighbours.  ``"mds"``: classical (Torgerson) MDS; above
        ``n_landmarks`` inputs, landmark MDS with that many random landmarks.
        With the default Euclidean metric, classical MDS equals PCA up to
        axis signs; ``metric="cosine"`` gives a different view.
    random_state : int, default 0
        Seed for every random step (t-SNE, UMAP, landmark choice).
    **params
        ``n_threads`` (int, default 2): most threads for BLAS, OpenMP and
        numba (t-SNE uses one below ``TSNE_PARALLEL_MIN`` inputs); ``perplexity``,
        ``max_iter`` for t-SNE; ``n_neighbors``, ``min_dist``, ``max_fit`` for UMAP;
        ``metric`` ("euclidean" or "cosine"), ``n_landmarks`` (default 1000) for MDS.

    Returns
    -------
    ndarray of shape (n_inputs, 2), float32
        All zeros when fewer than 2 inputs or no feature varies.
    """
    return project_with_info(features, method, random_state, **params)[0]


def sampling_info(n_inputs, method, **params):
    """How many inputs a projection computes its layout from, and how they are chosen.

    Returns
    -------
    dict
        ``n_inputs``, ``n_used`` (inputs the layout is fitted on) and
        ``sampling``: None when every input is used, else a sentence for the panel.
    """
    n_landmarks = int(params.get("n_landmarks", EXACT_MDS_MAX))
    max_fit = int(params.get("max_fit", UMAP_MAX_FIT))
    if method == "umap" and n_inputs > max_fit:
        return {"n_inputs": n_inputs, "n_used": max_fit,
                "sampling": f"UMAP of {max_fit:,} inputs drawn uniformly at random (seeded); "
                            f"the other {n_inputs - max_fit:,} are placed among their "
                            f"{PLACE_NEIGHBOURS} nearest laid-out neighbours"}
    if method == "mds" and n_inputs > n_landmarks:
        return {"n_inputs": n_inputs, "n_used": n_landmarks,
                "sampling": f"MDS of {n_landmarks:,} landmarks drawn uniformly at random "
                            f"(seeded); the other {n_inputs - n_landmarks:,} inputs are placed "
                            "by their distances to the landmarks"}
    return {"n_inputs": n_inputs, "n_used": n_inputs, "sampling": None}


def project_with_info(features, method, random_state=0, **params):
    """``project`` plus ``sampling_info``: ``(ndarray (n_inputs, 2) float32, dict)``."""
    if method not in METHODS:
        raise ValueError(f"Unknown projection method {method!r}; allowed: {', '.join(METHODS)}.")
    x = _check_features(features)
    params = dict(params)
    n_threads = params.pop("n_threads", 2)
    if not isinstance(n_threads, (int, np.integer)) or isinstance(n_threads, bool) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer; got {n_threads!r}.")
    _check_params(method, params)
    x = standardise(x)
    n = x.shape[0]
    info = sampling_info(n, method, **params)
    if n < 2 or x.shape[1] == 0:
        return np.zeros((n, 2), dtype=np.float32), info
    if method in ("tsne", "umap") and n < 4:
        raise ValueError(f"{method} needs at least 4 inputs; got {n}. Use 'pca' or 'mds' for fewer.")
    if method == "tsne" and n < TSNE_PARALLEL_MIN:
        n_threads = 1
    with threadpool_limits(limits=int(n_threads)):
        if method == "pca":
            y = _pca(x, 2, random_state)
        elif method == "tsne":
            y = _tsne(x, random_state, int(n_threads), **params)
        elif method == "umap":
            y = _umap(x, random_state, int(n_threads), **params)
        else:
            y = _mds(x, random_state, **params)
    return _pad2(np.asarray(y)), info


def warm_umap(random_state=0):
    """Run UMAP once on a tiny random array so numba compiles its kernels.

    The app runs it at start in a separate process (``python -m
    analysis.projection --warm``) with ``NUMBA_CACHE_DIR`` set, so the kernels
    numba can cache on disk are compiled once for every later job process.  Both nearest-neighbour paths are warmed:
    exact (used below 4,096 inputs) and NN-descent (used above).

    Parameters
    ----------
    random_state : int, default 0
    """
    umap = _import_umap()

    x = np.random.default_rng(random_state).normal(size=(64, 8)).astype(np.float32)
    with threadpool_limits(limits=1):
        for approximate in (False, True):
            umap.UMAP(n_neighbors=5, n_epochs=20, random_state=random_state, n_jobs=1,
                      force_approximation_algorithm=approximate).fit_transform(x)


if __name__ == "__main__":
    # ``python -m analysis.projection --warm``: compile UMAP's numba kernels once,
    # into NUMBA_CACHE_DIR when set (run by the app at start, in its own process).
    import sys

    if sys.argv[1:] == ["--warm"]:
        warm_umap()
