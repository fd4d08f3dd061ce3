"""Records of running background jobs (the analysis, slow projections), so the page can
tell a killed or hung job from a slow one.

A job writes ``job/<nonce>`` into the result cache when it starts and beats
every ``BEAT_SECONDS`` from a thread while it runs; it marks the record
``done``, ``failed`` or the page marks it ``cancelled``.  The web process reads
the record on a timer: a job whose process is gone (same machine) or whose
heartbeat stopped (any machine, e.g. a Celery worker) stopped unexpectedly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

BEAT_SECONDS = 2.0
STALE_SECONDS = 30.0
START_SECONDS = 60.0  # a job not started this long after it was asked for is lost (see ``lost``)
EXPIRE_SECONDS = 86400
RUNNING, DONE, FAILED, CANCELLED, STOPPED = "running", "done", "failed", "cancelled", "stopped"


def _name(nonce: str) -> str:
    return f"job/{nonce}"


def read(cache, nonce: str) -> dict | None:
    """The job's record, or None when it has not started (yet)."""
    try:
        value = cache.get(_name(nonce))
    except Exception:  # a damaged record says nothing
        return None
    return value if isinstance(value, dict) else None


def _write(cache, nonce: str, record: dict) -> None:
    cache.set(_name(nonce), record, expire=EXPIRE_SECONDS)


def mark(cache, nonce: str, state: str) -> None:
    """Set the state of a job record (kept when there is none yet, so a late start sees it)."""
    record = read(cache, nonce) or {"pid": None, "host": None, "beat": time.time()}
    record["state"] = state
    _write(cache, nonce, record)


@contextlib.contextmanager
def running(cache, nonce: str, describe=None):
    """Run the body as job ``nonce``: record it, beat while it runs, record how it ended.

    ``describe(error)``, if given, turns an exception of the body into the text
    kept in the record's ``error`` (the exception still propagates).
    """
    record = {"pid": os.getpid(), "host": socket.gethostname(), "state": RUNNING,
              "beat": time.time(), "started": time.time()}
    _write(cache, nonce, record)
    stop = threading.Event()

    def beat():
        while not stop.wait(BEAT_SECONDS):
            current = read(cache, nonce) or record
            if current.get("state") != RUNNING:
                return
            current["beat"] = time.time()
            _write(cache, nonce, current)

    thread = threading.Thread(target=beat, name=f"job-beat-{nonce[:8]}", daemon=True)
    thread.start()
    state, error = FAILED, None
    try:
        yield
        state = DONE
    except BaseException as exc:
        if describe is not None and isinstance(exc, Exception):
            error = describe(exc)
        raise
    finally:
        stop.set()
        thread.join(BEAT_SECONDS + 1)
        current = read(cache, nonce) or record
        if current.get("state") == RUNNING:
            current["state"] = state
            if error is not None:
                current["error"] = error
            _write(cache, nonce, current)


def _process_gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stopped_unexpectedly(record: dict | None, now: float | None = None,
                         stale: float = STALE_SECONDS) -> bool:
    """Whether a running job's process died without saying so.

    On the same machine the process is checked directly (a killed process is
    gone or a zombie); anywhere, a heartbeat older than ``stale`` seconds tells.
    """
    if not record or record.get("state") != RUNNING:
        return False
    now = time.time() if now is None else now
    if record.get("host") == socket.gethostname() and record.get("pid"):
        if _process_gone(int(record["pid"])):
            return True
    return now - float(record.get("beat", now)) > stale


def lost(record: dict | None, asked: float, now: float | None = None, *,
         start: float | None = START_SECONDS, stale: float = STALE_SECONDS) -> bool:
    """Whether a job asked for at ``asked`` will never deliver its result.

    It is lost when it stopped unexpectedly (see :func:`stopped_unexpectedly`)
    or when it has not started ``start`` seconds after it was asked for: a job
    forked from a multi-threaded web process can hang before its first line
    (a lock another thread held at the fork).  ``start=None`` waits for ever,
    for queues where a job may rightly wait its turn (Celery).
    """
    now = time.time() if now is None else now
    if record is None:
        return start is not None and now - asked > start
    return stopped_unexpectedly(record, now, stale)
