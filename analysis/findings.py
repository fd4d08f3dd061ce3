"""The findings of a stored analysis, computed once and cached (no Dash, no Keras).

Each function reads the N x C summaries from the result cache, calls the
pure finding modules (mislabel, hierarchy, channels, separability) and
memoises what does not depend on the user's later choices.
"""

from __future__ import annotations

import numpy as np

from analysis import channel_table, channels, hierarchy, jaccard, mislabel, ranking, separability, stability, store
from analysis.errors import NotEnoughData
from analysis.session import view_name

# Defaults chosen on the tuning set only (the Fashion-MNIST demo), then checked
# unchanged on the validation set (benchmarks/results_findings.md):
# - the class tree averages the class similarity of the deeper half of the
#   layers (one layer's automatic cut was fragile) with each input's top 30%
#   channels;
# - weak = mean activation under 3% of the layer's median channel (5% already
#   flagged a channel whose removal cost an image);
# - border attention only on maps of at least 16 x 16 (on 14 x 14 and smaller
#   the "border" flags were silhouette channels the network needs) with the
#   stricter rule (factor 3, 70% of the mass);
# - redundancy on the full maps of MAP_SAMPLES inputs at r >= 0.98; before such
#   a scan, on the stored means at r >= 0.995 (means mislead at 0.98).
TOP_FRACTION = 0.3
WEAK_THRESHOLD = 0.03
MIN_BORDER_MAP = 16
BORDER_FACTOR, BORDER_MIN_SHARE = 3.0, 0.7
BORDER_BAND = 0.15
MAP_REDUNDANCY_THRESHOLD = 0.98
REDUNDANCY_THRESHOLD = 0.995
MAP_SAMPLES = 64
N_BOOT = 10
# Contribution to the next layer = mean L2 norm of the channel's map x norm of
# its outgoing weights, relative to the layer's median channel: added after
# run 2 (the validation set had layers where nothing was flagged); threshold
# chosen on the tuning set only, the largest of 0.1 / 0.15 / 0.2 that kept
# 10 of 10 layers there (0.15: 8, 0.2: 7); frozen before the holdout run
# (benchmarks/results_findings.md).
CONTRIBUTION_SUMMARY = "l2"
CONTRIBUTION_THRESHOLD = 0.1
# The ablation check (added after run 3, chosen without any set's figures): each
# layer's flagged channels are removed together on up to CHECK_INPUTS inputs
# (stratified by class) against CHECK_RANDOM draws of as many random channels;
# channels that cost accuracy are left out until the rest costs at most a third
# of the random drop.  A layer with nothing flagged is checked with its
# CHECK_CANDIDATE_SHARE lowest-contribution channels (at least one).
# CHECK_CANDIDATE_SHARE was 0.05 until run 5; raised to 0.1 (set a priori, not swept) after
# run 5 showed that post-activation outputs of Conv -> BN -> ReLU blocks get no rule flags,
# so the candidates are all the check has there, and one or two were too few to find a free one.
# Changed after run 10 (step 21 of benchmarks/results_findings.md): the check runs layer after
# layer, each layer judged with the earlier layers' kept channels already removed, so that the
# costs of several layers cannot add up unseen (run 10 tried this together with removal by average).
CHECK_INPUTS = 1000
CHECK_RANDOM = 5
CHECK_CANDIDATE_SHARE = 0.1


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


def combined_similarity(cache, meta: dict, summary: str = "mean") -> np.ndarray:
    """K x K class similarity averaged over :func:`deep_layers` (each min-max scaled off the diagonal)."""
    return hierarchy.combine_similarities([class_similarity(cache, meta, layer, summary)
                                           for layer in deep_layers(meta)])


#: ``layer`` value of :func:`class_tree` for the deeper layers combined (the default).
DEEP = "deep layers"


