"""``python -m app analyse``: the page's analysis without a server, JSON out, files exported."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from analysis.pipeline import DEMO_DATA, DEMO_MODEL
from app import cli
from tests.browser import ROOT

KEYS = {"n", "classes", "layers", "skipped", "bad", "accuracy", "seconds", "key"}


@pytest.mark.skipif(not os.path.exists(DEMO_MODEL), reason="demo model not built")
def test_demo_json_matches_the_model_metrics_and_exports(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    export = tmp_path / "export"
    code = cli.run(["--model", "demo", "--cache-dir", str(tmp_path / "cache"), "--json",
                    "--export", str(export), "--job-threads", "2"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    result = json.loads(out.getvalue())
    assert KEYS <= set(result) and result["accuracy_reason"] is None
    with open(os.path.join(os.path.dirname(DEMO_MODEL), "metrics.json"), encoding="utf-8") as handle:
        metrics = json.load(handle)
    assert result["n"] == metrics["subset_images"]
    assert result["accuracy"]["top1"] == pytest.approx(metrics["subset_accuracy"], abs=1e-9)
    assert "Extracting: 2,000 / 2,000" in err.getvalue()  # progress on stderr

    with open(export / "files.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == result["n"]
    correct = np.mean([int(row["correct"]) for row in rows])
    assert correct == pytest.approx(result["accuracy"]["top1"])
    probs = np.load(export / "probs.npy")
    assert probs.shape == (result["n"], len(result["classes"]))
    np.testing.assert_array_equal(probs.argmax(axis=1), [result["classes"].index(r["predicted"]) for r in rows])
    for layer in result["layers"]:
        assert np.load(export / f"{layer}__mean.npy").shape[0] == result["n"]
    with open(export / "mislabels.csv", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["rank", "index", "file", "label", "suggested", "score"]
    tree = json.loads((export / "class_tree.json").read_text())
    assert set(tree["super_class"]) == set(result["classes"])
    assert (export / "unimportant.csv").read_text().startswith("layer,channel,reasons")

    # Same cache as the page: the second run (or the page) is served from it.
    again = io.StringIO()
    assert cli.run(["--model", "demo", "--cache-dir", str(tmp_path / "cache")], stdout=again,
                   stderr=io.StringIO()) == 0
    second = json.loads(again.getvalue())
    assert second["from_cache"] and second["key"] == result["key"]


@pytest.mark.parametrize("args,message", [
    (["--model", "missing.keras"], "does not exist"),
    (["--data", "/nonexistent-folder"], "is not a folder"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "app", "analyse", "--cache-dir", str(tmp_path), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode != 0 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_nested_layer_names_make_flat_file_names():
    assert cli.file_name("mobilenetv2_1.00_160/block_1_expand", "mean") == \
        "mobilenetv2_1.00_160.block_1_expand__mean.npy"
