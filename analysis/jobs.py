"""Records of running analysis jobs, so the page can tell a killed job from a slow one.

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
def running(cache, nonce: str):
    """Run the body as job ``nonce``: record it, beat while it runs, record how it ended."""
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
    state = FAILED
    try:
        yield
        state = DONE
    finally:
        stop.set()
        thread.join(BEAT_SECONDS + 1)
        current = read(cache, nonce) or record
        if current.get("state") == RUNNING:
            current["state"] = state
            _write(cache, nonce, current)


def _process_gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stopped_unexpectedly(record: dict | None, now: float | None = None) -> bool:
    """Whether a running job's process died without saying so.

    On the same machine the process is checked directly (a killed process is
    gone or a zombie); elsewhere a heartbeat older than ``STALE_SECONDS`` tells.
    """
    if not record or record.get("state") != RUNNING:
        return False
    now = time.time() if now is None else now
    if record.get("host") == socket.gethostname() and record.get("pid"):
        if _process_gone(int(record["pid"])):
            return True
    return now - float(record.get("beat", now)) > STALE_SECONDS
