"""One analysis from request to cached result: the body of the background job.

Resolves and confines paths, fingerprints model and images, serves a cached
result when there is one, otherwise loads the model (only here, inside the
job: TensorFlow is not fork-safe), streams the images through the extractor
and stores the N x C summaries.  Keras is imported lazily, inside ``run``.
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
from dataclasses import asdict, dataclass

import numpy as np

from analysis import budget, datasets, modelfit, modelprep, store
from analysis.errors import NotEnoughData, UserError
from analysis.summaries import DEFAULT_SUMMARIES, SUMMARIES

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DIR = os.path.join(HERE, "demo")
DEMO_MODEL = os.path.join(DEMO_DIR, "model", "fashion_vgg.keras")
DEMO_DATA = os.path.join(DEMO_DIR, "data", "fashion-mnist")
LAYER_MODES = ("conv_dense", "all")
log = logging.getLogger(__name__)


class AnalysisError(UserError):
    """Anything the user asked for that cannot be analysed; message is for the page."""


@dataclass(frozen=True)
class Request:
    """What the user asked for (small and hashable: it travels to the job)."""

    model: str = "demo"
    data: str = DEMO_DATA
    layers: str = "conv_dense"
    preprocess: str = "auto"
    batch_size: int = 32
    summaries: tuple = DEFAULT_SUMMARIES

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_model(spec: str, roots) -> tuple[str, str]:
    """Classify a model spec without importing Keras.

    Returns
    -------
    (kind, value)
        ``("file", resolved path)`` for a .keras file (confined to ``roots``),
        ``("application", spec)`` for a keras.applications name.
    """
    spec = (spec or "").strip()
    if spec in ("", "demo"):
        return "file", DEMO_MODEL
    try:
        datasets.check_path_text(spec)  # NUL and line breaks refused in words
    except datasets.DatasetError as error:
        raise AnalysisError(f"Model: {error}") from error
    looks_like_path = os.sep in spec or spec.endswith((".keras", ".h5")) or spec.startswith(".")
    if not looks_like_path:
        return "application", spec.lower()
    try:
        path = datasets.confine(spec, roots)
    except datasets.PathNotAllowed as error:
        raise AnalysisError(str(error).replace("data roots", "model roots")) from error
    except datasets.DatasetError as error:
        raise AnalysisError(f"Model: {error}") from error
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise AnalysisError(
                f"{datasets.shorten(spec)} is a TensorFlow SavedModel folder, which has no Keras "
                "layers to analyse; load the model in Keras and save it with "
                "model.save('name.keras'), or give its .h5 file.")
        raise AnalysisError(f"{datasets.shorten(spec)} is a folder; give the model's .keras file.")
    if not os.path.isfile(path):
        raise AnalysisError(f"Model file {datasets.shorten(spec)} does not exist.")
    if path.lower().endswith(".keras") and not zipfile.is_zipfile(path):
        raise AnalysisError(f"{datasets.shorten(spec)} is not a .keras archive (a .keras file is a "
                            "zip); save the model with model.save('name.keras').")
    return "file", path


def model_fingerprint(kind: str, value: str, cache=None) -> str:
    """Content fingerprint of a model; a file's hash is remembered under its stat."""
    if kind == "file":
        stat_fp = "model:" + datasets.file_stat_fingerprint(value)
        known = store.known_fingerprint(cache, stat_fp) if cache is not None else None
        if known:
            return known
        content = "file:" + datasets.file_fingerprint(value)
        if cache is not None:
            store.remember_fingerprint(cache, stat_fp, content)
        return content
    name, _, variant = value.partition(":")
    return f"application:{name}:{variant or 'weights'}"


def _known_model_fingerprint(kind: str, value: str, cache) -> str | None:
    if kind == "file":
        return store.known_fingerprint(cache, "model:" + datasets.file_stat_fingerprint(value))
    return model_fingerprint(kind, value)


@dataclass
class Plan:
    """A checked request: confined paths, scanned folder and cheap fingerprints."""

    request: Request
    data_path: str
    folder: datasets.ImageFolder
    kind: str
    model_value: str
    data_stat: str


def check_request(request: Request) -> None:
    if request.layers not in LAYER_MODES:
        raise AnalysisError(f"Unknown layer set {request.layers!r}; allowed: {', '.join(LAYER_MODES)}.")
    if not 1 <= int(request.batch_size) <= 1024:
        raise AnalysisError("Batch size must be between 1 and 1024.")
    if not request.summaries or any(s not in SUMMARIES for s in request.summaries):
        raise AnalysisError(f"Unknown summaries {list(request.summaries)}; allowed: {', '.join(SUMMARIES)}.")


