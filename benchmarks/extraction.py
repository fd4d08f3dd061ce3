"""Benchmark of ChannelExplorer's single-pass extraction (``analysis/extraction.py``).

Compares, on the same lazily generated batches, the plain forward pass
(``model.predict_on_batch``; with TensorFlow also ``model(x)`` in a
``tf.function``) with the full extraction (``extract_all``), interleaving the
modes over ``--repeats`` after one warm-up batch each; quotes medians and the
median of the per-repeat ratios.  Peak RSS of each mode is read in a fresh
subprocess (``--child MODE``).  Backend-agnostic (``KERAS_BACKEND=jax``).
``extract_all`` is the default extraction (``analysis.summaries.DEFAULT_SUMMARIES``);
``--summaries`` names another set, ``--breakdown`` adds one mode per summary and the
opt-in 90th percentile.  ``--json`` prints one JSON object on stdout (the tables go
to stderr): per model ``forward_img_s``, ``extract_img_s``, ``ratio`` (median of the
interleaved per-repeat ratios), ``cpu_ratio`` (the same with process CPU seconds).

    .venv/bin/python benchmarks/extraction.py --json            # both models, one JSON object
    .venv/bin/python benchmarks/extraction.py --model demo --n 2000
    .venv/bin/python benchmarks/extraction.py --model vgg16 --n 64
    .venv/bin/python benchmarks/extraction.py --model vgg16 --n 32 --breakdown --no-rss
    .venv/bin/python benchmarks/extraction.py --model vgg16 --n 256 --child extract
    .venv/bin/python benchmarks/extraction.py --json --app-batch  # at the batch the app's job uses
"""

import argparse
import contextlib
import importlib
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEMO_PATH = ROOT / "demo" / "model" / "fashion_vgg.keras"
APP_BATCH = 32  # app/config.py's and pipeline.Request's default batch size
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # one trace per sub-model is expected

import keras  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

from analysis import extraction  # noqa: E402
from analysis.summaries import DEFAULT_SUMMARIES, SUMMARIES  # noqa: E402

RATIO_TARGET = 0.9
DEFAULT_N = {"vgg16": 64, "demo": 2048}
RSS_TARGET_MB = 3000
FORWARD = "forward predict_on_batch"


class LazyImages:
    """``n`` deterministic random float32 images, uniform in ``[low, high)``, made per
    slice: ``images[a:b]`` is seeded by ``(seed, a)`` and nothing is kept between slices."""

    def __init__(self, n, shape, low, high, seed=0):
        self.n, self.shape, self.low, self.high, self.seed = n, tuple(shape), low, high, seed

    def __len__(self):
        return self.n

    def __getitem__(self, item):
        start, stop, _ = item.indices(self.n)
        rng = np.random.default_rng((self.seed, start))
        return rng.uniform(self.low, self.high, (stop - start,) + self.shape).astype(np.float32)


def build_model(name):
    """``(model, (low, high) pixel range)``; None when the demo model file is missing."""
    if name == "demo":  # raw 0..255 grey pixels
        return (extraction.load_model_file(str(DEMO_PATH)), (0.0, 255.0)) if DEMO_PATH.exists() else None
    # Random weights, never downloaded; caffe-preprocessed pixels span about this range.
    return keras.applications.VGG16(weights=None), (-123.68, 151.06)


def select_layers(model, which):
    """Layer names for ``--layers``: conv, conv_dense or channel (every channel layer)."""
    if which == "channel":
        return extraction.channel_layers(model)
    names = extraction.conv_dense_layers(model)
    return [n for n in names if which != "conv" or "Conv" in type(model.get_layer(n)).__name__]


def batches(images, batch_size):
    """Yield the batches exactly as ``extract_all`` makes them (last one zero-padded)."""
    total = len(images)
    for start in range(0, total, batch_size):
        batch = np.asarray(images[start:start + batch_size], np.float32)
        if len(batch) < batch_size and total > batch_size:
            pad = np.zeros((batch_size - len(batch),) + batch.shape[1:], np.float32)
            batch = np.concatenate([batch, pad])
        yield batch


