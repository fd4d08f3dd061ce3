"""Slow projections' jobs: recorded under the request's nonce, a failure's message
kept, a lost job (killed, or never started) asked for again once, then told."""

import subprocess
import sys
import time

import pytest

from analysis import jobs
from analysis import session as sessions
from analysis.store import open_cache
from app.config import Config
from callbacks import scatter
from tests.helpers import store_synthetic_analysis


@pytest.fixture()
def config(tmp_path):
    return Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path / "user"),
                  warm_umap=False, job_threads=1)


@pytest.fixture()
def stored(config):
    cache = open_cache(config.results_dir, config.cache_size_limit)
    analysis = store_synthetic_analysis(cache, config.cache_dir + "-data")
    yield cache, analysis
    cache.close()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_job_not_started_in_time_is_lost_unless_it_may_wait_in_a_queue():
    asked = time.time() - jobs.START_SECONDS - 1
    assert jobs.lost(None, asked)
    assert not jobs.lost(None, time.time())  # just asked for: on its way
    assert not jobs.lost(None, asked, start=None)  # a Celery queue: waiting its turn


def test_a_killed_job_is_lost_and_a_live_one_is_not():
    import os
    import socket
    now = time.time()
    alive = {"pid": os.getpid(), "host": socket.gethostname(), "state": jobs.RUNNING, "beat": now}
    assert not jobs.lost(alive, now - 1000)
    assert jobs.lost(dict(alive, pid=dead_pid()), now)
    # A silent heartbeat counts after ``stale`` seconds only.
    assert not jobs.lost(dict(alive, beat=now - 100), now, stale=600)
    assert jobs.lost(dict(alive, beat=now - 700), now, stale=600)
    assert not jobs.lost(dict(alive, state=jobs.DONE, pid=dead_pid()), now)


def test_a_failing_body_keeps_its_message_in_the_record(results_cache):
    with pytest.raises(ValueError):
        with jobs.running(results_cache, "failing", describe=lambda error: f"told: {error}"):
            raise ValueError("bad layer")
    record = jobs.read(results_cache, "failing")
    assert record["state"] == jobs.FAILED and record["error"] == "told: bad layer"


def test_the_projection_job_records_its_run_and_its_failure(config, stored):
    cache, analysis = stored
    request = scatter.new_request(scatter.projection_request(cache, analysis, "conv_2", "mean", "mds"))
    assert request["attempt"] == 1 and request["nonce"]
    assert scatter.compute_projection_job(config, request) == request
    assert jobs.read(cache, request["nonce"])["state"] == jobs.DONE
    assert sessions.open(cache, analysis["key"]).has_projection("conv_2", "mean", "mds")

    broken = scatter.new_request(dict(request, method="no-such-method"))
    scatter.compute_projection_job(config, broken)  # returns: the page reads the record
    record = jobs.read(cache, broken["nonce"])
    assert record["state"] == jobs.FAILED and record["error"]
    trouble = scatter.projection_trouble(cache, broken, "conv_2", "mean", "no-such-method")
    assert trouble.startswith("no-such-method could not be computed: ") and "PCA is shown" in trouble


def test_a_lost_projection_job_is_asked_for_again_once_then_told(stored):
    cache, analysis = stored
    request = scatter.new_request(scatter.projection_request(cache, analysis, "conv_2", "mean", "umap"))
    later = request["started"] + jobs.START_SECONDS + 1
    # On its way, or not the projection the controls ask for: nothing to do.
    assert scatter.projection_trouble(cache, request, "conv_2", "mean", "umap") is None
    assert scatter.projection_trouble(cache, request, "conv_1", "mean", "umap", now=later) is None
    # Never started: asked for again, unless a queue may hold it.
    assert scatter.projection_trouble(cache, request, "conv_2", "mean", "umap", now=later) == scatter.RETRY
    assert scatter.projection_trouble(cache, request, "conv_2", "mean", "umap",
                                      wait_for_start=False, now=later) is None
    # Its process killed: the same.
    import socket
    jobs._write(cache, request["nonce"], {"pid": dead_pid(), "host": socket.gethostname(),
                                          "state": jobs.RUNNING, "beat": time.time()})
    assert scatter.projection_trouble(cache, request, "conv_2", "mean", "umap") == scatter.RETRY
    # The second attempt lost too: the page says so and stops waiting.
    second = dict(request, attempt=scatter.ATTEMPTS)
    text = scatter.projection_trouble(cache, second, "conv_2", "mean", "umap")
    assert text.startswith("UMAP stopped unexpectedly 2 times; PCA is shown.")