def class_tree(cache, meta: dict, layer: str = DEEP, summary: str = "mean", n_groups=None) -> dict:
    """Dendrogram nodes and super-class of each class (one layer, or :data:`DEEP` combined)."""
    similarity = (combined_similarity(cache, meta, summary) if layer == DEEP
                  else class_similarity(cache, meta, layer, summary))
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
    """Flagged channels of a layer, each with one explanation line per reason.

    Dead, weak and always-on come from the stored summaries.  Redundancy and
    border attention need full maps: once :func:`store_map_scan` has run for
    the layer, redundancy is judged on the maps and border attention is
    tested (maps of at least :data:`MIN_BORDER_MAP` pixels); before, redundancy
    uses the stored means at the stricter :data:`REDUNDANCY_THRESHOLD`.
    """
    acts = store.load_layer(cache, meta["key"], layer)
    scan = cache.get(border_name(meta["key"], layer))
    scores = expected = redundancy = None
    if scan:
        scores, expected = scan.get("scores"), scan.get("expected")
        redundancy = scan.get("redundancy")
    norms = (cache.get(outgoing_name(meta["key"])) or {}).get(layer)
    # Dead, weak and always-on assume ReLU-like outputs; on a layer whose output can be negative
    # (a batch norm feeding a residual Add) they flag channels the model needs (fifth set, run 6).
    relu_like = not signed_layer(meta, layer)
    if not relu_like and scores is None and redundancy is None and acts.get(CONTRIBUTION_SUMMARY) is None:
        return []  # nothing that applies to a signed output has been measured yet
    rows = channel_table.unimportant_table(acts["max"] if relu_like else None,
                                           acts["mean"] if relu_like else None, scores,
                                           border_expected=expected,
                                           redundancy=redundancy, weak_threshold=WEAK_THRESHOLD,
                                           border_factor=BORDER_FACTOR, border_min_share=BORDER_MIN_SHARE,
                                           redundancy_threshold=REDUNDANCY_THRESHOLD, band=BORDER_BAND,
                                           energy=acts.get(CONTRIBUTION_SUMMARY), out_norms=norms,
                                           contribution_threshold=CONTRIBUTION_THRESHOLD)
    check = (cache.get(check_name(meta["key"])) or {}).get(layer)
    if check is not None and check["flagged"] == sorted(row["channel"] for row in rows):
        rows = channel_table.apply_check(rows, check, _relative_contribution(acts, norms))
    return rows


def signed_layer(meta: dict, layer: str) -> bool:
    """True when the analysis recorded that ``layer``'s output can be negative (analyses made
    before the record existed count as non-negative, as they were judged then)."""
    info = next((row for row in meta.get("layer_info", []) if row["name"] == layer), {})
    return info.get("nonnegative") is False


def _relative_contribution(acts: dict, norms) -> np.ndarray:
    """Each channel's contribution relative to the layer's median (mean energy alone without norms)."""
    from analysis import contribution
    energy = acts.get(CONTRIBUTION_SUMMARY, acts["mean"])
    return contribution.relative_contribution(energy, np.ones(energy.shape[1]) if norms is None else norms)


def channel_spread(cache, meta: dict, layer: str, share: float = CHECK_CANDIDATE_SHARE) -> float | None:
    """How much the layer's ``share`` lowest-contribution channels contribute, relative to its median.

    The ``share`` quantile of the relative contribution (mean activation energy x outgoing
    weights once they are cached, energy alone before; the figure the ablation check ranks a
    flagless layer's candidates by): near 1, the channels are alike and none stands out, so removing
    the weakest costs about what removing random ones does (benchmarks/results_findings.md, step
    20); near 0, some channels barely contribute.  None when no channel contributes.
    """
    rel = _relative_contribution(store.load_layer(cache, meta["key"], layer),
                                 (cache.get(outgoing_name(meta["key"])) or {}).get(layer))
    if not np.isfinite(rel).any():
        return None
    return float(np.quantile(rel[np.isfinite(rel)], share))


def check_name(key: str) -> str:
    return f"{key}:flag-check"


def check_inputs(labels, limit: int = CHECK_INPUTS, random_state: int = 0) -> np.ndarray:
    """Sorted indices of at most ``limit`` inputs, the same share of every class."""
    labels = np.asarray(labels)
    if len(labels) <= limit:
        return np.arange(len(labels))
    rng = np.random.default_rng(random_state)
    picked = np.concatenate([rng.choice(np.flatnonzero(labels == c), max(1, round(limit * np.mean(labels == c))),
                                        replace=False) for c in np.unique(labels)])
    if len(picked) > limit:  # rounding up in many classes: drop at random, not the last class
        picked = rng.choice(picked, limit, replace=False)
    return np.sort(picked)


