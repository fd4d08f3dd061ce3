"""Start-up work that must not slow the page or touch the web process's state."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

log = logging.getLogger(__name__)


def numba_cache_dir(config) -> str:
    return os.path.join(config.cache_dir, "numba")


def start_umap_warmup(config) -> subprocess.Popen | None:
    """Compile UMAP's kernels once, in a separate low-priority process.

    The compiled kernels land in ``NUMBA_CACHE_DIR`` (under the cache folder),
    which every job process shares, so a user's first UMAP skips most of the
    compilation (~50 s cold vs ~30 s warm here).  It runs as its own process,
    not a thread, because jobs fork from the web process and a fork in the
    middle of an import or a compilation can deadlock the child.  Only one
    warm-up per cache folder: the first worker to create the marker runs it.
    """
    directory = numba_cache_dir(config)
    from analysis.store import private_makedirs

    private_makedirs(directory)  # parents it creates are 0700 too
    marker = os.path.join(directory, ".warmup-started")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return None
    env = dict(os.environ, NUMBA_CACHE_DIR=directory, OMP_NUM_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    log.info("compiling UMAP in the background (pid file %s)", marker)
    return subprocess.Popen([sys.executable, "-m", "analysis.projection", "--warm"], cwd=root,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: os.nice(10), start_new_session=True)
