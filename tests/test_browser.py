"""Browser tests in real headless Chromium against ``python -m app`` on the demo."""

import os
import time

import pytest

from analysis.pipeline import DEMO_DATA, DEMO_MODEL
from layouts import ids
from tests.browser import AppProcess

pytestmark = pytest.mark.skipif(not os.path.exists(DEMO_MODEL), reason="demo model not built")

POINTS_JS = """
const gd = document.querySelector('#%s .js-plotly-plot');
if (!gd || !gd._fullData) return -1;
// Plotly 7 keeps base64-encoded arrays in gd.data; _length is the decoded count.
return gd._fullData.reduce((n, t) => n + (t._length || 0), 0);
""" % ids.SCATTER


def text_of(browser, element_id):
    return browser.driver.execute_script(
        f"const e = document.getElementById('{element_id}'); return e ? e.innerText : null;")


def wait_for_analysis(browser, timeout=180):
    """Poll the progress text until the job is done; returns every text seen."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = text_of(browser, ids.PROGRESS_TEXT) or ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if text.startswith("Done"):
            return seen
        alert = browser.driver.execute_script(
            f"const e = document.getElementById('{ids.ALERT}'); return (!e || e.hidden) ? '' : e.innerText;")
        assert not alert, f"alert shown: {alert}"
        time.sleep(0.1)
    raise AssertionError(f"analysis did not finish; progress seen: {seen}")


def wait_for_points(browser, expected, timeout=150):
    """Number of points drawn in the scatterplot once it reaches ``expected`` (or timeout)."""
    deadline = time.time() + timeout
    points = -1
    while time.time() < deadline and points != expected:
        points = browser.driver.execute_script(POINTS_JS)
        time.sleep(0.2)
    return points


def test_demo_runs_with_progress_and_shows_one_point_per_image(dash_br, tmp_path):
    with AppProcess([], tmp_path / "cache", env={"CHANNELEXPLORER_BATCH_SIZE": "8"}) as server:
        dash_br.driver.get(server.url)
        dash_br.wait_for_element(f"#{ids.RUN}", timeout=30)
        seen = wait_for_analysis(dash_br)
        total = len([1 for root, _, files in os.walk(DEMO_DATA) for f in files if f.endswith(".png")])
        assert any(not text.startswith("Done") for text in seen), seen  # progress while running
        assert f"{total:,} / {total:,} images" in seen[-1]
        value = dash_br.driver.execute_script(
            f"const p = document.getElementById('{ids.PROGRESS}'); return [p.value, p.max];")
        assert value[0] == value[1] == total
        assert wait_for_points(dash_br, total) == total
        assert f"{total:,} images" in text_of(dash_br, ids.STATUS)
        assert dash_br.get_logs() == []


def test_bad_input_shows_a_message_and_keeps_the_results(dash_br, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with AppProcess(["--data-root", str(tmp_path)], tmp_path / "cache") as server:
        dash_br.driver.get(server.url)
        dash_br.wait_for_element(f"#{ids.RUN}", timeout=30)
        wait_for_analysis(dash_br)
        total = len([1 for root, _, files in os.walk(DEMO_DATA) for f in files if f.endswith(".png")])
        assert wait_for_points(dash_br, total) == total
        for path, message in (("/etc", "outside the allowed data roots"),
                              (str(empty), "It is empty")):
            field = dash_br.find_element(f"#{ids.DATA_INPUT}")
            field.clear()
            field.send_keys(path)
            dash_br.find_element(f"#{ids.RUN}").click()
            deadline = time.time() + 90
            alert = ""
            while time.time() < deadline and message not in alert:
                alert = dash_br.driver.execute_script(
                    f"const e = document.getElementById('{ids.ALERT}'); return e.hidden ? '' : e.innerText;")
                time.sleep(0.2)
            assert message in alert
            assert wait_for_points(dash_br, total) == total  # the earlier results stay on screen
        assert dash_br.get_logs() == []
