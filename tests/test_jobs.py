"""The analysis job's page side: cache hits answered without a job, one nonce per
page, killed and cancelled jobs told apart (callback bodies called as plain functions)."""

import os
import signal
import subprocess
import sys
import time

import pytest
from dash import no_update

from analysis import jobs, pipeline
from app.config import Config
from callbacks import extraction


@pytest.fixture()
def config(tmp_path, image_folder, tiny_model_file):
    return Config(model=tiny_model_file, data=image_folder, cache_dir=str(tmp_path / "cache"),
                  data_dir=str(tmp_path / "user"), warm_umap=False, job_threads=1)


def test_a_miss_asks_for_a_job_with_a_fresh_nonce_and_a_hit_answers_at_once(config, results_cache):
    args = (config, results_cache, config.model, config.data, "conv_dense", "auto", None)
    first = extraction.start_analysis(*args)
    second = extraction.start_analysis(*args)
    assert first[0] is no_update and first[5]["nonce"] != second[5]["nonce"]
    assert first[6] is False  # the watchdog runs while the job does
    pipeline.run(pipeline.Request(**first[5]["request"]), data_roots=config.allowed_roots,
                 model_roots=config.allowed_roots, cache=results_cache, n_threads=1)
    hit = extraction.start_analysis(*args)
    assert hit[0]["from_cache"] and hit[5] is no_update and hit[2] is True
    assert "from cache" in hit[3] and hit[4].startswith("Done")


def test_a_refused_request_never_starts_a_job_and_says_previous_results_stay(config, results_cache):
    answer = extraction.start_analysis(config, results_cache, config.model, "/etc", "conv_dense",
                                       "auto", {"key": "earlier"})
    assert answer[5] is no_update and answer[2] is False
    assert answer[1].startswith("Failed — showing the previous results.")
    assert "outside the allowed" in answer[1] and answer[4] == ""


def test_the_job_body_records_its_run_and_returns_the_summary(config, results_cache):
    job = extraction.start_analysis(config, results_cache, config.model, config.data,
                                    "conv_dense", "auto", None)[5]
    progress = []
    result = extraction.run_analysis_job(config, progress.append, job)
    assert result[0]["n"] == 15 and result[2] is True and progress[-1][2].startswith("Done")
    from analysis.store import open_cache
    cache = open_cache(config.results_dir, config.cache_size_limit)
    assert jobs.read(cache, job["nonce"])["state"] == jobs.DONE
    assert extraction.watch_job(cache, job)[3] is True  # ended: the watchdog stops
    cache.close()


def test_a_killed_job_is_told_stopped_unexpectedly(results_cache):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job = {"nonce": "killed-job"}
    jobs._write(results_cache, job["nonce"], {"pid": process.pid, "host": jobs.socket.gethostname(),
                                              "state": jobs.RUNNING, "beat": time.time()})
    try:
        assert extraction.watch_job(results_cache, job)[3] is False  # alive: keep watching
    finally:
        os.kill(process.pid, signal.SIGKILL)
    time.sleep(0.2)  # not reaped yet: a zombie counts as gone
    alert, hidden, progress, watch_disabled, retry_hidden = extraction.watch_job(results_cache, job)
    assert alert == extraction.STOPPED_TEXT and hidden is False and retry_hidden is False
    assert watch_disabled is True
    process.wait()


def test_a_stale_heartbeat_from_another_machine_is_told_stopped(results_cache):
    record = {"pid": 1, "host": "another-machine", "state": jobs.RUNNING,
              "beat": time.time() - jobs.STALE_SECONDS - 1}
    assert jobs.stopped_unexpectedly(record)
    record["beat"] = time.time()
    assert not jobs.stopped_unexpectedly(record)


def test_a_cancelled_job_is_not_reported_as_stopped(results_cache):
    with jobs.running(results_cache, "to-cancel"):
        jobs.mark(results_cache, "to-cancel", jobs.CANCELLED)
    assert jobs.read(results_cache, "to-cancel")["state"] == jobs.CANCELLED
    assert extraction.watch_job(results_cache, {"nonce": "to-cancel"})[0] is no_update


def test_a_failing_job_body_records_failed(results_cache):
    with pytest.raises(RuntimeError):
        with jobs.running(results_cache, "failing"):
            raise RuntimeError("boom")
    assert jobs.read(results_cache, "failing")["state"] == jobs.FAILED


def test_an_ended_job_whose_result_waits_still_counts_as_running(tmp_path):
    """The poll race of Dash 4.4.1: a job that stored its result and exited is not 'cancelled'."""
    from app.manager import build_manager

    manager = build_manager(Config(cache_dir=str(tmp_path / "cache")))
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # a finished job process: gone
    manager._remember(process.pid, "result-key")
    assert manager.job_running(process.pid) is False  # no result waiting: really ended
    manager.handle.set("result-key", {"done": True})
    assert manager.job_running(process.pid) is True  # its result waits for the next poll
    assert manager.get_result("result-key", process.pid) == {"done": True}
    assert manager.job_running(process.pid) is False  # collected: ended
