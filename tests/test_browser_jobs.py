"""Faults told in the browser: kill -9 of a running job, and Cancel."""

import os
import signal
import time

from callbacks.extraction import CANCELLED_TEXT, STOPPED_TEXT
from layouts import ids
from tests.browser import AppProcess
from tests.helpers import text_of, wait_for_analysis, write_image_folder
from tests.services import running_job


def _alert(browser) -> str:
    return browser.driver.execute_script(
        f"const e = document.getElementById('{ids.ALERT}'); return (!e || e.hidden) ? '' : e.innerText;")


def _wait_alert(browser, text, timeout=60) -> str:
    deadline, alert = time.time() + timeout, ""
    while time.time() < deadline and text not in alert:
        alert = _alert(browser)
        time.sleep(0.2)
    return alert


def _wait_alert_gone(browser, timeout=30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and _alert(browser):
        time.sleep(0.1)
    assert _alert(browser) == ""


def test_killed_job_shows_stopped_unexpectedly_and_retry_finishes(dash_br, tmp_path, tiny_model_file):
    data = write_image_folder(tmp_path / "images", per_class=4)
    with AppProcess(["--model", tiny_model_file, "--data", data], tmp_path / "cache") as server:
        dash_br.driver.get(server.url)
        _, record = running_job(tmp_path / "cache")
        os.kill(record["pid"], signal.SIGKILL)
        assert _wait_alert(dash_br, STOPPED_TEXT) == STOPPED_TEXT
        assert text_of(dash_br, ids.PROGRESS_TEXT) == STOPPED_TEXT  # not the stale progress
        retry = dash_br.find_element(f"#{ids.RETRY}")
        assert retry.is_displayed()
        retry.click()
        _wait_alert_gone(dash_br)  # the new run clears the old alert at once
        wait_for_analysis(dash_br, timeout=180)
        assert "12 images" in text_of(dash_br, ids.STATUS) and _alert(dash_br) == ""
        assert not dash_br.find_element(f"#{ids.RETRY}").is_displayed()
        assert dash_br.get_logs() == []


def test_cancel_says_cancelled_and_a_new_run_clears_it(dash_br, tmp_path, tiny_model_file):
    data = write_image_folder(tmp_path / "images", per_class=4)
    with AppProcess(["--model", tiny_model_file, "--data", data, "--no-autorun"],
                    tmp_path / "cache") as server:
        dash_br.driver.get(server.url)
        dash_br.wait_for_element(f"#{ids.RUN}", timeout=30).click()
        running_job(tmp_path / "cache")
        dash_br.wait_for_element(f"#{ids.CANCEL}:not([disabled])", timeout=30).click()
        assert _wait_alert(dash_br, CANCELLED_TEXT) == CANCELLED_TEXT
        assert text_of(dash_br, ids.PROGRESS_TEXT) == CANCELLED_TEXT
        time.sleep(4)  # the watchdog must not turn a cancel into "stopped unexpectedly"
        assert _alert(dash_br) == CANCELLED_TEXT
        dash_br.wait_for_element(f"#{ids.RUN}:not([disabled])", timeout=30).click()
        _wait_alert_gone(dash_br)
        wait_for_analysis(dash_br, timeout=180)  # asserts no alert is left on screen
        assert "12 images" in text_of(dash_br, ids.STATUS)
        assert dash_br.get_logs() == []
