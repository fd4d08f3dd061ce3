"""Browser tests in real headless Chromium against ``python -m app`` on the demo."""

import os
import time

import pytest

from analysis.pipeline import DEMO_DATA, DEMO_MODEL
from layouts import ids
from tests.browser import AppProcess
from tests.helpers import text_of, wait_for_analysis, wait_for_points

pytestmark = pytest.mark.skipif(not os.path.exists(DEMO_MODEL), reason="demo model not built")

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
