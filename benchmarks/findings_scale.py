"""Time of the findings the analysis job computes, at N inputs (issue 11: <= 60 s at N=50,000).

The job (``analysis/pipeline.py``) stores the summaries, then computes two findings once so
the page reads them from the cache: the mislabel ranking (``findings.mislabel_ranking``) and
the class-separability curve (``findings.separability_curve``).  This script stores an
N-input analysis exactly as the views benchmark does (the demo's real activations, tiled,
with 1e-3 SD noise; see ``benchmarks/views.py``) and times those two calls on it, cold
(their memos dropped first), reporting wall and process CPU seconds.  ``--channels 512``
widens every layer to at least 512 channels (its columns repeated, each copy with fresh
noise), as wide as VGG16's deep layers.

Usage (from the repository root)::

    .venv/bin/python benchmarks/findings_scale.py --n 50000 --json
"""

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import diskcache  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from analysis import findings, store  # noqa: E402
from views import demo_analysis, replicate  # noqa: E402

TARGET_S = 60.0


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def widen(cache, meta, channels, seed=1):
    """Re-store the analysis with every layer repeated to >= ``channels`` columns (+ noise)."""
    rng = np.random.default_rng(seed)
    acts = {}
    for layer in meta["layers"]:
        acts[layer] = {}
        for name, a in store.load_layer(cache, meta["key"], layer).items():
            reps = -(-channels // a.shape[1])
            wide = np.tile(a, (1, reps))
            acts[layer][name] = wide + rng.standard_normal(wide.shape, dtype=np.float32) * (1e-2 * wide.std(axis=0))
    store.save_result(cache, meta["key"], meta, acts, store.load_probs(cache, meta["key"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50_000])
    parser.add_argument("--cache-dir", default="/tmp/channelexplorer-bench-views")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="BLAS/OpenMP threads (default: as the job: unlimited)")
    parser.add_argument("--channels", type=int, default=0, help="widen every layer to at least this many")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cache = diskcache.Cache(args.cache_dir)
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON
        demo = demo_analysis(cache)
    out = {"load_before": os.getloadavg()[0], "layers": len(demo["layers"]), "channels": args.channels,
           "results": {}}
    for n in args.n:
        _, meta = replicate(cache, demo, n)
        if args.channels:
            widen(cache, meta, args.channels)
        with threadpool_limits(args.blas_threads):
            mis = timed(lambda: findings.mislabel_ranking(cache, meta))
            sep = timed(lambda: findings.separability_curve(cache, meta))
        total = round(mis[0] + sep[0], 2)
        out["results"][str(n)] = {"mislabel_s": mis[0], "mislabel_cpu_s": mis[1], "separability_s": sep[0],
                                  "separability_cpu_s": sep[1], "findings_s": total,
                                  "met": total <= TARGET_S}
        print(f"N={n:,}: mislabel ranking {mis[0]} s (cpu {mis[1]}), separability {sep[0]} s "
              f"(cpu {sep[1]}); findings {total} s (target <= {TARGET_S:.0f} s)", file=sys.stderr)
    out["load_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