def forward_fns(model):
    """``{label: fn(batch) -> ndarray}``: the model's plain forward pass(es)."""
    fns = {FORWARD: model.predict_on_batch}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        call = tf.function(lambda x: model(x, training=False))
        fns["forward tf.function"] = lambda batch: call(tf.constant(batch)).numpy()
    return fns


def forward_pass(fn, images, batch_size):
    """Every batch through ``fn``; outputs are dropped.  The next batch is made by a reader
    thread meanwhile, as ``extract_all`` reads its batches, so both sides overlap the same
    image-making work with the model."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as reader:
        source = batches(images, batch_size)
        pending = reader.submit(next, source, None)
        while True:
            batch = pending.result()
            if batch is None:
                break
            pending = reader.submit(next, source, None)
            np.asarray(fn(batch))


def peak_rss_mb():
    """Peak resident set size of this process in MB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def hwm_mb(reset=False):
    """Linux's resettable peak RSS (VmHWM) in MB, None if unavailable; ``reset`` restarts
    it from the current RSS.  (ru_maxrss cannot be reset reliably in a threaded process.)"""
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        with open("/proc/self/status") as handle:
            return next(int(l.split()[1]) / 1024 for l in handle if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def child(args):
    """Run one mode in this fresh process; print its RSS row, then one JSON line.

    build peak: ru_maxrss after imports and building the model; baseline: RSS then.
    VmHWM is then reset: pass peak is the pass's own peak; process peak, ru_maxrss at the end."""
    model, (low, high) = build_model(args.model)
    images = LazyImages(args.n, extraction.image_input_shape(model), low, high)
    result = {"mode": args.child, "n": args.n, "build_peak_mb": peak_rss_mb(),
              "baseline_mb": psutil.Process().memory_info().rss / 2**20}
    hwm_mb(reset=True)
    started, summaries_mb = time.perf_counter(), 0.0
    if args.child == "extract":
        extractor = extraction.Extractor(model, select_layers(model, args.layers), args.summaries,
                                         p90_max_positions=args.p90_max_positions)
        acts, probs = extraction.extract_all(model, images, batch_size=args.batch_size,
                                             extractor=extractor)
        arrays = [a for per in acts.values() for a in per.values()] + [probs]
        summaries_mb = sum(a.nbytes for a in arrays if a is not None) / 2**20
    else:
        forward_pass(model.predict_on_batch, images, args.batch_size)
    result.update(pass_peak_mb=hwm_mb() or float("nan"), peak_mb=peak_rss_mb(),
                  summaries_mb=summaries_mb, wall_s=time.perf_counter() - started)
    print_rss(result, header=True)
    print(json.dumps(result))


def spawn_child(args, mode):
    """``--child mode`` in a fresh interpreter; returns its JSON result."""
    command = [sys.executable, __file__, "--child", mode, "--model", args.model, "--n", str(args.n),
               "--batch-size", str(args.batch_size), "--layers", args.layers,
               "--summaries", ",".join(args.summaries), "--p90-max-positions", str(args.p90_max_positions)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"child {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_rss(r, header=False):
    """One RSS row (MB): after building, during the pass, whole process; summaries' size."""
    if header:
        print(f"{'RSS MB (fresh process)':24}{'N':>6}{'build peak':>11}{'baseline':>9}"
              f"{'pass peak':>10}{'growth':>8}{'process peak':>13}{'summaries':>10}{'wall s':>8}")
    print(f"{r['mode']:24}{r['n']:6}{r['build_peak_mb']:11.0f}{r['baseline_mb']:9.0f}"
          f"{r['pass_peak_mb']:10.0f}{r['pass_peak_mb'] - r['baseline_mb']:8.0f}"
          f"{r['peak_mb']:13.0f}{r['summaries_mb']:10.2f}{r['wall_s']:8.1f}")


def timed(fn):
    """(wall seconds, process CPU seconds over all threads) taken by ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_model(args):
    """Interleaved timing (plus ``--breakdown``) and RSS children for ``args.model``."""
    built = build_model(args.model)
    if built is None:
        print(f"\n== demo: {DEMO_PATH.relative_to(ROOT)} not found, skipped "
              "(demo/build_demo.py makes it) ==")
        return None
    model, (low, high) = built
    shape = extraction.image_input_shape(model)
    images, bs = LazyImages(args.n, shape, low, high), args.batch_size
    if args.app_batch:  # what the app's job runs at: its default batch, lowered to the memory target
        from analysis import budget
        bs = budget.batch_for_memory(model, APP_BATCH)
        args = argparse.Namespace(**{**vars(args), "batch_size": bs})  # the RSS children too
    if args.in_memory:  # a fast device outruns numpy's generator: make the images once
        images = images[0:args.n]
    layers = select_layers(model, args.layers)
    print(f"\n== {args.model}: input {'x'.join(map(str, shape))}, N={args.n}, batch {bs}, "
          f"{len(layers)} {args.layers} layers x summaries {','.join(args.summaries)}, "
          f"p90 on <= {args.p90_max_positions} positions ==")

    # label -> (seconds to build, one-batch callable, full-pass callable)
    modes = {label: (0.0, fn, lambda fn=fn: forward_pass(fn, images, bs))
             for label, fn in forward_fns(model).items()}
    subsets = [args.summaries]
    if args.breakdown:
        subsets = [(s,) for s in SUMMARIES] + [tuple(args.summaries) + ("p90",)] + subsets
    for subset in dict.fromkeys(s for s in subsets if s):
        label = "extract_all" if subset == tuple(args.summaries) else f"extract [{'+'.join(subset)}]"
        started = time.perf_counter()
        ex = extraction.Extractor(model, layers, subset, p90_max_positions=args.p90_max_positions)
        modes[label] = (time.perf_counter() - started, ex,
                        lambda ex=ex: extraction.extract_all(model, images, batch_size=bs, extractor=ex))

    first = next(batches(images, bs))
    warm = {label: timed(lambda f=one: f(first))[0] for label, (_, one, _) in modes.items()}
    speeds, cpu = {label: [] for label in modes}, {label: [] for label in modes}
    for _ in range(args.repeats):  # forward, extract, forward, extract, ...
        for label, (_, _, full) in modes.items():
            wall, cpu_s = timed(full)
            speeds[label].append(args.n / wall)
            cpu[label].append(cpu_s)

    base = speeds[FORWARD]
    print(f"{'mode':32}{'img/s med':>10}{'min':>8}{'max':>8}{'ratio':>8}{'best':>7}{'cpu':>7}"
          f"{'build s':>9}{'1st batch s':>12}{'trace s':>9}")
    for label, values in speeds.items():
        ratio = statistics.median(v / b for v, b in zip(values, base))
        cpu_ratio = statistics.median(f / c for f, c in zip(cpu[FORWARD], cpu[label]))
        steady = args.n / statistics.median(values) / -(-args.n // bs)  # seconds per batch
        print(f"{label:32}{statistics.median(values):10.2f}{min(values):8.2f}{max(values):8.2f}"
              f"{ratio:8.3f}{max(values) / max(base):7.3f}"
              f"{cpu_ratio:7.3f}{modes[label][0]:9.2f}"
              f"{warm[label]:12.2f}{warm[label] - steady:9.2f}")
    print(f"ratio: median over {args.repeats} interleaved repeats of (mode img/s) / ({FORWARD} img/s);"
          " best: max / max\ncpu: the same with process CPU seconds (all threads; steadier on a busy"
          " machine)\ntrace s: 1st batch (warm-up, excluded) - steady time per batch")
    rss = {}
    if not args.no_rss:
        for mode in ("forward", "extract"):
            rss[mode] = spawn_child(args, mode)
            print_rss(rss[mode], header=mode == "forward")
    return {"forward_img_s": round(statistics.median(base), 3),
            "extract_img_s": round(statistics.median(speeds["extract_all"]), 3),
            "ratio": round(statistics.median(e / f for e, f in zip(speeds["extract_all"], base)), 3),
            "cpu_ratio": round(statistics.median(f / c for f, c in zip(cpu[FORWARD], cpu["extract_all"])), 3),
            "best_ratio": round(max(speeds["extract_all"]) / max(base), 3),
            "summaries": list(args.summaries), "n": args.n, "batch_size": bs, "repeats": args.repeats,
            "modes": {label: {"img_s": round(statistics.median(v), 3),
                              "ratio": round(statistics.median(x / b for x, b in zip(v, base)), 3),
                              "cpu_ratio": round(statistics.median(f / c for f, c in zip(cpu[FORWARD], cpu[label])), 3)}
                      for label, v in speeds.items()},
            "rss": rss}


def machine():
    """One line: CPUs, Python, Keras, backend and its version."""
    backend = keras.backend.backend()
    version = getattr(importlib.import_module(backend), "__version__", "?")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"machine: {cpus} usable CPUs (os.cpu_count() {os.cpu_count()}), "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, python {sys.version.split()[0]}, "
            f"keras {keras.__version__}, backend {backend} {version}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("demo", "vgg16", "both"), default="both")
    parser.add_argument("--n", type=int, help="number of images (default: vgg16 64, demo 2048)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--app-batch", action="store_true",
                        help=f"use the batch the app's job would: its default ({APP_BATCH}) lowered "
                        "to the job's memory target (analysis/budget.py); overrides --batch-size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", choices=("conv", "conv_dense", "channel"), default="conv")
    parser.add_argument("--summaries", default=DEFAULT_SUMMARIES,
                        type=lambda s: tuple(s.split(",")), help="comma-separated subset")
    parser.add_argument("--p90-max-positions", type=int, default=extraction.DEFAULT_P90_MAX_POSITIONS,
                        help="positions p90 is computed on (strided above this)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time one Extractor per summary and one with p90 added")
    parser.add_argument("--no-rss", action="store_true", help="skip the RSS subprocesses")
    parser.add_argument("--in-memory", action="store_true",
                        help="generate the images once, before timing (for a GPU, which outruns "
                        "the per-batch generator; needs N x image bytes of RAM)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout (tables go to stderr)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=20, batch 8, 1 repeat")
    parser.add_argument("--child", choices=("forward", "extract"),
                        help="measure RSS of one mode in this process (needs one --model)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.batch_size, args.repeats = 20, 8, 1
    if args.child:
        if args.model == "both":
            parser.error("--child needs --model demo or --model vgg16")
        args.n = args.n or DEFAULT_N[args.model]
        return child(args)

    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            results = run_all(args)
        print(json.dumps(results))
    else:
        run_all(args)


def run_all(args):
    """Every requested model; prints the tables and verdicts, returns the JSON object."""
    load = os.getloadavg()
    print(machine())
    names = ("vgg16", "demo") if args.model == "both" else (args.model,)
    results = {name: bench_model(argparse.Namespace(**{**vars(args), "model": name,
                                                       "n": args.n or DEFAULT_N[name]}))
               for name in names}
    print("\ntargets:")
    for name, res in results.items():
        if res is not None:
            verdict = "PASS" if res["ratio"] >= RATIO_TARGET else "MISS"
            print(f"  {name}: extraction/forward ratio {res['ratio']:.3f} >= {RATIO_TARGET}: {verdict}")
    peak = (results.get("vgg16") or {}).get("rss", {}).get("extract", {}).get("peak_mb")
    if "vgg16" not in results:
        pass
    elif peak is None:
        print("  vgg16: peak RSS at N=2000 < 3 GB: not measured in this run")
    else:
        n_vgg = results["vgg16"]["n"]
        verdict = ("PASS" if peak < RSS_TARGET_MB else "MISS") if n_vgg >= 2000 \
            else f"not judged here (N={n_vgg}; use --child extract --n 2000)"
        print(f"  vgg16: extraction process peak RSS {peak:.0f} MB < {RSS_TARGET_MB} MB at N=2000: {verdict}")
    return {**results, "machine": machine(), "backend": keras.backend.backend(),
            "load_before": [round(x, 2) for x in load],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


if __name__ == "__main__":
    main()
