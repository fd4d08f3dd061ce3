"""Real services for the background-job tests: a redis-server, a Celery worker, and the
``manager`` fixture that runs a test under both background managers.

Registered from ``tests/conftest.py`` through ``pytest_plugins``.  Like Dash's own
background-callback tests, every job test takes ``manager`` (``diskcache`` or
``celery``) and builds its server through one helper, ``serve``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from tests.browser import ROOT, AppProcess, free_port

MANAGERS = ("diskcache", "celery")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private redis-server on a free port (no persistence), for the whole session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (bash .ci/run installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    import redis

    client = redis.Redis(port=port)
    deadline = time.time() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@contextmanager
def celery_worker(env: dict, log_dir, concurrency: int = 1):
    """``celery -A app.celery_app worker`` (prefork) with ``env``, until it says ready."""
    log_path = os.path.join(str(log_dir), "celery-worker.log")
    os.makedirs(str(log_dir), exist_ok=True)
    log = open(log_path, "w")
    command = [os.path.join(os.path.dirname(sys.executable), "celery"), "-A", "app.celery_app",
               "worker", "--pool", "prefork", "--concurrency", str(concurrency),
               "--max-tasks-per-child", "5", "--loglevel", "INFO", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            with open(log_path) as handle:
                text = handle.read()
            if " ready." in text:
                break
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{text[-3000:]}")
            time.sleep(0.3)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def job_records(cache_dir) -> dict:
    """{nonce: record} of every job recorded under ``cache_dir``."""
    from analysis import jobs, store

    cache = store.open_cache(os.path.join(str(cache_dir), "results"), 2 ** 30)
    try:
        return {name[4:]: jobs.read(cache, name[4:]) for name in list(cache.iterkeys())
                if isinstance(name, str) and name.startswith("job/")}
    finally:
        cache.close()


def running_job(cache_dir, timeout: float = 120, after: float = 0.0) -> tuple[str, dict]:
    """(nonce, record) of the first job (analysis or projection) running under ``cache_dir``
    that started after ``after`` (a time)."""
    from analysis import jobs

    deadline = time.time() + timeout
    while time.time() < deadline:
        for nonce, record in job_records(cache_dir).items():
            if (record and record.get("state") == jobs.RUNNING and record.get("pid")
                    and record.get("started", 0) >= after):
                return nonce, record
        time.sleep(0.1)
    raise AssertionError("no running job appeared")


def gunicorn_command(workers: int = 2):
    return [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", str(workers),
            "-b", "127.0.0.1:{port}", "--timeout", "120", "app.wsgi:server"]


@pytest.fixture(params=MANAGERS)
def manager(request):
    """The background manager a job test runs under (both, one after the other)."""
    if request.param == "celery":
        request.getfixturevalue("redis_url")
    return request.param


@pytest.fixture()
def serve(manager, request, tmp_path):
    """``serve(env, workers=2)``: a context manager running Gunicorn (and, for
    ``celery``, a worker) with ``env`` added to the environment; yields the server."""

    @contextmanager
    def start(env: dict, workers: int = 2, logs=None):
        logs = logs or tmp_path / "logs"
        full = dict(env, CHANNELEXPLORER_BACKGROUND=manager)
        if manager == "celery":
            redis = request.getfixturevalue("redis_url")
            # One Redis database per test: stale results of another test never leak in.
            db = abs(hash(str(tmp_path))) % 15 + 1
            full["CHANNELEXPLORER_REDIS_URL"] = redis.rsplit("/", 1)[0] + f"/{db}"
        worker_env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2",
                          CHANNELEXPLORER_WARM_UMAP="0",
                          CHANNELEXPLORER_DATA_DIR=os.path.join(str(logs), "user-data"), **full)
        with AppProcess([], logs, env=full, command=gunicorn_command(workers)) as server:
            if manager == "celery":
                with celery_worker(worker_env, logs) as worker:
                    server.worker = worker
                    yield server
            else:
                server.worker = None
                yield server

    return start
