"""Benchmark of ChannelExplorer's view callbacks and projections at N inputs.

The demo (``demo/model/fashion_vgg.keras`` on 2,000 Fashion-MNIST images) is
extracted once for real with ``pipeline.run`` into a diskcache (reused on the
next run).  For each N an analysis of N inputs is stored in exactly the format
``pipeline.run`` stores, by replicating the demo's rows (a fixed random subset
below 2,000; tiled above) with Gaussian noise of 1e-3 x each channel's SD, so
replicas are not exact duplicates.  Then, on the plain callback functions:

* each view (scatter and Jaccard in full and as the selection-only ``dash.Patch``,
  Jaccard first call, heatmap first/cached, details first/cached, selection text):
  median seconds over ``--repeats`` after one warm-up call, and the response
  size (``plotly.io.to_json`` of figures + JSON of the other outputs);
* a *selection change*: a new lasso-like selection of ~10% of the inputs,
  every view updated as the page does it (the scatter and the Jaccard matrix
  answer with a Patch of their highlight, the others redraw from their memoised
  data, PCA shown); the sum is the server time;
* PCA, UMAP, t-SNE and MDS via ``callbacks.scatter.projection``: first call
  (computes) and cached call (reads the diskcache); UMAP's numba compilation
  is measured once on a tiny array and reported as "UMAP compile".

Usage (from the repository root)::

    .venv/bin/python benchmarks/views.py --n 500 2000 10000
    .venv/bin/python benchmarks/views.py --n 10000 --skip-slow --repeats 3
    .venv/bin/python benchmarks/views.py --n 2000 --profile heatmap
"""

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from dash import no_update  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import plotly.io as pio  # noqa: E402
from plotly.io.json import to_json_plotly  # noqa: E402

from analysis import pipeline, ranking, store  # noqa: E402
from analysis import session as sessions  # noqa: E402
from callbacks.details import details_view  # noqa: E402
from callbacks.heatmap import heatmap_view  # noqa: E402
from callbacks.jaccard import jaccard_update, jaccard_view, matrix_view  # noqa: E402
from callbacks.scatter import drawn_view, scatter_update, scatter_view  # noqa: E402
from callbacks.selection import selection_text  # noqa: E402

SUMMARY, RULE, RULE_VALUE, K = "mean", "topk", 0.1, 40
SELECTION_TARGET_S, SIZE_TARGET_B, TARGET_N = 0.200, 2_000_000, 50_000
METHODS, SLOW = ("pca", "umap", "tsne", "mds"), ("umap", "tsne")
VIEWS = ("scatter", "scatter (full)", "jaccard", "jaccard (full)", "heatmap", "heatmap K=all", "heatmap selection", "details", "selection text")


def projection(cache, key, layer, summary, method):
    return sessions.open(cache, key).projection(layer, summary, method)


def projection_name(key, layer, summary, method):
    return sessions.view_name(key, "projection", layer, summary, method)


def response(outputs):
    """(bytes, seconds to encode) of a callback's outputs as Dash would send them."""
    started, total = time.perf_counter(), 0
    for out in outputs if isinstance(outputs, tuple) else (outputs,):
        if out is no_update:  # not sent
            continue
        total += len((pio.to_json(out) if isinstance(out, go.Figure) else to_json_plotly(out)).encode())
    return total, time.perf_counter() - started


def timed(fn, repeats, before=None):
    """(median seconds, min seconds, last output) of ``fn()`` over ``repeats`` after one warm-up
    call (``repeats=0``: the one call); ``before()`` runs untimed before each (e.g. to drop a memo)."""
    times, out = [], None
    for i in range(repeats + 1):
        if before:
            before()
        started = time.perf_counter()
        out = fn()
        if i or not repeats:
            times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), out


def drop(cache, prefix):
    """Delete every cache entry whose key starts with ``prefix``."""
    for name in [k for k in cache.iterkeys() if isinstance(k, str) and k.startswith(prefix)]:
        cache.delete(name)


def demo_analysis(cache):
    """Extract the demo for real (or fetch it from the cache); returns its meta."""
    started, roots = time.perf_counter(), [pipeline.DEMO_DIR]
    summary = pipeline.run(pipeline.Request(), data_roots=roots, model_roots=roots, cache=cache)
    print(f"demo: {summary['n']:,} images, {len(summary['layers'])} layers, "
          f"{'from cache' if summary['from_cache'] else 'extracted'} in {time.perf_counter() - started:.1f} s")
    return store.load_meta(cache, summary["key"])


