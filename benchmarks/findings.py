"""Validation of ChannelExplorer's findings on the built-in demo (prints figures).

Runs the demo extraction (``pipeline.run``: the Fashion-MNIST VGG-style CNN on
its 2,000 labelled images, conv and dense layers) into a diskcache, then checks
each finding against something known:

1. Mislabels: 5% of the labels are flipped to another random class (seeds
   0..4); ``mislabel.mislabel_scores`` (blocks 3-4 convs and fc1, deeper
   weighted, plus the model's probabilities) against cleanlab's
   ``find_label_issues(..., return_indices_ranked_by="self_confidence")`` on the
   same probabilities: precision@k (k = number flipped) and average precision.
2. Hierarchy: class-by-class mean Jaccard of each input's top channels ->
   ``class_dendrogram`` -> ``super_classes`` (automatic cut and 4 groups),
   adjusted Rand index against tops / footwear / Trouser / Bag, for every
   block 3-4 conv layer and fc1, on all inputs and as the median over
   class-stratified bootstrap resamples (how stable the answer is).
3. Unimportant channels: dead / always-on / redundant (stored summaries) and
   border (full maps of 64 inputs) channels of each conv layer are zeroed
   (``extraction.ablation_check``) against as many random and as many top-F
   channels.  Target: flagged drop <= 1/3 of the random drop.
4. Separability: cross-validated kNN accuracy per layer, in model order.

Usage (from the repository root; about 10-15 minutes on 2 busy CPU cores)::

    .venv/bin/python benchmarks/findings.py
    .venv/bin/python benchmarks/findings.py --cache-dir /tmp/findings_cache --skip-ablation

Needs ``requirements-bench.txt`` (cleanlab).  Output is Markdown.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from cleanlab.filter import find_label_issues  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from analysis import (channels, datasets, hierarchy, jaccard, mislabel, pipeline, ranking,  # noqa: E402
                      separability, store)

DEEP_LAYERS = ("block3_conv1", "block3_conv2", "block3_conv3",
               "block4_conv1", "block4_conv2", "block4_conv3", "fc1")
KNOWN_GROUPS = {"T-shirt_top": "tops", "Pullover": "tops", "Coat": "tops", "Shirt": "tops",
                "Dress": "tops", "Sandal": "footwear", "Sneaker": "footwear",
                "Ankle_boot": "footwear", "Trouser": "Trouser", "Bag": "Bag"}


def run_demo(cache_dir):
    """Run (or fetch) the demo analysis; returns (cache, meta)."""
    cache = store.open_cache(cache_dir, 2**31)
    started = time.perf_counter()
    summary = pipeline.run(pipeline.Request(model="demo", data=pipeline.DEMO_DATA, layers="conv_dense"),
                           data_roots=[pipeline.DEMO_DIR], model_roots=[pipeline.DEMO_DIR], cache=cache)
    print(f"Demo analysis {summary['key']}: {summary['n']} inputs, {len(summary['layers'])} layers, "
          f"{'from cache' if summary['from_cache'] else 'extracted'} in {time.perf_counter() - started:.1f} s\n")
    return cache, store.load_meta(cache, summary["key"])


def flip_labels(labels, n_classes, share, seed):
    """Flip ``share`` of the labels, each to a different random class; (noisy, truth mask)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), int(round(share * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[idx] = (labels[idx] + rng.integers(1, n_classes, idx.size)) % n_classes
    truth = np.zeros(len(labels), bool)
    truth[idx] = True
    return noisy, truth


def mislabel_section(acts, labels, probs, seeds, share):
    """Planted label errors: ours vs cleanlab, per seed and median."""
    print(f"## 1. Mislabels ({share:.0%} of {len(labels)} labels flipped; layers {', '.join(DEEP_LAYERS)}, "
          "'mean' summary, deeper weighted, model_weight 0.5)\n")
    print("| seed | k | ours P@k | ours AP | neighbours only P@k | neighbours only AP "
          "| cleanlab P@k (list length) | cleanlab AP (1 - p[label]) | 1 - p[label] P@k |\n"
          "|---|---|---|---|---|---|---|---|---|")
    layer_acts = {name: acts[name]["mean"] for name in DEEP_LAYERS}
    rows = []
    for seed in seeds:
        noisy, truth = flip_labels(labels, probs.shape[1], share, seed)
        k = int(truth.sum())
        ours = mislabel.mislabel_scores(layer_acts, noisy, probs)["score"]
        neighbours = mislabel.mislabel_scores(layer_acts, noisy)["score"]
        issues = find_label_issues(noisy, probs, return_indices_ranked_by="self_confidence")
        self_confidence = 1.0 - probs[np.arange(len(noisy)), noisy]
        row = [mislabel.precision_at_k(ours, truth, k), mislabel.average_precision(ours, truth),
               mislabel.precision_at_k(neighbours, truth, k), mislabel.average_precision(neighbours, truth),
               truth[issues[:k]].sum() / k, mislabel.average_precision(self_confidence, truth),
               mislabel.precision_at_k(self_confidence, truth, k)]
        rows.append(row)
        print(f"| {seed} | {k} | {row[0]:.3f} | {row[1]:.3f} | {row[2]:.3f} | {row[3]:.3f} "
              f"| {row[4]:.3f} ({len(issues)}) | {row[5]:.3f} | {row[6]:.3f} |")
    med, mean = np.median(rows, axis=0), np.mean(rows, axis=0)
    for name, values in (("median", med), ("mean", mean)):
        print(f"| **{name}** | | {values[0]:.3f} | {values[1]:.3f} | {values[2]:.3f} | {values[3]:.3f} "
              f"| {values[4]:.3f} | {values[5]:.3f} | {values[6]:.3f} |")
    print(f"\nOurs - cleanlab (median): P@k {med[0] - med[4]:+.3f}, AP {med[1] - med[5]:+.3f}. "
          "cleanlab P@k counts hits in the first k of its returned (pruned) list; the last column ranks "
          "every input by its self-confidence score.\n")


def hierarchy_scores(acts_layer, labels, n_classes, fraction, truth):
    """(groups of the automatic cut, ARI auto, ARI with 4 groups) for one setting."""
    active = jaccard.activated_sets(acts_layer, "topk", fraction)
    linkage, _ = hierarchy.class_dendrogram(jaccard.class_jaccard(active, labels, n_classes))
    auto = hierarchy.super_classes(linkage)
    four = hierarchy.super_classes(linkage, 4)
    return auto, adjusted_rand_score(truth, auto), adjusted_rand_score(truth, four), four


def hierarchy_section(acts, labels, class_names, summaries, fractions, n_boot):
    """ARI of the class tree cut vs the known grouping, per layer and setting."""
    truth = np.unique([KNOWN_GROUPS[name] for name in class_names], return_inverse=True)[1]
    n_classes = len(class_names)
    rng = np.random.default_rng(0)
    by_class = [np.flatnonzero(labels == c) for c in range(n_classes)]
    boots = [np.concatenate([rng.choice(members, members.size) for members in by_class])
             for _ in range(n_boot)]
    settings = [(s, f) for s in summaries for f in fractions]
    print("## 2. Hierarchy (class Jaccard of each input's top channels -> average linkage)\n")
    print("Cell: ARI automatic cut [groups] / ARI 4 groups on all inputs; then the median of both over "
          f"{n_boot} class-stratified bootstrap resamples.  Target ARI >= 0.8.\n")
    print("| layer | " + " | ".join(f"{s} top {f:.0%}" for s, f in settings) + " |")
    print("|---|" + "---|" * len(settings))
    best = None
    for layer in DEEP_LAYERS:
        cells = []
        for summary, fraction in settings:
            x = acts[layer][summary]
            auto, ari_auto, ari_four, four = hierarchy_scores(x, labels, n_classes, fraction, truth)
            boot = np.median([hierarchy_scores(x[b], labels[b], n_classes, fraction, truth)[1:3]
                              for b in boots], axis=0)
            cells.append(f"{ari_auto:.2f} [{len(set(auto))}] / {ari_four:.2f}; boot {boot[0]:.2f} / {boot[1]:.2f}")
            score = (boot.mean(), ari_auto + ari_four)
            if best is None or score > best[0]:
                best = (score, layer, summary, fraction, auto, four)
        print(f"| {layer} | " + " | ".join(cells) + " |")
    _, layer, summary, fraction, auto, four = best
    groups = lambda g: "; ".join(", ".join(class_names[i] for i in np.flatnonzero(g == v)) for v in np.unique(g))
    print(f"\nMost stable setting (highest bootstrap median): {layer}, {summary} summary, top {fraction:.0%}.\n"
          f"Automatic cut: {groups(auto)}\n\n4 groups: {groups(four)}\n")


def unimportant_section(meta, acts, labels, args):
    """Flag channels per conv layer and ablate them vs random / top-F channels."""
    import keras  # the benchmark builds the 64-input sub-model itself

    from analysis import extraction
    extraction.configure_threads(2)
    model = extraction.load_model_file(meta["model_ref"][1])
    folder = datasets.ImageFolder(meta["data"], meta["files"], labels, meta["class_names"])
    height, width, depth = meta["input_shape"]
    images = datasets.ImageBatches(folder, (height, width), depth, meta["preprocess"])[0:len(labels)]
    convs = [name for name in meta["layers"] if "conv" in name]
    sample = np.sort(np.random.default_rng(0).choice(len(labels), args.sample, replace=False))
    sub = keras.Model(model.inputs, [model.get_layer(name).output for name in convs])
    maps = dict(zip(convs, (np.asarray(m) for m in sub.predict_on_batch(images[sample]))))
    print(f"## 3. Unimportant channels (ablation on all {len(labels)} inputs; {args.repeats} random draws; "
          f"border from {args.sample} inputs, band {args.band}, factor {args.factor}, "
          f"min share {args.min_share})\n")
    print("Drops are in accuracy points (baseline minus ablated); 0.0005 = one image.  'random' is the mean "
          "(min..max) over the draws; 'top-F' ablates as many channels of highest F statistic (mean summary).\n")
    print("'redundant' uses the stored spatial means (as the app does); 'on maps' counts the channels the same "
          "test flags on the sample's full maps (every position a row), for comparison only.\n")
    print("| layer | C | dead | always-on | redundant (on maps) | border | set | n | flagged drop | random drop "
          "| top-F drop | flagged <= random/3 |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in convs:
        maxes, means = acts[name]["max"], acts[name]["mean"]
        dead = channels.dead_channels(maxes)
        always_on = channels.always_on_channels(means) & ~dead
        redundant = channels.redundant_channels(means)[0]
        h, w = maps[name].shape[1:3]
        border = channels.border_channels(channels.border_scores(maps[name], args.band),
                                          channels.border_area_share(h, w, args.band),
                                          args.factor, args.min_share)
        ranked = ranking.top_channels(ranking.channel_scores(means, labels, "f_stat"), None)
        on_maps = channels.redundant_channels(maps[name].reshape(-1, maps[name].shape[-1]))[0]
        counts = f"{dead.sum()} | {always_on.sum()} | {redundant.sum()} ({on_maps.sum()}) | {border.sum()}"
        summary_flags = dead | always_on | redundant
        sets = [("all", summary_flags | border), ("summary", summary_flags), ("border", border & ~summary_flags)]
        done = []
        for label, flagged in sets:
            if not flagged.any() or any(np.array_equal(flagged, d) for d in done):
                if label == "all" and not flagged.any():
                    print(f"| {name} | {len(dead)} | {counts} | all | 0 | no flagged channels | | | |")
                continue
            done.append(flagged)
            r = extraction.ablation_check(model, images, labels, name, flagged, args.repeats, ranked,
                                          random_state=0, batch_size=100)
            spread = [r["baseline"] - a for a in r["random_accuracies"]]
            ok = "yes" if r["drop_flagged"] <= r["drop_random"] / 3 else "**no**"
            print(f"| {name} | {len(dead)} | {counts} | {label} | {r['n_ablated']} | {r['drop_flagged']:.4f} "
                  f"| {r['drop_random']:.4f} ({min(spread):.4f}..{max(spread):.4f}) "
                  f"| {r['drop_discriminative']:.4f} | {ok} |", flush=True)
    print(f"\nBaseline accuracy: {extraction.evaluate_accuracy(model, images, labels, 100):.4f}\n")


def separability_section(acts, labels, layers):
    """kNN separability per layer in model order."""
    print("## 4. Separability (5-fold kNN accuracy, k = 5, standardised)\n")
    curves = {s: separability.separability({n: acts[n][s] for n in layers}, labels) for s in ("mean", "max")}
    print("| layer | C | mean summary | max summary |\n|---|---|---|---|")
    for name in layers:
        print(f"| {name} | {acts[name]['mean'].shape[1]} | {curves['mean'][name]:.3f} | {curves['max'][name]:.3f} |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", help="diskcache folder (default: a temporary one)")
    parser.add_argument("--seeds", type=int, default=5, help="label-flip seeds 0..N-1")
    parser.add_argument("--flip-share", type=float, default=0.05)
    parser.add_argument("--fractions", default="0.1,0.2,0.3", help="top-k shares for the hierarchy")
    parser.add_argument("--boot", type=int, default=10, help="bootstrap resamples for the hierarchy")
    parser.add_argument("--sample", type=int, default=64, help="inputs whose full maps give border scores")
    parser.add_argument("--repeats", type=int, default=5, help="random-channel draws per ablation")
    parser.add_argument("--band", type=float, default=0.15)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--min-share", type=float, default=0.6)
    parser.add_argument("--skip-ablation", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        cache, meta = run_demo(args.cache_dir or scratch)
        key = meta["key"]
        acts = {name: store.load_layer(cache, key, name) for name in meta["layers"]}
        labels = np.asarray(meta["labels"], np.int64)
        probs = store.load_probs(cache, key)
        mislabel_section(acts, labels, probs, range(args.seeds), args.flip_share)
        fractions = [float(f) for f in args.fractions.split(",")]
        hierarchy_section(acts, labels, meta["class_names"], ("mean", "max"), fractions, args.boot)
        if not args.skip_ablation:
            unimportant_section(meta, acts, labels, args)
        separability_section(acts, labels, meta["layers"])
        cache.close()
    print(f"Total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