def check_flags(cache, meta: dict, model, images, labels, layers, n_random: int = CHECK_RANDOM,
                random_state: int = 0, progress=None) -> dict:
    """Check every layer's flagged channels by ablation on ``images`` (see ``removal.verify_layer``);
    stored for :func:`unimportant_channels` and :func:`removal_plan`.

    Layers are checked in ``layers``' order, each with the channels kept in the layers before it
    already removed (zeroed, or merged when redundant).

    ``images``/``labels``: the inputs to check on (e.g. :func:`check_inputs` of the analysis).
    Returns layer -> the check's dict plus ``flagged`` (the rule flags it checked).
    """
    from analysis import removal
    masked = removal.MaskedModel(model, layers)
    before = ({}, {})  # what the check kept in the layers before this one: removed while judging it
    out = {}
    for number, layer in enumerate(layers):
        zeroed, merged = _layer_plan(cache, meta, layer, checked=False)
        flagged = sorted(zeroed + list(merged))
        candidates = ()
        if not flagged:
            rel = _relative_contribution(store.load_layer(cache, meta["key"], layer),
                                         (cache.get(outgoing_name(meta["key"])) or {}).get(layer))
            count = max(1, int(round(CHECK_CANDIDATE_SHARE * len(rel))))
            candidates = [int(c) for c in np.argsort(np.nan_to_num(rel, nan=np.inf), kind="stable")[:count]]
        result = removal.verify_layer(masked, images, labels, layer, zeroed, merged, None, n_random,
                                      [random_state, number], candidates_if_none=candidates,
                                      removed_before=before)
        if result["kept_zeroed"]:
            before[0][layer] = result["kept_zeroed"]
        if result["kept_merged"]:
            before[1][layer] = result["kept_merged"]
        out[layer] = dict(result, flagged=flagged)
        if progress is not None:
            progress(number + 1, len(layers))
    cache.set(check_name(meta["key"]), out)
    return out


def ensure_outgoing(cache, meta: dict, n_threads: int = 2) -> None:
    """:func:`store_outgoing` unless cached (loads the model: call it inside a job)."""
    if cache.get(outgoing_name(meta["key"])) is None:
        from analysis import pipeline
        model, _ = pipeline.stored_model_and_images(meta, n_threads)
        store_outgoing(cache, meta, model)


def outgoing_name(key: str) -> str:
    """Cache name of the outgoing weight norms of every layer (layer -> (C,) array or None)."""
    return view_name(key, "outgoing")


def store_outgoing(cache, meta: dict, model) -> dict:
    """Outgoing weight norms of every extracted layer, from the loaded model, cached for the contribution test."""
    from analysis import contribution
    norms = contribution.outgoing_norms(model, meta["layers"])
    cache.set(outgoing_name(meta["key"]), norms)
    return norms


def border_name(key: str, layer: str) -> str:
    """Cache name of a layer's map scan (border shares and redundancy on maps)."""
    return view_name(key, "border", layer)


def map_scan(maps: np.ndarray, band: float = BORDER_BAND) -> dict:
    """Border shares (maps of at least MIN_BORDER_MAP px) and redundancy from full maps of a sample.

    Parameters
    ----------
    maps : ndarray of float, shape (n_samples, *positions, C)

    Returns
    -------
    dict
        ``scores`` (C,) and ``expected`` (band area share), both None for
        maps without a border test (too small, or not 2-D); ``redundancy``
        (redundant, partner, correlation) from ``channels.map_redundancy``;
        ``samples``; ``note`` (why there is no border test, or "").
    """
    maps = np.asarray(maps)
    if maps.ndim < 2 or len(maps) < 1:
        raise NotEnoughData("A map scan needs the maps of at least one input.")
    note = ""
    scores = expected = None
    if maps.ndim != 4:
        note = "no 2-D maps: no border test"
    elif min(maps.shape[1:3]) < MIN_BORDER_MAP:
        note = (f"maps of {maps.shape[1]}x{maps.shape[2]} are too small for a border test "
                f"(needs {MIN_BORDER_MAP}x{MIN_BORDER_MAP})")
    else:
        scores = channels.border_scores(maps, band)
        expected = channels.border_area_share(maps.shape[1], maps.shape[2], band)
    redundancy = (channels.map_redundancy(maps, MAP_REDUNDANCY_THRESHOLD)
                  if maps.reshape(-1, maps.shape[-1]).shape[0] >= 2 else None)
    fits = channels.merge_fits(maps, redundancy[1]) if redundancy is not None else {}
    return {"scores": scores, "expected": expected, "redundancy": redundancy, "merge": fits,
            "samples": len(maps), "note": note}


def removal_plan(cache, meta: dict, layers) -> tuple[dict, dict]:
    """(zeroed, merged) for removing every flagged channel of ``layers``.

    ``zeroed``: layer -> channels to zero (dead, weak, always-on, border,
    low contribution, and channels the ablation check added);
    ``merged``: layer -> {channel: (partner, scale, offset)} for channels
    flagged only as redundant on full maps (replaced by the fit of their
    partner).  A redundant channel without a map fit is zeroed.  Channels the
    ablation check left out (:func:`check_flags`) are not removed.
    """
    zeroed, merged = {}, {}
    for layer in layers:
        layer_zeroed, layer_merged = _layer_plan(cache, meta, layer, checked=True)
        if layer_zeroed:
            zeroed[layer] = layer_zeroed
        if layer_merged:
            merged[layer] = layer_merged
    return zeroed, merged


