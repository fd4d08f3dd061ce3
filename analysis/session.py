"""A stored analysis as a typed object: the one reader of the result cache.

Callbacks and findings never read the stored record through string keys and
never format cache keys: they open a :class:`StoredAnalysis` and call one
method per product.  What is costly and does not depend on the user's later
choices (projections, Jaccard blocks, channel scores, hover texts, overlay
maps, findings) is memoised in the same diskcache under ``view/{key}/...``,
a name formatted here and nowhere else.

No Dash and no Keras here; the models are loaded by ``analysis.pipeline``
inside background jobs.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from analysis import store
from analysis.errors import NotEnoughData, UserError

# Classical MDS on Euclidean distances equals PCA; cosine distances give another view.
PROJECTION_PARAMS = {"mds": {"metric": "cosine"}}


class AnalysisMissing(UserError):
    """The page refers to an analysis that is not (or no longer) in the cache."""


def view_name(key: str, *parts) -> str:
    """Cache name of a derived product of analysis ``key`` (the only key formatter)."""
    return "/".join(["view", key, *(str(part) for part in parts)])


@dataclass(frozen=True, eq=False)
class StoredAnalysis:
    """One complete analysis in the result cache, with typed fields.

    Attributes
    ----------
    key : str
        Content hash of model, images and settings.
    n : int
        Number of inputs.
    labels : ndarray of shape (n,), int
        Class index of each input (position in ``class_names``).
    files : list of str, length n
        Paths relative to ``data``.
    layers : list of str
        Extracted layers, input to output.
    top_classes, top_probs : ndarray of shape (n, t) or None
        The model's top predictions, when it has a class output.
    meta : dict
        The raw stored record, handed only to ``analysis.pipeline``'s job helpers.
    """

    cache: Any
    key: str
    meta: dict
    n: int
    class_names: list
    labels: np.ndarray
    files: list
    data: str
    model: str
    layers: list
    summaries: list
    layer_info: list
    input_shape: tuple
    model_classes: int | None
    model_fingerprint: str
    data_fingerprint: str
    top_classes: np.ndarray | None
    top_probs: np.ndarray | None
    request: dict

    @classmethod
    def from_meta(cls, cache, meta: dict) -> "StoredAnalysis":
        top = meta.get("top_classes")
        probs = meta.get("top_probs")
        return cls(
            cache=cache, key=meta["key"], meta=meta, n=len(meta["files"]),
            class_names=[str(name) for name in meta["class_names"]],
            labels=np.asarray(meta["labels"]), files=list(meta["files"]), data=meta["data"],
            model=str(meta.get("model", "")), layers=list(meta["layers"]),
            summaries=list(meta.get("summaries", ())), layer_info=list(meta.get("layer_info", ())),
            input_shape=tuple(meta.get("input_shape") or ()),
            model_classes=meta.get("model_classes"),
            model_fingerprint=meta.get("model_fingerprint", ""),
            data_fingerprint=meta.get("data_fingerprint", ""),
            top_classes=None if top is None else np.asarray(top),
            top_probs=None if probs is None else np.asarray(probs),
            request=dict(meta.get("request") or {}))

    # ---- plain reads -------------------------------------------------------------------------

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def predicted(self) -> np.ndarray | None:
        """Top-1 predicted class per input, or None when the model gave no classes."""
        return None if self.top_classes is None else self.top_classes[:, 0]

    @property
    def marks_key(self) -> str:
        """Durable key of the user's marks: the model and the image set, not the settings."""
        return f"{self.model_fingerprint}:{self.data_fingerprint}"

    def path(self, index: int) -> str:
        """Absolute path of input ``index``."""
        return os.path.join(self.data, self.files[index])

    def thumbnail(self, index: int, size: int = 84) -> str:
        """Data URI of input ``index``'s small picture, made once by the job (no decoding
        of originals in the web process; analyses stored before that are decoded, bounded)."""
        if self.meta.get("thumbnails"):
            return store.thumbnail_uri(self.cache, self.key, index)
        from analysis import datasets

        return datasets.thumbnail_uri(self.path(index), size)

    def class_of(self, index: int) -> str:
        return self.class_names[int(self.labels[index])]

    def require_layer(self, layer: str | None) -> str:
        """``layer`` if it was extracted; UserError otherwise."""
        if layer not in self.layers:
            raise UserError(f"Layer {layer} is not part of this analysis; pick another layer "
                            "or run the analysis again with it.")
        return layer

    def layer_summaries(self, layer: str) -> dict:
        """``{summary: ndarray (n, C)}`` of one layer."""
        try:
            return store.load_layer(self.cache, self.key, layer)
        except KeyError as error:
            raise AnalysisMissing("Part of this analysis was evicted from the cache; "
                                  "run it again.") from error

    def acts(self, layer: str, summary: str) -> np.ndarray:
        """One layer's summaries, (n, C) float32."""
        stored = self.layer_summaries(layer)
        if summary not in stored:
            raise UserError(f"Summary {summary!r} was not stored for this analysis "
                            f"(stored: {', '.join(stored)}).")
        return np.asarray(stored[summary], dtype=np.float32)

    def channels(self, layer: str, summary: str = "mean") -> int:
        return self.acts(layer, summary).shape[1]

    def probs(self) -> np.ndarray | None:
        """The model's class probabilities (n, K) or None."""
        return store.load_probs(self.cache, self.key)

    # ---- memoised products -------------------------------------------------------------------

    def name(self, *parts) -> str:
        return view_name(self.key, *parts)

    def memo(self, parts: tuple, compute: Callable[[], Any]):
        """``compute()`` once per ``parts``, stored in the result cache."""
        return store.memo(self.cache, self.name(*parts), compute)

    def has(self, *parts) -> bool:
        return self.name(*parts) in self.cache

    def projection(self, layer: str, summary: str, method: str = "pca", n_threads: int = 2):
        """(n, 2) float32 projection of one layer's summaries."""
        from analysis.projection import project

        return self.memo(("projection", layer, summary, method), lambda: project(
            self.acts(layer, summary), method, random_state=0, n_threads=n_threads,
            **PROJECTION_PARAMS.get(method, {})))

    def has_projection(self, layer: str, summary: str, method: str) -> bool:
        return method == "pca" or self.has("projection", layer, summary, method)

    def clusters(self, layer: str, summary: str) -> np.ndarray:
        """k-means cluster of each input (k = number of classes)."""
        from analysis import views

        return self.memo(("clusters", layer, summary),
                         lambda: views.clusters(self.acts(layer, summary), self.n_classes))

    def jaccard(self, layer: str, summary: str, rule: str, value: float) -> dict:
        """``views.jaccard_data`` of a layer (blocks, classes, ...)."""
        from analysis import views

        return self.memo(("jaccard", layer, summary, rule, f"{value:.4f}"), lambda: views.jaccard_data(
            self.acts(layer, summary), self.labels, self.n_classes, rule, value))

    def heatmap_order(self, layer: str, summary: str) -> np.ndarray:
        """Inputs grouped by class, similar inputs adjacent."""
        from analysis import views

        return self.memo(("heatmap-order", layer, summary),
                         lambda: views.heatmap_order(self.acts(layer, summary), self.labels))

    def static_scores(self, layer: str, summary: str, criterion: str):
        """Scores of a selection-independent criterion, or None for "selection"."""
        from analysis import views

        if criterion == "selection":
            return None
        return self.memo(("scores", layer, summary, criterion), lambda: views.channel_scores(
            self.acts(layer, summary), self.labels, criterion))

    def hover_texts(self) -> list:
        """Per input: file name, label and the model's top prediction."""
        from analysis import views

        return self.memo(("hover",), lambda: views.hover_texts(
            self.files, self.labels, self.class_names, self.top_classes, self.top_probs))

    def overlay_maps(self, layer: str, index: int, n_threads: int = 2):
        """(image uint8 (H, W, 3), maps float16 (h, w, C)) of one input (runs the model: jobs only)."""
        from analysis import pipeline

        def compute():
            image, maps = pipeline.activation_maps(self.meta, layer, index, n_threads)
            return image.astype(np.uint8), maps.astype(np.float16)

        return self.memo(("maps", layer, index), compute)

    # Findings: the numerics live in analysis.findings; only the caching is here.

    def class_counts(self) -> np.ndarray:
        """Images per class, (K,) int."""
        return np.bincount(self.labels, minlength=self.n_classes)

    def mislabel_ranking(self, summary: str = "mean") -> dict:
        from analysis import findings
        from analysis.mislabel import mislabel_scores
        neighbours = inspect.signature(mislabel_scores).parameters["n_neighbors"].default
        if (self.class_counts() > 0).sum() < 2 or self.n <= neighbours:
            raise NotEnoughData(f"Ranking likely mislabelled inputs compares each image with its "
                                f"{neighbours} nearest neighbours: it needs more than {neighbours} "
                                f"images in at least two classes (this set has {self.n}).")
        return findings.mislabel_ranking(self.cache, self.meta, summary)

    def class_tree(self, layer: str, summary: str = "mean") -> dict:
        from analysis import findings
        if (self.class_counts() > 0).sum() < 3:
            raise NotEnoughData("A class tree needs at least three classes with images.")
        return findings.class_tree(self.cache, self.meta, layer, summary)

    def subclass_split(self, layer: str, label: int, summary: str = "mean") -> dict:
        from analysis import findings
        members = int(self.class_counts()[int(label)])
        if members < 3:
            raise NotEnoughData(f"Sub-classes of {self.class_names[int(label)]} need at least 3 of "
                                f"its images; it has {members}.")
        return findings.subclass_split(self.cache, self.meta, layer, int(label), summary)

    def unimportant_channels(self, layer: str) -> list:
        from analysis import findings
        return findings.unimportant_channels(self.cache, self.meta, layer)

    def border_scanned(self, layer: str) -> bool:
        return self.has("border", layer)

    def store_border_scan(self, layer: str, maps: np.ndarray) -> dict:
        from analysis import findings
        return findings.store_border_scan(self.cache, self.key, layer, maps)

    def discriminative_channels(self, layer: str, summary: str = "mean") -> np.ndarray:
        from analysis import findings
        return findings.discriminative_channels(self.cache, self.meta, layer, summary)

    def separability_curve(self, summary: str = "mean") -> dict:
        from analysis import findings
        return findings.separability_curve(self.cache, self.meta, summary)


