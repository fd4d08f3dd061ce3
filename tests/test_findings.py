"""analysis.findings on a stored synthetic analysis (no Keras): map scans, explanations, CSV, stability."""

import csv
import io

import numpy as np
import pytest

from analysis import findings, store
from tests.helpers import store_synthetic_analysis


@pytest.fixture()
def meta(results_cache, tmp_path):
    summary = store_synthetic_analysis(results_cache, tmp_path / "data", n_classes=4,
                                       layers=("conv_1", "conv_2", "conv_3", "conv_4"))
    return store.load_meta(results_cache, summary["key"])


def test_map_scan_replaces_redundancy_on_means_and_tests_borders_only_on_big_maps(results_cache, meta):
    rng = np.random.default_rng(0)
    maps = rng.random((8, 16, 16, 32)).astype(np.float32)
    maps[:, 3:-3, 3:-3, 7] = 0.0                      # border-only channel
    maps[..., 9] = maps[..., 4] * 2.0                  # a pixel-by-pixel copy
    scan = findings.store_map_scan(results_cache, meta["key"], "conv_1", maps)
    assert scan["note"] == "" and scan["redundancy"][1][9] == 4
    rows = {r["channel"]: r for r in findings.unimportant_channels(results_cache, meta, "conv_1")}
    assert rows[7]["reasons"] == ["border"] and rows[9]["reasons"] == ["redundant"]
    assert rows[9]["explanation"] == ["redundant: corr 1.000 with ch 4 on full maps"]
    assert rows[7]["explanation"][0].startswith("border-attending: ")
    small = findings.store_map_scan(results_cache, meta["key"], "conv_2", maps[:, :8, :8])
    assert small["scores"] is None and "too small" in small["note"]


def test_unimportant_csv_lists_every_layer(results_cache, meta):
    acts = store.load_layer(results_cache, meta["key"], "conv_3")
    for name in acts:
        acts[name][:, 30] = 0.0  # dead
    results_cache.set(f"analysis/{meta['key']}/acts/conv_3", acts)
    text = findings.unimportant_csv(results_cache, meta)
    rows = list(csv.DictReader(io.StringIO(text)))
    dead = [r for r in rows if r["layer"] == "conv_3" and r["channel"] == "30"]
    assert dead and dead[0]["reasons"] == "dead" and dead[0]["explanation"] == "dead: active on 0% of inputs"


def test_deep_layer_tree_and_its_stability(results_cache, meta):
    tree = findings.class_tree(results_cache, meta)  # default: the deeper layers combined
    assert len(tree["groups"]) == 4
    result = findings.supercut_stability(results_cache, meta)
    assert 0.0 <= result["same"] <= 1.0 and len(result["ari"]) == findings.N_BOOT
    assert result["groups"].tolist() == tree["groups"].tolist()


def test_mislabel_stability_keeps_the_planted_mistakes_on_top(results_cache, meta):
    result = findings.mislabel_stability(results_cache, meta, top=5)
    assert sorted(result["top"].tolist()) == [0, 1, 2, 3, 4]
    assert result["mean_frequency"] > 0.8


def test_removal_text_reads_both_accuracies():
    text = findings.removal_text({"n_removed": 12, "per_layer": {"a": 5, "b": 7}, "channels_total": 96,
                                  "baseline": 0.9, "flagged_accuracy": 0.9, "random_mean": 0.85,
                                  "random_accuracies": [0.85] * 5})
    assert "12 flagged channels of 2 layers" in text and "90.0% → 90.0%" in text and "85.0%" in text
    assert "nothing to remove" in findings.removal_text({"n_removed": 0})


def test_check_inputs_keep_every_class_in_proportion_and_never_exceed_the_limit():
    labels = np.repeat([0, 1, 2, 3, 4, 5, 6], [300, 300, 300, 5, 5, 5, 85])  # rounding up in small classes
    chosen = findings.check_inputs(labels, limit=100)
    assert len(chosen) == 100 and len(np.unique(chosen)) == 100 and (np.diff(chosen) > 0).all()
    counts = np.bincount(labels[chosen], minlength=7)
    assert (counts >= 1).all()  # every class, the small ones too
    assert abs(counts[0] - 30) <= 2 and abs(counts[6] - 8) <= 2
    np.testing.assert_array_equal(findings.check_inputs(labels[:50], limit=100), np.arange(50))
