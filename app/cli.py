"""``python -m app analyse``: the page's analysis without a server.

Runs the same job as the Analyse button (same request, same result cache, so
a team can precompute before a demo and the page then opens instantly),
reports progress on stderr and prints one JSON object on stdout::

    python -m app analyse --model my_model.keras --data ~/images --json
    python -m app analyse --model demo --export out/    # files for numpy/pandas

Bad input ends with exit code 2 and one line on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time

import numpy as np

from analysis.errors import UserError


def parser() -> argparse.ArgumentParser:
    from analysis.datasets import PREPROCESS_MODES

    p = argparse.ArgumentParser(
        prog="python -m app analyse",
        description="Analyse a Keras CNN on a labelled image folder without a server; fills the "
                    "page's result cache and prints one JSON object.")
    p.add_argument("--model", default="demo", help="a .keras/.h5 file, a keras.applications name, "
                   "or 'demo' (default)")
    p.add_argument("--data", help="a folder with one sub-folder of images per class (default: demo)")
    p.add_argument("--layers", choices=("conv_dense", "all"), default=None,
                   help="conv and dense layers (default) or every layer with a channel axis")
    p.add_argument("--preprocess", choices=("auto",) + tuple(PREPROCESS_MODES), default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--p90", action="store_true", default=None, help="also the 90th percentile")
    p.add_argument("--cache-dir", help="result cache folder (default: the page's)")
    p.add_argument("--job-threads", type=int, default=None)
    p.add_argument("--memory-mb", type=int, default=None, help="memory target of the job (MB)")
    p.add_argument("--json", action="store_true", help="print the result as indented JSON")
    p.add_argument("--export", metavar="DIR", help="also write files.csv, probs.npy, "
                   "<layer>__<summary>.npy, mislabels.csv, class_tree.json and unimportant.csv")
    return p


class _Progress:
    """One stderr line per phase change, and at most one per second within a phase."""

    def __init__(self, stream):
        self.stream, self.phase, self.last = stream, None, 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase == self.phase and now - self.last < 1.0 and done != total:
            return
        self.phase, self.last = phase, now
        text = f"{phase}: {done:,} / {total:,}" if total else phase
        print(text, file=self.stream, flush=True)


def _config(args):
    from app.config import from_env

    config = from_env()
    changes = {"model": args.model}
    if args.data:
        changes["data"] = args.data
    for name in ("layers", "preprocess", "batch_size", "p90", "cache_dir", "job_threads", "memory_mb"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    return config.with_overrides(**changes)


def accuracy_of(session) -> tuple[dict | None, str | None]:
    """(accuracy figures, None) or (None, the reason there are none)."""
    from analysis import accuracy

    reason = accuracy.availability(session.model_classes, session.n_classes, session.top_classes)
    if reason is not None:
        return None, reason
    result = accuracy.scores(session.labels, session.top_classes, session.n_classes)
    per_class = {str(name): (None if np.isnan(value) else round(float(value), 6))
                 for name, value in zip(session.class_names, result["per_class"])}
    return {"top1": round(result["accuracy"], 6), f"top{result['top_k']}": round(result["top5"], 6),
            "per_class": per_class}, None


def file_name(layer: str, summary: str) -> str:
    """``<layer>__<summary>.npy``; a nested layer's ``/`` becomes ``.`` (one file per layer)."""
    return f"{layer.replace('/', '.')}__{summary}.npy"


def export(session, directory: str, stream=sys.stderr) -> list[str]:
    """Write the analysis as plain files; returns their names."""
    from analysis import accuracy, findings
    from analysis.errors import NotEnoughData

    os.makedirs(directory, exist_ok=True)
    written = []

    def write_text(name, text):
        with open(os.path.join(directory, name), "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        written.append(name)

    names = session.class_names
    labels = np.asarray(session.labels)
    predicted = session.predicted
    comparable = accuracy.availability(session.model_classes, session.n_classes,
                                       session.top_classes) is None
    rows = io.StringIO()
    out = csv.writer(rows)
    out.writerow(["index", "file", "label", "predicted", "correct"])
    for i, (path, label) in enumerate(zip(session.files, labels)):
        guess = "" if predicted is None else (names[predicted[i]] if comparable else int(predicted[i]))
        correct = "" if not comparable else int(predicted[i] == label)
        out.writerow([i, path, names[label], guess, correct])
    write_text("files.csv", rows.getvalue())

    probs = session.probs()
    if probs is not None:
        np.save(os.path.join(directory, "probs.npy"), probs)
        written.append("probs.npy")
    for layer in session.layers:
        for summary, values in session.layer_summaries(layer).items():
            np.save(os.path.join(directory, file_name(layer, summary)), np.asarray(values, np.float32))
            written.append(file_name(layer, summary))

    try:
        ranking = session.mislabel_ranking()
        rows = io.StringIO()
        out = csv.DictWriter(rows, ["rank", "index", "file", "label", "suggested", "score"])
        out.writeheader()
        out.writerows(findings.ranking_rows(session.meta, ranking, top=None))
        write_text("mislabels.csv", rows.getvalue())
    except NotEnoughData as error:
        print(f"mislabels.csv not written: {error}", file=stream)
    try:
        tree = session.class_tree(findings.DEEP)
        groups = np.asarray(tree["groups"]).tolist()
        write_text("class_tree.json", json.dumps({
            "layer": findings.DEEP, "layers": findings.deep_layers(session.meta),
            "super_class": {str(name): int(group) for name, group in zip(names, groups)}}, indent=1))
    except NotEnoughData as error:
        print(f"class_tree.json not written: {error}", file=stream)
    write_text("unimportant.csv", findings.unimportant_csv(session.cache, session.meta))
    return written


def run(argv=None, stdout=sys.stdout, stderr=sys.stderr) -> int:
    args = parser().parse_args(argv)
    try:
        config = _config(args)
        from analysis import pipeline, store
        from analysis import session as sessions
        from analysis.summaries import analysis_summaries

        request = pipeline.Request(model=config.model, data=config.data, layers=config.layers,
                                   preprocess=config.preprocess, batch_size=config.batch_size,
                                   summaries=analysis_summaries(config.p90))
        # Bad input is found here (the server's start-up check, no Keras), before any progress
        # line, so its message is the only line.
        from app.__main__ import startup_problem
        problem = startup_problem(config)
        if problem:
            raise UserError(problem)
        cache = store.open_cache(config.results_dir, config.cache_size_limit)
        try:
            started = time.perf_counter()
            summary = pipeline.run(request, data_roots=config.allowed_roots,
                                   model_roots=config.allowed_roots, cache=cache,
                                   progress=_Progress(stderr), n_threads=config.job_threads,
                                   memory_mb=config.memory_mb)
            session = sessions.require(cache, summary)
            figures, reason = accuracy_of(session)
            result = {
                "n": summary["n"], "classes": list(summary["classes"]), "layers": list(summary["layers"]),
                "skipped": list(session.meta.get("skipped") or []),
                "bad": dict(session.meta.get("bad") or {}),
                "accuracy": figures, "accuracy_reason": reason, "notice": summary.get("notice"),
                "seconds": round(time.perf_counter() - started, 2),
                "from_cache": summary["from_cache"], "key": summary["key"],
            }
            if args.export:
                result["exported"] = export(session, args.export, stderr)
        finally:
            cache.close()
    except UserError as error:
        print(f"channelexplorer: {' '.join(str(error).split())}", file=stderr)
        return 2
    except OSError as error:
        print(f"channelexplorer: {error.strerror or error}", file=stderr)
        return 2
    print(json.dumps(result, indent=2 if args.json else None), file=stdout)
    return 0