def prepare(request: Request, *, data_roots, model_roots) -> Plan:
    """Validate and confine a request and scan its folder (no hashing, no Keras).

    Raises
    ------
    AnalysisError
        With a message meant for the user.
    """
    check_request(request)
    try:
        data_path = datasets.confine(request.data, data_roots)
        folder = datasets.scan_folder(data_path, roots=data_roots)
        kind, model_value = resolve_model(request.model, model_roots)
        return Plan(request, data_path, folder, kind, model_value,
                    datasets.stat_fingerprint(folder))
    except (datasets.DatasetError, OSError) as error:
        raise AnalysisError(str(error) if isinstance(error, UserError)
                            else f"Cannot read the folder: {error.strerror or error}") from error


def cached_key(plan: Plan, cache) -> str | None:
    """The analysis key when both fingerprints are already known (no hashing), else None."""
    data_fp = store.known_fingerprint(cache, "data:" + plan.data_stat)
    model_fp = _known_model_fingerprint(plan.kind, plan.model_value, cache)
    if not data_fp or not model_fp:
        return None
    return store.analysis_key(model_fp, data_fp, plan.request.preprocess, plan.request.layers,
                              plan.request.summaries)


def lookup(request: Request, *, data_roots, model_roots, cache) -> dict | None:
    """The page summary of a stored analysis for ``request``, or None: the cheap path.

    Runs in the web process: scans the folder and compares names, sizes and
    modification times with what a job remembered; never hashes image bytes
    and never imports Keras.  A miss (or a damaged entry) returns None and the
    caller starts a job.

    Raises
    ------
    AnalysisError
        For a request that cannot be analysed at all (checked here, at once).
    """
    started = time.perf_counter()
    plan = prepare(request, data_roots=data_roots, model_roots=model_roots)
    key = cached_key(plan, cache)
    meta = store.load_meta(cache, key) if key else None
    if meta is None:
        return None
    return _page_summary(key, meta, True, time.perf_counter() - started)


def analysis_lock(cache, key: str, wait=None):
    """The per-analysis lock: one process computes a key at a time (see ``store.lock``)."""
    return store.lock(cache, "analysis:" + key, wait=wait)


def _load_model(kind: str, value: str):
    from analysis import extraction
    if kind == "file":
        return extraction.load_model_file(value), "raw"
    import keras
    keras.utils.set_random_seed(0)  # 'name:random' must be the same model every time
    return extraction.load_application(value)


def run(request: Request, *, data_roots, model_roots, cache, progress=None,
        n_threads: int = 2, memory_mb: int | None = None) -> dict:
    """Run (or fetch from the cache) one analysis.

    Parameters
    ----------
    progress : callable(phase: str, done: int, total: int), optional
    memory_mb : int, optional
        The job's memory target (``budget.JOB_TARGET_MB`` when None): the batch
        size is lowered until one batch's maps fit what the target leaves.

    Returns
    -------
    dict
        Small summary for the page: ``key``, ``n``, ``layers``, ``classes``,
        ``from_cache``, ``seconds``, ``skipped`` and ``bad`` counts.

    Raises
    ------
    AnalysisError
        With a message meant for the user.
    """
    started = time.perf_counter()
    report = progress or (lambda phase, done, total: None)
    report("Scanning images", 0, 0)
    plan = prepare(request, data_roots=data_roots, model_roots=model_roots)
    folder, kind, model_value, data_path = plan.folder, plan.kind, plan.model_value, plan.data_path
    data_fp = store.known_fingerprint(cache, "data:" + plan.data_stat)
    try:
        if data_fp is None:
            report("Hashing images and model", 0, len(folder))
            data_fp = datasets.fingerprint(folder)
            store.remember_fingerprint(cache, "data:" + plan.data_stat, data_fp)
        model_fp = model_fingerprint(kind, model_value, cache)
    except OSError as error:
        raise AnalysisError(f"Cannot read a file: {error.strerror or error}") from error
    key = store.analysis_key(model_fp, data_fp, request.preprocess, request.layers, request.summaries)
    damaged = store.was_damaged(cache, key)
    with analysis_lock(cache, key, wait=lambda: report("Waiting for the same analysis in "
                                                      "another session", 0, len(folder))):
        meta = store.load_meta(cache, key)
        if meta is not None:
            return _page_summary(key, meta, True, time.perf_counter() - started)
        summary = _extract(request, plan, cache, key, model_fp, data_fp, report, n_threads, started,
                           memory_mb)
    summary["recomputed_damaged"] = damaged
    return summary


