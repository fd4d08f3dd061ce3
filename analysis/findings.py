"""The findings of a stored analysis, computed once and cached (no Dash, no Keras).

Each function reads the N x C summaries from the result cache, calls the
pure finding modules (mislabel, hierarchy, channels, separability) and
memoises what does not depend on the user's later choices.
"""

from __future__ import annotations

import numpy as np

from analysis import channels, hierarchy, jaccard, mislabel, ranking, separability, store
from analysis.errors import NotEnoughData
from analysis.session import view_name

# Defaults measured on the demo (benchmarks/results_findings.md): the class tree
# recovers the known super-classes with the top 30% channels (10% was too
# sparse); border flags need maps of at least 7x7 and a stricter rule, and
# redundancy on stored means a stricter correlation, to stop false flags.
TOP_FRACTION = 0.3
MIN_BORDER_MAP = 7
BORDER_FACTOR, BORDER_MIN_SHARE = 3.0, 0.7
REDUNDANCY_THRESHOLD = 0.995


def marks_key(meta: dict) -> str:
    """Durable key of the user's marks: the model and the image set, not the settings."""
    return f"{meta['model_fingerprint']}:{meta['data_fingerprint']}"


def deep_layers(meta: dict) -> list[str]:
    """The deeper half of the extracted layers (where classes form), without the output layer."""
    layers = [layer for layer in meta["layers"] if layer != meta["layers"][-1]] or meta["layers"]
    return layers[len(layers) // 2:]


def mislabel_ranking(cache, meta: dict, summary: str = "mean") -> dict:
    """Scores and suggestions for every input (memoised)."""
    def compute():
        layer_acts = {layer: store.load_layer(cache, meta["key"], layer)[summary]
                      for layer in deep_layers(meta)}
        probs = store.load_probs(cache, meta["key"])
        if probs is not None and probs.shape[1] != len(meta["class_names"]):
            probs = None  # the model's classes are not the folder's classes
        result = mislabel.mislabel_scores(layer_acts, np.asarray(meta["labels"]), probs)
        return {"score": result["score"], "suggested": result["suggested"],
                "order": mislabel.rank(result["score"]), "layers": list(layer_acts)}

    return store.memo(cache, view_name(meta["key"], "mislabel", summary), compute)


def ranking_rows(meta: dict, ranking_result: dict, top: int | None = 50) -> list[dict]:
    """Table rows of the most suspicious inputs (all rows with top=None)."""
    names = meta["class_names"]
    order = ranking_result["order"] if top is None else ranking_result["order"][:top]
    rows = []
    for rank_position, i in enumerate(order, start=1):
        rows.append({"rank": rank_position, "index": int(i), "file": meta["files"][i],
                     "label": names[meta["labels"][i]],
                     "suggested": names[ranking_result["suggested"][i]],
                     "score": round(float(ranking_result["score"][i]), 4)})
    return rows


def class_similarity(cache, meta: dict, layer: str, summary: str = "mean") -> np.ndarray:
    """K x K mean Jaccard of activated-channel sets between classes (memoised)."""
    def compute():
        acts = store.load_layer(cache, meta["key"], layer)[summary]
        active = jaccard.activated_sets(acts, "topk", TOP_FRACTION)
        return jaccard.class_jaccard(active, np.asarray(meta["labels"]), len(meta["class_names"]))

    return store.memo(cache, view_name(meta["key"], "class-similarity", layer, summary), compute)


def class_tree(cache, meta: dict, layer: str, summary: str = "mean", n_groups=None) -> dict:
    """Dendrogram nodes and super-class of each class."""
    similarity = class_similarity(cache, meta, layer, summary)
    linkage, leaves = hierarchy.class_dendrogram(similarity)
    groups = hierarchy.super_classes(linkage, n_groups)
    nodes = hierarchy.dendrogram_segments(linkage, [str(n) for n in meta["class_names"]])
    return {"nodes": nodes, "groups": groups, "leaves": leaves}


def subclass_split(cache, meta: dict, layer: str, label: int, summary: str = "mean") -> dict:
    """Clusters of one class's inputs in a layer, k chosen by silhouette (memoised)."""
    def compute():
        acts = store.load_layer(cache, meta["key"], layer)[summary]
        members = np.flatnonzero(np.asarray(meta["labels"]) == label)
        result = hierarchy.sub_classes(acts[members], random_state=0)
        return {"members": members, "labels": result["labels"], "k": result["k"],
                "silhouettes": result["silhouettes"]}

    return store.memo(cache, view_name(meta["key"], "subclasses", layer, summary, label), compute)


def unimportant_channels(cache, meta: dict, layer: str) -> list[dict]:
    """Flagged channels of a layer; border reasons once a border scan is cached."""
    acts = store.load_layer(cache, meta["key"], layer)
    border = cache.get(border_name(meta["key"], layer))
    scores, expected = (border["scores"], border["expected"]) if border else (None, None)
    return channels.unimportant_table(acts["max"], acts["mean"], scores,
                                      border_expected=expected, border_factor=BORDER_FACTOR,
                                      border_min_share=BORDER_MIN_SHARE,
                                      redundancy_threshold=REDUNDANCY_THRESHOLD)


def border_name(key: str, layer: str) -> str:
    return view_name(key, "border", layer)


def store_border_scan(cache, key: str, layer: str, maps: np.ndarray, band: float = 0.15) -> dict:
    """Border share per channel from full maps of a sample (N_s, H, W, C)."""
    if maps.ndim != 4:
        raise NotEnoughData(f"Layer {layer} has no 2-D maps; border attention needs H x W maps.")
    if min(maps.shape[1:3]) < MIN_BORDER_MAP:
        raise NotEnoughData(f"Layer {layer}'s maps are {maps.shape[1]}x{maps.shape[2]}; a border "
                         f"band means little below {MIN_BORDER_MAP}x{MIN_BORDER_MAP}.")
    result = {"scores": channels.border_scores(maps, band),
              "expected": channels.border_area_share(maps.shape[1], maps.shape[2], band),
              "samples": len(maps)}
    cache.set(border_name(key, layer), result)
    return result


def discriminative_channels(cache, meta: dict, layer: str, summary: str = "mean") -> np.ndarray:
    """Channels of a layer by class discrimination (F), best first."""
    acts = store.load_layer(cache, meta["key"], layer)[summary]
    scores = ranking.channel_scores(acts, np.asarray(meta["labels"]), "f_stat")
    return ranking.top_channels(np.nan_to_num(scores, posinf=np.finfo(np.float64).max), None)


def separability_curve(cache, meta: dict, summary: str = "mean") -> dict:
    """Cross-validated kNN accuracy of each extracted layer (memoised)."""
    def compute():
        labels = np.asarray(meta["labels"])
        largest = int(np.bincount(labels).max())
        if largest < 2:
            return {}
        layer_acts = {layer: store.load_layer(cache, meta["key"], layer)[summary]
                      for layer in meta["layers"]}
        # Small image sets: fewer folds rather than no curve.
        return separability.separability(layer_acts, labels, cv=min(5, largest),
                                         n_neighbors=min(5, max(1, largest - 1)))

    return store.memo(cache, view_name(meta["key"], "separability", summary), compute)
