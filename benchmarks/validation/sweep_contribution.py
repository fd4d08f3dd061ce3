"""Choose the contribution threshold on the TUNING set only (issue 12, step 2).

For each threshold of the grid, every conv layer's flagged channels (the
existing flags plus channels whose contribution to the next layer is below the
threshold) are ablated against as many random channels, as in
``benchmarks/findings.py``; prints layers met, channels flagged and the
accuracy after removing every flagged channel at once.  Deliberately has no
way to run on the validation or holdout set.

Usage (repository root)::

    .venv/bin/python benchmarks/validation/sweep_contribution.py --grid 0.05,0.1,0.2 --repeats 5
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from analysis import findings, pipeline, store  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", default="0.05,0.1,0.15,0.2,0.3")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "sweep-tuning"))
    parser.add_argument("--counts-only", action="store_true", help="flag counts per threshold, no ablation")
    parser.add_argument("--changed-only", action="store_true",
                        help="ablate only the conv layers whose flagged set differs from the rule switched off "
                             "(the others are run 2's layers, all met)")
    parser.add_argument("--summary", default=findings.CONTRIBUTION_SUMMARY, help="energy summary (l2 or mean)")
    args = parser.parse_args()
    from analysis import removal
    cache = store.open_cache(args.cache_dir, 2**31)
    request = pipeline.Request(model="demo", data=pipeline.DEMO_DATA, layers="conv_dense")
    summary = pipeline.run(request, data_roots=[pipeline.DEMO_DIR], model_roots=[pipeline.DEMO_DIR], cache=cache)
    meta = store.load_meta(cache, summary["key"])
    layers = findings.removable_layers(meta)
    for layer in layers:
        if cache.get(findings.border_name(meta["key"], layer)) is None:
            findings.store_map_scan(cache, meta["key"], layer,
                                    pipeline.sample_maps(meta, layer, findings.MAP_SAMPLES, 2))
    model, batches = pipeline.stored_model_and_images(meta, 2)
    findings.store_outgoing(cache, meta, model)
    convs = [layer for layer in layers if "conv" in layer.lower()]
    images, labels = batches[0:len(batches)], np.asarray(meta["labels"])
    masked = removal.MaskedModel(model, layers) if not args.counts_only else None
    findings.CONTRIBUTION_SUMMARY = args.summary
    findings.CONTRIBUTION_THRESHOLD = None
    before = {layer: [r["channel"] for r in rows] for layer, rows in findings.all_unimportant(cache, meta, layers).items()}
    results = {}
    for tau in [float(v) for v in args.grid.split(",")]:
        findings.CONTRIBUTION_THRESHOLD = tau
        rows = findings.all_unimportant(cache, meta, layers)
        counts = {layer: [len(rows[layer]), sum("low_contribution" in r["reasons"] for r in rows[layer])]
                  for layer in layers}
        print(f"tau {tau}: flagged (of which low contribution) {counts}", flush=True)
        if args.counts_only:
            continue
        started = time.perf_counter()
        zeroed, merged = findings.removal_plan(cache, meta, layers)
        rows_now = {layer: [r["channel"] for r in rows[layer]] for layer in layers}
        checked = [layer for layer in convs if not args.changed_only or rows_now[layer] != before[layer]]
        print(f"  ablating {checked}", flush=True)
        checks = removal.layer_checks(model, images, labels, {layer: zeroed.get(layer, []) for layer in checked},
                                      args.repeats, 0, 250, masked, merged)
        total = removal.removal_check(model, images, labels, zeroed, args.repeats, 1, 250, masked, merged=merged)
        results[tau] = {"met": sum(c["met"] for c in checks.values()) + len(convs) - len(checked),
                        "total": len(convs),
                        "n_flagged": total["n_removed"],
                        "per_layer": {k: [c["n_removed"], round(c["drop_flagged"], 4), round(c["drop_random"], 4),
                                          c["met"]] for k, c in checks.items()},
                        "removal": [total["baseline"], total["flagged_accuracy"], round(total["random_mean"], 4)],
                        "seconds": round(time.perf_counter() - started)}
        print(json.dumps({tau: results[tau]}), flush=True)
    cache.close()


if __name__ == "__main__":
    main()