def _layer_plan(cache, meta: dict, layer: str, checked: bool) -> tuple[list, dict]:
    """(zeroed, merged) of one layer: with ``checked``, as the ablation check left it;
    else from the flag rules alone (what the check is given)."""
    scan = cache.get(border_name(meta["key"], layer)) or {}
    fits = scan.get("merge") or {}
    zeroed, merged = [], {}
    for row in unimportant_channels(cache, meta, layer):
        left_out = row.get("checked") is False            # the check kept it back
        added = row["reasons"] == ["removable"]           # the check put it forward
        if (left_out if checked else added):
            continue
        if row["reasons"] == ["redundant"] and row["channel"] in fits:
            merged[row["channel"]] = fits[row["channel"]]
        else:
            zeroed.append(row["channel"])
    return zeroed, merged


def store_map_scan(cache, key: str, layer: str, maps: np.ndarray) -> dict:
    """:func:`map_scan` of a sample's full maps, cached for :func:`unimportant_channels`."""
    result = map_scan(maps)
    cache.set(border_name(key, layer), result)
    return result


def store_border_scan(cache, key: str, layer: str, maps: np.ndarray) -> dict:
    """The page's name for :func:`store_map_scan`."""
    return store_map_scan(cache, key, layer, maps)


def all_unimportant(cache, meta: dict, layers=None) -> dict:
    """Layer -> :func:`unimportant_channels` rows, for the given (default: every extracted) layers."""
    return {layer: unimportant_channels(cache, meta, layer) for layer in (layers or meta["layers"])}


def unimportant_csv(cache, meta: dict, layers=None) -> str:
    """CSV of every flagged channel (layer, channel, reasons, figures, explanation)."""
    return channel_table.table_csv(all_unimportant(cache, meta, layers))


def removable_layers(meta: dict) -> list[str]:
    """Layers whose flagged channels the removal check zeroes: every extracted layer but the output."""
    return [layer for layer in meta["layers"] if layer != meta["layers"][-1]]


def removal_job(cache, meta: dict, n_threads: int = 2, n_random_repeats: int = 5, random_state: int = 0,
                progress=None) -> dict:
    """Scan maps where missing, check each layer's flags by ablation on up to ``CHECK_INPUTS``
    inputs (:func:`check_flags`), then remove every kept channel of every layer at once (loads
    the model).

    Redundant channels are merged into their partner (see :func:`removal_plan`).
    ``progress(done, total, text)``, if given, is called before each step (map scans, loading,
    each layer's check, the removal), so a page can show how far the job is.

    Returns :func:`analysis.removal.removal_check`'s dict plus ``flagged``
    (layer -> channel list).
    """
    from analysis import pipeline, removal
    if meta.get("model_classes") != len(meta["class_names"]):
        raise pipeline.AnalysisError(
            f"The model has {meta.get('model_classes')} outputs but the images have "
            f"{len(meta['class_names'])} classes; accuracy cannot be measured.")
    layers = removable_layers(meta)
    unscanned = [layer for layer in layers if cache.get(border_name(meta["key"], layer)) is None]
    total = len(unscanned) + 1 + len(layers) + 1
    report = progress or (lambda done, total, text: None)
    for number, layer in enumerate(unscanned):
        report(number, total, f"Scanning the maps of {layer} ({number + 1} of {len(unscanned)})")
        store_map_scan(cache, meta["key"], layer, pipeline.sample_maps(meta, layer, MAP_SAMPLES, n_threads))
    report(len(unscanned), total, "Loading the model and the images")
    model, batches = pipeline.stored_model_and_images(meta, n_threads)
    if cache.get(outgoing_name(meta["key"])) is None:
        store_outgoing(cache, meta, model)
    labels = np.asarray(meta["labels"])
    chosen = check_inputs(labels)
    check_images = (batches if len(chosen) == len(labels) else
                    pipeline.stored_images(meta, chosen))
    start = len(unscanned) + 1

    def checked(done, count):
        if done < count:
            report(start + done, total, f"Checking the flags of {layers[done]} by ablation on "
                                        f"{len(chosen):,} inputs ({done + 1} of {count})")

    checked(0, len(layers))
    check = check_flags(cache, meta, model, check_images, labels[chosen], layers, random_state=random_state,
                        progress=checked)
    report(total - 1, total, f"Removing every kept channel at once, and {n_random_repeats} random draws, "
                             f"on {len(labels):,} inputs")
    summary = {"n_images": len(chosen), "flagged": sum(len(c["flagged"]) for c in check.values()),
               "left_out": sum(len(c["left_out"]) for c in check.values() if c["flagged"]),
               "added": sum(len(c["added"]) for c in check.values())}
    zeroed, merged = removal_plan(cache, meta, layers)
    if not zeroed and not merged:
        return {"flagged": {}, "n_removed": 0, "check": summary}
    result = removal.removal_check(model, batches, labels, zeroed, n_random_repeats,
                                   random_state, merged=merged)
    flagged = {layer: sorted(zeroed.get(layer, []) + list(merged.get(layer, {})))
               for layer in set(zeroed) | set(merged)}
    return dict(result, flagged=flagged, check=summary)


