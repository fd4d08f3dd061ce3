"""Helpers for browser tests: the real app in its own process (``python -m app``).

The app runs in a fresh process, never in the test process: background jobs
fork from the web process, and TensorFlow is not fork-safe once a model has
run in the parent (the test process runs models in other tests).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppProcess:
    """``python -m app ARGS`` (or ``command``, with ``{port}`` filled in) on a free port."""

    def __init__(self, args, cache_dir, env=None, command=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2",
                        CHANNELEXPLORER_WARM_UMAP="0",
                        CHANNELEXPLORER_DATA_DIR=os.path.join(str(cache_dir), "user-data"),
                        **(env or {}))
        if command is not None:
            command = [part.replace("{port}", str(self.port)) for part in command]
        command = command or [sys.executable, "-m", "app", "--port", str(self.port),
                              "--cache-dir", str(cache_dir), *args]
        self.log_path = os.path.join(str(cache_dir), f"server-{self.port}.log")
        os.makedirs(str(cache_dir), exist_ok=True)
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout=90) -> "AppProcess":
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"server not ready:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        with open(self.log_path) as handle:
            return handle.read()

    def stop(self):
        import signal
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()

    def __enter__(self):
        return self.wait_ready()

    def __exit__(self, *exc):
        self.stop()
