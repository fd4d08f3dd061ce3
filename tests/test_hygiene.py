"""Input hygiene: start-up checks, refusals in words, 404 for traversal, checked marks."""

import json
import os
import subprocess
import sys

import pytest

from app import create_app
from app.config import Config
from layouts import ids
from tests.helpers import store_synthetic_analysis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args):
    env = dict(os.environ, CHANNELEXPLORER_WARM_UMAP="0")
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize("args, words", [
    (["--data", "/nonexistent/images"], "/nonexistent/images is not a folder"),
    (["--model", "/nonexistent/model.keras"], "Model file /nonexistent/model.keras does not exist"),
    (["--data", "/tmp/a\nb"], "line break"),
])
def test_cli_refuses_bad_model_or_data_at_start_in_one_line(args, words):
    result = _cli(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0]


def test_cli_message_shortens_a_huge_path():
    result = _cli("--data", "/" + "d" * 5000)
    assert result.returncode != 0 and len(result.stderr) < 400


@pytest.fixture()
def app(tmp_path):
    return create_app(Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path / "user"),
                             warm_umap=False))


@pytest.mark.parametrize("path", ["/_dash-component-suites/nopkg/x.js",
                                  "/_dash-component-suites/dash/../../etc/passwd",
                                  "/_dash-component-suites/%2e%2e/x.js",
                                  "/_dash-component-suites/dash/missing.js"])
def test_component_suite_traversal_and_unknown_files_get_404(app, path):
    assert app.server.test_client().get(path).status_code == 404


def _mark_body(index, analysis):
    trigger = {"index": index, "mark": "wrong", "type": ids.ROW_MARK}
    return {
        "output": f"{ids.MARKS_VERSION}.data", "outputs": {"id": ids.MARKS_VERSION, "property": "data"},
        "inputs": [[{"id": trigger, "property": "n_clicks", "value": 1}]],
        "state": [{"id": ids.ANALYSIS, "property": "data", "value": analysis},
                  {"id": ids.MARKS_VERSION, "property": "data", "value": 0}],
        "changedPropIds": [json.dumps(trigger, sort_keys=True, separators=(",", ":")) + ".n_clicks"],
    }


def test_marks_are_refused_for_inputs_and_analyses_that_do_not_exist(app, tmp_path):
    from analysis import session
    from analysis.marks import MarkStore

    summary = store_synthetic_analysis(app.results, str(tmp_path / "data"), n=30, write_images=False)
    marks = MarkStore(app.config_obj.marks_path)
    key = session.require(app.results, summary).marks_key
    client = app.server.test_client()
    ok = client.post("/_dash-update-component", json=_mark_body(3, summary))
    assert ok.status_code == 200 and ok.get_json()["response"]
    outside = client.post("/_dash-update-component", json=_mark_body(30, summary))
    assert outside.status_code in (200, 204) and not (outside.get_json(silent=True) or {}).get("response")
    assert marks.get_all(key) == {3: "wrong"}  # index 30 does not exist in a 30-input analysis
    unknown = client.post("/_dash-update-component", json=_mark_body(3, dict(summary, key="nope")))
    assert unknown.status_code != 500
    assert ids.MARKS_VERSION not in ((unknown.get_json(silent=True) or {}).get("response") or {})
