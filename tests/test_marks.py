import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.marks import MarkStore

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=True)
    return done.stdout


def test_marks_survive_reopening_in_a_new_object(tmp_path):
    path = tmp_path / "nested" / "dir" / "marks.sqlite"
    store = MarkStore(path)
    store.set("model-a", 3, "wrong")
    store.set("model-a", 7, "unsure")
    store.set("model-a", 3, "right")  # overwrite
    del store
    reopened = MarkStore(path)
    assert reopened.get_all("model-a") == {3: "right", 7: "unsure"}
    assert reopened.get("model-a", 7) == "unsure" and reopened.get("model-a", 8) is None
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_marks_are_shared_with_another_process_both_ways(tmp_path):
    path = str(tmp_path / "marks.sqlite")
    MarkStore(path).set("k", 1, "wrong")
    code = ("import json, sys\nfrom analysis.marks import MarkStore\n"
            "s = MarkStore(sys.argv[1])\nprint(json.dumps(s.get_all('k')))\ns.set('k', 2, 'right')")
    seen = json.loads(_python(code, path))
    assert seen == {"1": "wrong"}
    assert MarkStore(path).get_all("k") == {1: "wrong", 2: "right"}


def test_concurrent_writer_processes_lose_no_marks(tmp_path):
    path = str(tmp_path / "marks.sqlite")
    MarkStore(path)
    code = ("import sys\nfrom analysis.marks import MarkStore\n"
            "s = MarkStore(sys.argv[1]); w = int(sys.argv[2])\n"
            "for i in range(40): s.set('k', w * 1000 + i, 'unsure')")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code, path, str(w)], env=env) for w in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert len(MarkStore(path).get_all("k")) == 120


def test_none_deletes_and_keys_are_separate(tmp_path):
    store = MarkStore(tmp_path / "m.sqlite")
    store.set_many("a", np.arange(5), "wrong")
    store.set("b", 0, "right")
    store.set("a", 2, None)
    store.set("a", 99, None)  # deleting an absent mark is fine
    assert store.get_all("a") == {0: "wrong", 1: "wrong", 3: "wrong", 4: "wrong"}
    assert store.get_all("b") == {0: "right"}
    assert set(store.updated_at("a")) == {0, 1, 3, 4}


@pytest.mark.parametrize(
    "args, match",
    [(("a", 1, "bad"), "mark must be one of"), (("a", 1, "WRONG"), "mark must be one of"),
     (("a", -1, "wrong"), "index"), (("a", 1.5, "wrong"), "index"), (("a", True, "wrong"), "index"),
     (("", 1, "wrong"), "key")],
)
def test_invalid_marks_indices_and_keys_are_rejected(tmp_path, args, match):
    store = MarkStore(tmp_path / "m.sqlite")
    with pytest.raises(ValueError, match=match):
        store.set(*args)
    assert store.get_all("a") == {}


def test_csv_export_has_header_rows_in_order_and_marks(tmp_path):
    store = MarkStore(tmp_path / "m.sqlite")
    store.set("k", 17, "wrong")
    store.set("k", 4, "unsure")
    store.set("other", 9, "right")
    rows = [{"index": 17, "score": 0.93, "suggested": "sneaker"},
            {"index": 9, "score": 0.5, "suggested": "bag"},
            {"index": np.int64(4), "score": 0.1, "suggested": "shirt", "note": "x"}]
    text = store.export_csv("k", rows)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["index", "score", "suggested", "note", "mark"]
    assert parsed[1] == ["17", "0.93", "sneaker", "", "wrong"]
    assert parsed[2] == ["9", "0.5", "bag", "", ""]  # marked under another key only
    assert parsed[3] == ["4", "0.1", "shirt", "x", "unsure"]
    assert store.export_csv("k", []).strip() == "index,mark"
    with pytest.raises(ValueError, match="index"):
        store.export_csv("k", [{"score": 1.0}])