def replicate(cache, demo, n, seed=0):
    """Store an N-input analysis made of the demo's rows (+1e-3 SD noise); (page summary, meta)."""
    rng = np.random.default_rng(seed)
    base = len(demo["files"])
    idx = np.sort(rng.permutation(base)[:n]) if n < base else np.resize(np.arange(base), n)
    key = f"bench-views-{demo['key'][:12]}-n{n}"
    for prefix in (f"analysis/{key}/", f"view/{key}/"):  # cold start: no old memos
        drop(cache, prefix)
    noisy = (lambda a: a + rng.standard_normal(a.shape, dtype=np.float32) * (1e-3 * a.std(axis=0)))
    acts = {layer: {name: noisy(a[idx]).astype(np.float32)
                    for name, a in store.load_layer(cache, demo["key"], layer).items()}
            for layer in demo["layers"]}
    pick = (lambda v: None if v is None else np.asarray(v)[idx])
    meta = dict(demo, key=key, files=[demo["files"][i] for i in idx], labels=demo["labels"][idx],
                top_classes=pick(demo["top_classes"]), top_probs=pick(demo["top_probs"]),
                bad={}, seconds=0.0)
    store.save_result(cache, key, meta, acts, pick(store.load_probs(cache, demo["key"])))
    return pipeline._page_summary(key, meta, False, 0.0), meta


