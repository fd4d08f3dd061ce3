"""t-SNE and UMAP on real activations of 10,000 distinct images (issue 11, item 5).

``benchmarks/views.py`` times projections on the demo's 2,000 rows tiled with a little noise,
which stands in for 50,000 inputs but makes near-duplicate clusters that t-SNE spreads far apart
(its FFT grid grows with the spread).  This script uses the full-scale demo instead: all 10,000
Fashion-MNIST test images (``python -m app --demo full``, written once from Debian's
``dataset-fashion-mnist``), extracted for real by the job (``pipeline.run``, cached), then times
each projection as the app computes it (``projection.project_with_info``, the job's 2 threads), on
the deepest conv layer's means.

Usage (from the repository root)::

    .venv/bin/python benchmarks/projections.py --methods tsne umap --json
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis import fulldemo, pipeline, projection, store  # noqa: E402

TARGETS_S = {"tsne": 60.0, "umap": 180.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["tsne"], choices=projection.METHODS)
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "channelexplorer-bench-projections"))
    parser.add_argument("--threads", type=int, default=2, help="the job's threads (config.job_threads)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(args.cache_dir, exist_ok=True)
    cache = store.open_cache(os.path.join(args.cache_dir, "results"), 8 * 2**30)
    data = fulldemo.ensure_full_demo(args.cache_dir)
    started = time.perf_counter()
    summary = pipeline.run(pipeline.Request(data=data), data_roots=[data, pipeline.DEMO_DIR],
                           model_roots=[pipeline.DEMO_DIR], cache=cache, n_threads=args.threads)
    meta = store.load_meta(cache, summary["key"])
    layer = pipeline.default_layer(meta)
    x = store.load_layer(cache, summary["key"], layer)["mean"]
    print(f"full demo: {summary['n']:,} images, {'from cache' if summary['from_cache'] else 'extracted'} "
          f"in {time.perf_counter() - started:.1f} s; layer {layer} ({x.shape[1]} channels)", file=sys.stderr)
    out = {"n": int(x.shape[0]), "layer": layer, "threads": args.threads, "load_before": os.getloadavg()[0],
           "seconds": {}}
    for method in args.methods:
        wall = time.perf_counter()
        projection.project_with_info(x, method, random_state=0, n_threads=args.threads)
        seconds = round(time.perf_counter() - wall, 1)
        out["seconds"][method] = seconds
        target = TARGETS_S.get(method)
        print(f"{method}: {seconds} s" + (f" (target <= {target:.0f} s)" if target else ""), file=sys.stderr)
    out["load_after"] = os.getloadavg()[0]
    cache.close()
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