def check_text(summary: dict | None) -> str:
    """One sentence on the ablation check of the flags, or '' when it did not run."""
    if not summary:
        return ""
    return (f"Ablation check on {summary['n_images']:,} inputs, layer after layer (each on top of the "
            f"earlier layers' removals): {summary['left_out']} of {summary['flagged']} "
            f"flagged channels left out (their removal cost accuracy), {summary['added']} low-contribution "
            f"channels added in layers without a flag. ")


def removal_text(result: dict) -> str:
    """One sentence on the removal check for the page."""
    if not result.get("n_removed"):
        return check_text(result.get("check")) + "No channel is flagged in any layer: nothing to remove."
    return check_text(result.get("check")) + (
            f"Removing all {result['n_removed']} flagged channels of {len(result['per_layer'])} layers "
            f"(of {result['channels_total']}; {result.get('n_merged', 0)} redundant ones merged into the "
            f"channel they copy) at once: accuracy {result['baseline']:.1%} → "
            f"{result['flagged_accuracy']:.1%}; as many random channels: {result['random_mean']:.1%} "
            f"(mean of {len(result['random_accuracies'])} draws).")


def mislabel_stability(cache, meta: dict, top: int = 50, summary: str = "mean") -> dict:
    """Bootstrap stability of the mislabel ranking's top ``top`` (memoised)."""
    def compute():
        labels = np.asarray(meta["labels"])
        layer_acts = {layer: store.load_layer(cache, meta["key"], layer)[summary] for layer in deep_layers(meta)}
        probs = store.load_probs(cache, meta["key"])
        if probs is not None and probs.shape[1] != len(meta["class_names"]):
            probs = None

        def score(rows):
            return mislabel.mislabel_scores({k: v[rows] for k, v in layer_acts.items()}, labels[rows],
                                            None if probs is None else probs[rows])["score"]
        result = stability.mislabel_stability(score, len(labels), min(top, len(labels)), N_BOOT)
        return {"top": result["top"], "frequency": result["frequency"],
                "mean_frequency": result["mean_frequency"]}

    return store.memo(cache, view_name(meta["key"], "mislabel-stability", summary, top), compute)


def supercut_stability(cache, meta: dict, layer: str = DEEP, summary: str = "mean", n_groups=None) -> dict:
    """Bootstrap stability of the super-class cut (memoised)."""
    def compute():
        labels = np.asarray(meta["labels"])
        layers = deep_layers(meta) if layer == DEEP else [layer]
        acts = {name: store.load_layer(cache, meta["key"], name)[summary] for name in layers}
        return stability.supercut_stability(acts, labels, len(meta["class_names"]), TOP_FRACTION, n_groups,
                                            N_BOOT)

    return store.memo(cache, view_name(meta["key"], "supercut-stability", layer, summary, n_groups), compute)


def subclass_stability(cache, meta: dict, layer: str, label: int, summary: str = "mean") -> dict:
    """Bootstrap stability of one class's sub-class split (memoised)."""
    def compute():
        acts = store.load_layer(cache, meta["key"], layer)[summary]
        members = np.flatnonzero(np.asarray(meta["labels"]) == label)
        result = stability.subclass_stability(acts[members], N_BOOT, random_state=0)
        return {k: result[k] for k in ("k", "mean_ari", "same_k", "ks")}

    return store.memo(cache, view_name(meta["key"], "subclass-stability", layer, summary, label), compute)


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
        # One layer in memory at a time (VGG16's dense layers at 50,000 inputs are 0.8 GB
        # each); the subsample and folds depend only on the labels, so they are the same
        # for every layer.  Small image sets: fewer folds rather than no curve.
        return {layer: separability.separability(
                    {layer: store.load_layer(cache, meta["key"], layer)[summary]}, labels,
                    cv=min(5, largest), n_neighbors=min(5, max(1, largest - 1)))[layer]
                for layer in meta["layers"]}

    return store.memo(cache, view_name(meta["key"], "separability", summary), compute)