def open(cache, key: str | None) -> StoredAnalysis | None:  # noqa: A001 - the module's verb
    """The stored analysis ``key``, or None when it is missing or incomplete."""
    if not key:
        return None
    meta = store.load_meta(cache, key)
    return None if meta is None else StoredAnalysis.from_meta(cache, meta)


def require(cache, analysis: dict | None) -> StoredAnalysis:
    """The analysis the page shows (its store value), or a UserError saying what to do."""
    if not analysis or not analysis.get("key"):
        raise AnalysisMissing("Run an analysis first.")
    session = open(cache, analysis["key"])
    if session is None:
        raise AnalysisMissing("This analysis is no longer in the cache; run it again.")
    return session


@contextlib.contextmanager
def job(config, threads_env: tuple = ("OMP_NUM_THREADS",)) -> Iterator[Any]:
    """Scaffolding of a background job: thread limits and the result cache, closed at the end.

    ``with session.job(config) as cache: ...`` sets ``threads_env`` (before any
    OpenMP/numba import in the fresh job process) and limits BLAS/OpenMP threads
    to ``config.job_threads``.  Idle OpenMP threads sleep instead of spinning
    (``OMP_WAIT_POLICY=PASSIVE``), so jobs sharing a busy machine do not steal
    each other's cores.
    """
    from threadpoolctl import threadpool_limits

    for name in threads_env:
        os.environ.setdefault(name, str(config.job_threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cache = store.open_cache(config.results_dir, config.cache_size_limit)
    try:
        with threadpool_limits(config.job_threads):
            yield cache
    finally:
        cache.close()