def _extract(request, plan, cache, key, model_fp, data_fp, report, n_threads, started,
             memory_mb=None) -> dict:
    """Load the model, extract, store (the expensive part, under the analysis lock)."""
    from analysis import extraction, weights  # Keras/TensorFlow enter the process here only.

    folder, kind, model_value, data_path = plan.folder, plan.kind, plan.model_value, plan.data_path
    try:
        modelfit.require_classes(folder.class_names, folder.labels)  # before the model loads
    except NotEnoughData as error:
        raise AnalysisError(str(error)) from error
    report("Loading model", 0, len(folder))
    extraction.configure_threads(n_threads)
    try:
        model, auto_mode = _load_model(kind, model_value)
        model, fit_notes = modelprep.fit_model(model, folder)
        height, width, channels = extraction.image_input_shape(model)
        layers = (extraction.conv_dense_layers(model) if request.layers == "conv_dense"
                  else extraction.channel_layers(model))
        batch_size = budget.batch_for_memory(model, int(request.batch_size),
                                             budget.activation_budget_mb(model, memory_mb))
        mode, mode_note = auto_mode, None
        if request.preprocess != "auto":
            mode = request.preprocess
        elif kind == "file" and not extraction.scales_its_input(model):
            report("Choosing the preprocessing", 0, len(folder))
            mode, mode_note = modelprep.probe_preprocessing(model, folder, (height, width, channels),
                                                            batch_size)
        images = datasets.ImageBatches(folder, (height, width), channels, mode)
        images.thumbnails = {}  # made once here, so the web process never decodes originals
        extractor = extraction.Extractor(model, layers, request.summaries)
        budget.check_summaries_fit(len(folder), extractor.columns)
    except (extraction.ExtractionError, datasets.DatasetError) as error:
        raise AnalysisError(str(error)) from error

    n_classes_model = model.outputs[0].shape[-1] if extractor.with_predictions else None
    layer_info = extraction.describe_layers(model, layers)
    acts, probs = extraction.extract_all(
        model, images, batch_size=batch_size, extractor=extractor,
        progress=lambda done, total: report("Extracting" if "p90" not in request.summaries
                                                else "Extracting (with the 90th percentile: slower)", done, total))
    forward_passes = extractor.forward_passes
    # The weights are not needed any more: storing and the findings run without them.
    del model, extractor
    weights.release_freed_memory(collect=True)
    keep = np.setdiff1d(np.arange(len(folder)), np.fromiter(images.bad, int, len(images.bad)))
    if len(keep) == 0:
        raise AnalysisError(f"None of the {len(folder)} images could be read "
                            f"(e.g. {next(iter(images.bad.values()))}).")
    if len(keep) < len(folder):
        acts = {layer: {s: a[keep] for s, a in per.items()} for layer, per in acts.items()}
        probs = probs[keep] if probs is not None else None
    top_classes, top_probs = (extraction.top_predictions(probs) if probs is not None else (None, None))
    order_note = None
    if top_classes is not None and probs.shape[1] == len(folder.class_names):
        order_note = modelfit.order_hint(folder.class_names, folder.labels[keep], top_classes[:, 0])
    try:
        data_fit = modelfit.compare(folder.class_names, folder.labels[keep], n_classes_model)
    except NotEnoughData as error:  # unreadable images can leave fewer than 2 classes
        raise AnalysisError(str(error)) from error
    meta = {
        "key": key,
        "request": request.as_dict(),
        "model": model_value if kind == "application" else os.path.basename(model_value),
        "model_ref": [kind, model_value],
        "model_fingerprint": model_fp,
        "data_fingerprint": data_fp,
        "data": data_path,
        "files": [folder.files[i] for i in keep],
        "labels": folder.labels[keep],
        "class_names": folder.class_names,
        "model_classes": n_classes_model,
        "data_fit": data_fit,
        "model_note": " ".join(filter(None, fit_notes + [mode_note, order_note])) or None,
        "output_columns": folder.output_index,
        "layers": layers,
        "summaries": list(request.summaries),
        "layer_info": layer_info,
        "input_shape": [height, width, channels],
        "preprocess": mode,
        "top_classes": top_classes,
        "top_probs": top_probs,
        "skipped": folder.skipped,
        "outside": folder.outside,
        "thumbnails": True,  # stored by save_thumbnails: the web process reads, never decodes
        "bad": {folder.files[i]: message for i, message in images.bad.items()},
        "forward_passes": forward_passes,
        "seconds": time.perf_counter() - started,
    }
    report("Saving", len(folder), len(folder))
    store.save_thumbnails(cache, key, {row: images.thumbnails[int(index)]
                                       for row, index in enumerate(keep)
                                       if int(index) in images.thumbnails})
    store.save_result(cache, key, meta, acts, probs)
    # The findings need only the stored summaries: do them here, once, so the
    # page reads them from the cache instead of waiting for them.
    from analysis import findings
    try:
        report("Ranking likely mislabelled inputs", len(folder), len(folder))
        findings.mislabel_ranking(cache, meta)
        report("Measuring class separability per layer", len(folder), len(folder))
        findings.separability_curve(cache, meta)
    except ValueError:
        # A data set too small for a finding must not cost the user the analysis;
        # the page computes (and explains) the finding when it is opened.
        log.warning("findings skipped for %s", key, exc_info=True)
    return _page_summary(key, meta, False, time.perf_counter() - started)