def lasso(xy, rng, channel, layer):
    """A lasso-like selection: the ~10% of inputs nearest a random input in the PCA plane."""
    centre = xy[rng.integers(len(xy))]
    inputs = sorted(np.argsort(((xy - centre) ** 2).sum(axis=1))[: max(1, len(xy) // 10)].tolist())
    return {"inputs": inputs, "focus": inputs[0], "channel": channel, "layer": layer, "source": "scatter"}


def view_calls(cache, analysis, layer):
    """{name: fn(selection) -> outputs} for each view callback as the page calls it.

    "scatter" and "jaccard" are what the page runs when only the selection changed: the
    figures on the page are this layer's (PCA; a matrix already dimmed for a selection), so
    the callbacks answer with a ``dash.Patch`` of the highlight / the dimming;
    "scatter (full)" and "jaccard (full)" rebuild the whole figures (any other change).
    """
    drawn = drawn_view(analysis, layer, SUMMARY, "pca", "label")
    matrix = matrix_view(analysis, layer, SUMMARY, RULE, RULE_VALUE, True)
    return {
        "scatter": lambda sel: scatter_update(cache, analysis, layer, SUMMARY, "pca", "label", sel,
                                              drawn=drawn, selection_only=True),
        "scatter (full)": lambda sel: scatter_view(cache, analysis, layer, SUMMARY, "pca", "label", sel),
        "jaccard": lambda sel: jaccard_update(cache, analysis, layer, SUMMARY, RULE, RULE_VALUE, sel,
                                              drawn=matrix, selection_only=True),
        "jaccard (full)": lambda sel: jaccard_view(cache, analysis, layer, SUMMARY, RULE, RULE_VALUE, sel),
        "heatmap": lambda sel: heatmap_view(cache, analysis, layer, SUMMARY, "f_stat", K, sel),
        "heatmap K=all": lambda sel: heatmap_view(cache, analysis, layer, SUMMARY, "f_stat", 0, sel),
        "heatmap selection": lambda sel: heatmap_view(cache, analysis, layer, SUMMARY, "selection", K, sel),
        "details": lambda sel: details_view(cache, analysis, layer, SUMMARY, sel),
        "selection text": lambda sel: selection_text(cache, analysis, sel),
    }


def bench_projections(cache, key, layer, args):
    """Print (method, first-call s, cached ms) as each finishes.  First call = memo dropped before
    each call, warm-up included: median of ``--repeats`` for PCA/MDS, one call for UMAP/t-SNE
    (numba is compiled beforehand by warm_umap).  Leaves every projection cached."""
    print(f"{'projection (StoredAnalysis.projection)':44}{'first s':>10}{'cached ms':>12}")
    times = {}
    for method in METHODS:
        if method not in args.methods or (args.skip_slow and method in SLOW):
            print(f"{method:44}{'skipped':>10}")
            continue
        name = projection_name(key, layer, SUMMARY, method)
        call = (lambda: projection(cache, key, layer, SUMMARY, method))
        first, _, _ = timed(call, 0 if method in SLOW else args.repeats, before=lambda: cache.delete(name))
        cached, _, _ = timed(call, args.repeats)
        print(f"{method:44}{first:10.2f}{cached * 1e3:12.2f}")
        times[method] = {"first_s": round(first, 3), "cached_ms": round(cached * 1e3, 2)}
    return times


def bench_n(cache, demo, n, args):
    """Everything for one N; prints the tables and returns the figures the targets need."""
    began, (analysis, meta) = time.perf_counter(), replicate(cache, demo, n)
    key, layer = analysis["key"], args.layer or analysis["default_layer"]
    acts = store.load_layer(cache, key, layer)[SUMMARY]
    channel = int(np.argmax(ranking.channel_scores(acts, np.asarray(meta["labels"]), "f_stat")))
    print(f"\n== N={n:,} · layer {layer} ({acts.shape[1]} channels) · summary {SUMMARY} · "
          f"Jaccard {RULE} {RULE_VALUE} · heatmap K={K} ==")
    projections = bench_projections(cache, key, layer, args)
    xy, rng = projection(cache, key, layer, SUMMARY, "pca"), np.random.default_rng(1)
    calls, fixed = view_calls(cache, analysis, layer), lasso(xy, rng, channel, layer)
    rows = [  # (label, fn, selection, before)
        ("scatter (full, PCA cached, no selection)", calls["scatter (full)"], None, None),
        ("scatter (full, 10% selected)", calls["scatter (full)"], fixed, None),
        ("scatter (selection only: Patch)", calls["scatter"], fixed, None),
        ("jaccard first call (computes blocks)", calls["jaccard (full)"], None,
         lambda: drop(cache, f"view/{key}/jaccard/")),
        ("jaccard (full, cached)", calls["jaccard (full)"], None, None),
        ("jaccard (selection only: Patch)", calls["jaccard"], fixed, None),
        ("heatmap first call (computes order)", calls["heatmap"], None,
         lambda: drop(cache, f"view/{key}/heatmap")),
        (f"heatmap f_stat K={K}", calls["heatmap"], None, None),
        ("heatmap f_stat K=all", calls["heatmap K=all"], None, None),
        (f"heatmap selection K={K} (10% selected)", calls["heatmap selection"], fixed, None),
        ("details first call (reads the layer)", calls["details"], fixed,
         lambda: drop(cache, f"view/{key}/channel/")),
        ("details (channel + 9 thumbnails)", calls["details"], fixed, None),
        ("selection text", calls["selection text"], fixed, None),
    ]
    print(f"{'view callback':44}{'median ms':>10}{'min ms':>8}{'response KB':>12}{'JSON ms':>8}")
    biggest, views = 0, {}
    for label, fn, sel, before in rows:
        med, low, out = timed(lambda: fn(sel), args.repeats, before)
        size, encode = response(out)
        biggest = max(biggest, size)
        views[label] = {"median_ms": round(med * 1e3, 2), "bytes": size}
        print(f"{label:44}{med * 1e3:10.1f}{low * 1e3:8.1f}{size / 1e3:12.1f}{encode * 1e3:8.1f}")

    # Selection change: a new selection each time, every view redrawn (cached data, PCA shown).
    parts = ("scatter", "jaccard", "heatmap", "details", "selection text")
    per, sizes, totals, encodes = {p: [] for p in parts}, dict.fromkeys(parts, 0), [], []
    for i in range(args.repeats + 1):
        sel = lasso(xy, rng, channel, layer)
        spent, outs = {}, {}
        for p in parts:
            started = time.perf_counter()
            outs[p] = calls[p](sel)
            spent[p] = time.perf_counter() - started
        if i:
            for p in parts:
                per[p].append(spent[p])
                sizes[p] = max(sizes[p], response(outs[p])[0])
            totals.append(sum(spent.values()))
            encodes.append(sum(response(o)[1] for o in outs.values()))
    total, encode = statistics.median(totals), statistics.median(encodes)
    biggest = max(biggest, *sizes.values())
    print(f"selection change ({len(fixed['inputs']):,} inputs selected), per view: " + ", ".join(
        f"{p} {statistics.median(per[p]) * 1e3:.1f} ms / {sizes[p] / 1e3:.0f} KB" for p in parts))
    print(f"{'selection change, all views (sum)':44}{total * 1e3:10.1f}{min(totals) * 1e3:8.1f}"
          f"{sum(sizes.values()) / 1e3:12.1f}{encode * 1e3:8.1f}")
    print(f"(N={n:,} took {time.perf_counter() - began:.0f} s)")
    return {"selection_s": total, "selection_json_s": encode, "max_bytes": biggest,
            "selection_per_view_ms": {p: round(statistics.median(per[p]) * 1e3, 2) for p in parts},
            "jaccard_first_s": views["jaccard first call (computes blocks)"]["median_ms"] / 1e3,
            "views": views, "projections": projections}


def profile(cache, demo, n, view, args):
    """cProfile one view callback (cached data, with a 10% selection); prints the top 25."""
    analysis, meta = replicate(cache, demo, n)
    layer = args.layer or analysis["default_layer"]
    xy = projection(cache, analysis["key"], layer, SUMMARY, "pca")
    sel = lasso(xy, np.random.default_rng(1), 0, layer)
    fn = view_calls(cache, analysis, layer)[view]
    fn(sel)  # warm the memos
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [fn(sel) for _ in range(args.repeats)])
    print(f"\n== cProfile of {view} at N={n:,}, {args.repeats} calls ==")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 2000, 10000])
    parser.add_argument("--layer", help="layer to show (default: the deepest conv layer)")
    parser.add_argument("--skip-slow", action="store_true", help="skip UMAP and t-SNE")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS, help="projections to time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "channelexplorer-bench-views"),
                        help="diskcache folder (reused: the demo is extracted only once)")
    parser.add_argument("--profile", choices=VIEWS, help="only cProfile this view callback at each --n")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout (tables to stderr)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS/OpenMP threads of the views (default 1, as the app's web process)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # rows appear as they finish, even into a file
    if args.json:
        load = os.getloadavg()
        with contextlib.redirect_stdout(sys.stderr):
            results = run(args)
        print(json.dumps({"n": {str(n): {k: (round(v, 4) if isinstance(v, float) else v)
                                         for k, v in r.items()} for n, r in (results or {}).items()},
                          "load_before": [round(x, 2) for x in load],
                          "load_after": [round(x, 2) for x in os.getloadavg()]}))
    else:
        run(args)


def run(args):
    """The whole benchmark for ``args``; returns ``{n: figures}`` (None with ``--profile``)."""
    if args.blas_threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.blas_threads)  # projections still set their own limit (n_threads=2)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpus} usable CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"medians of {args.repeats} after 1 warm-up; BLAS threads {args.blas_threads or 'default'}; "
          f"cache {args.cache_dir}")
    cache = store.open_cache(args.cache_dir, 2 ** 33)
    demo = demo_analysis(cache)
    if args.profile:
        for n in args.n:
            profile(cache, demo, n, args.profile, args)
        return
    if "umap" in args.methods and not args.skip_slow:
        from analysis.projection import warm_umap  # importing umap is timed separately
        imported, _, _ = timed(lambda: __import__("umap"), 0)
        compiled, _, _ = timed(warm_umap, 0)
        print(f"UMAP compile (warm_umap on 64x8, numba JIT): {compiled:.1f} s (import umap {imported:.1f} s)")
    results = {n: bench_n(cache, demo, n, args) for n in args.n}
    print("\ntargets (N=50,000): selection change <= 200 ms server time, every response <= 2 MB, "
          "first Jaccard <= 3 s")
    for n, r in results.items():
        ok_time, ok_size = r["selection_s"] <= SELECTION_TARGET_S, r["max_bytes"] <= SIZE_TARGET_B
        judged = "" if n == TARGET_N else "  (not judged: target is at N=50,000)"
        print(f"  N={n:,}: selection change {r['selection_s'] * 1e3:.0f} ms "
              f"(+{r['selection_json_s'] * 1e3:.0f} ms JSON encoding) {'PASS' if ok_time else 'MISS'}; "
              f"largest response {r['max_bytes'] / 1e6:.2f} MB {'PASS' if ok_size else 'MISS'}; "
              f"first Jaccard {r['jaccard_first_s']:.2f} s{judged}")
    return results


if __name__ == "__main__":
    main()
