"""The background-callback manager, built from config in this one place."""

from __future__ import annotations

import os


def build_manager(config):
    """A Dash background manager for ``config.background``.

    ``diskcache``: jobs run in processes forked from the web process, their
    state in a diskcache under ``config.jobs_dir`` (shared by Gunicorn workers).
    ``celery``: jobs run on Celery workers through Redis (``config.redis_url``).
    """
    from dash import CeleryManager, DiskcacheManager

    if config.background == "diskcache":
        import diskcache

        os.makedirs(config.jobs_dir, mode=0o700, exist_ok=True)
        return DiskcacheManager(diskcache.Cache(config.jobs_dir), expire=3600)
    if config.background == "celery":
        try:
            from celery import Celery
        except ImportError as error:
            raise RuntimeError("background=celery needs the 'celery' and 'redis' packages; "
                               "pip install celery redis") from error
        celery_app = Celery("channelexplorer", broker=config.redis_url, backend=config.redis_url)
        return CeleryManager(celery_app, expire=3600)
    raise ValueError(f"Unknown background manager {config.background!r}; "
                     "allowed: diskcache, celery.")