def conv_layers(meta: dict) -> list[str]:
    """The extracted convolution layers and convolution block outputs, in model order."""
    info = {row["name"]: row for row in meta["layer_info"]}
    types = {name: info[row["block_of"]]["type"] if row.get("block_of") in info else row["type"]
             for name, row in info.items()}
    return [name for name in meta["layers"] if "Conv" in types.get(name, "")]


def default_layer(meta: dict) -> str:
    """The deepest extracted convolution layer or convolution block output (else the
    last extracted layer)."""
    return (conv_layers(meta) or meta["layers"])[-1]


def _block_chain(info: dict, end: str) -> list[str]:
    """The layers from a block's convolution to its output ``end``, in order."""
    source = info[end]["block_of"]
    chain, current = [end], info[end]
    while current["inbound"] and current["inbound"][0] in info and current["name"] != source:
        current = info[current["inbound"][0]]
        chain.insert(0, current["name"])
    return chain


def block_members(meta: dict) -> dict:
    """``{layer: its block's extracted output}`` for the convolution and the layers between it and
    the output of every extracted block, so a click on any of them opens the block."""
    info = {row["name"]: row for row in meta["layer_info"]}
    return {member: name for name in meta["layers"] if (info.get(name) or {}).get("block_of")
            for member in _block_chain(info, name)[:-1]}


def layer_labels(meta: dict) -> dict:
    """``{layer: label}`` for the layer menus: a block's output names its convolution
    (``block1_relu1 (block1_conv1 → BatchNormalization → Activation)``)."""
    info = {row["name"]: row for row in meta["layer_info"]}
    labels = {}
    for name in meta["layers"]:
        if not (info.get(name) or {}).get("block_of"):
            labels[name] = name
            continue
        chain = _block_chain(info, name)
        labels[name] = f"{name} ({chain[0]} → {' → '.join(info[member]['type'] for member in chain[1:])})"
    return labels


def _page_summary(key: str, meta: dict, from_cache: bool, seconds: float) -> dict:
    return {
        "key": key,
        "n": len(meta["files"]),
        "layers": meta["layers"],
        "summaries": meta["summaries"],
        "default_layer": default_layer(meta),
        "layer_labels": layer_labels(meta),
        "block_members": block_members(meta),
        "classes": meta["class_names"],
        "model": meta["model"],
        "from_cache": from_cache,
        "seconds": round(seconds, 2),
        "skipped": len(meta["skipped"]),
        "bad": len(meta["bad"]),
        "outside": len(meta.get("outside", ())),
        "notice": " ".join(filter(None, [meta.get("model_note"),
                                         (meta.get("data_fit") or {}).get("notice")])) or None,
        "accuracy_views": bool((meta.get("data_fit") or {}).get("accuracy")),
    }


# Loading a stored analysis's model again lives in its own module; these names
# stay importable from here for the callers that use them.
from analysis.stored_model import (  # noqa: E402
    activation_maps, ablation, resize_map, sample_maps, stored_images, stored_model_and_images)
