"""The background-callback manager, built from config in this one place."""

from __future__ import annotations


def build_manager(config):
    """A Dash background manager for ``config.background``.

    ``diskcache``: jobs run in processes forked from the web process, their
    state in a diskcache under ``config.jobs_dir`` (shared by Gunicorn workers).
    ``celery``: jobs run on Celery workers through Redis (``config.redis_url``);
    start them with ``celery -A app.celery_app worker`` (see ``app/celery_app.py``
    for the pool: prefork, children that never ran a model before the fork).
    """
    from dash import CeleryManager, DiskcacheManager

    if config.background == "diskcache":
        import diskcache

        from analysis.store import private_makedirs

        private_makedirs(config.jobs_dir)
        return DiskcacheManager(diskcache.Cache(config.jobs_dir), expire=3600)
    if config.background == "celery":
        try:
            from celery import Celery
        except ImportError as error:
            raise RuntimeError("background=celery needs the 'celery' and 'redis' packages; "
                               "pip install celery redis") from error
        celery_app = Celery("channelexplorer", broker=config.redis_url, backend=config.redis_url)
        celery_app.conf.update(
            # One job at a time per pool process, taken only when it is free.
            worker_prefetch_multiplier=1,
            # A fresh process after this many jobs: TensorFlow keeps its memory otherwise.
            worker_max_tasks_per_child=20,
            # A job whose worker dies is reported ("stopped unexpectedly"), not re-run
            # behind the user's back (it may be what killed the worker).
            task_acks_late=False,
            task_reject_on_worker_lost=False,
            broker_connection_retry_on_startup=True,
            result_expires=3600,
        )
        return CeleryManager(celery_app, expire=3600)
    raise ValueError(f"Unknown background manager {config.background!r}; "
                     "allowed: diskcache, celery.")
