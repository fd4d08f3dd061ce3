"""The background-callback manager, built from config in this one place."""

from __future__ import annotations

from dash import CeleryManager, DiskcacheManager

_JOB_KEY = "channelexplorer-job-key-"


class _ResultAware:
    """Closes a race in Dash 4.4.1's polling (``_update_background_callback``).

    A poll first reads the result, then asks whether the job still runs.  A job
    that stores its result and exits between the two looks cancelled: the poll
    answers HTTP 204, the page stops polling and the result is never shown (1 of
    50 rounds under load).  Each job's result key is remembered (in the shared
    job store, so any Gunicorn worker can answer the poll); a job that has ended
    but whose result is waiting counts as running, and the next poll collects it.
    """

    def call_job_fn(self, key, job_fn, args, context):
        job = super().call_job_fn(key, job_fn, args, context)
        self._remember(job, key)
        return job

    def job_running(self, job):
        if super().job_running(job):
            return True
        key = self._recall(job) if job else None
        return bool(key) and self.result_ready(key)


class ChannelDiskcacheManager(_ResultAware, DiskcacheManager):
    def _remember(self, job, key):
        self.handle.set(_JOB_KEY + str(job), key, expire=3600)

    def _recall(self, job):
        return self.handle.get(_JOB_KEY + str(job))


class ChannelCeleryManager(_ResultAware, CeleryManager):
    def _remember(self, job, key):
        self.handle.backend.set(_JOB_KEY + str(job), key)
        self.handle.backend.expire(_JOB_KEY + str(job), 3600)

    def _recall(self, job):
        value = self.handle.backend.get(_JOB_KEY + str(job))
        return value.decode() if isinstance(value, bytes) else value


def build_manager(config):
    """A Dash background manager for ``config.background``.

    ``diskcache``: jobs run in processes forked from the web process, their
    state in a diskcache under ``config.jobs_dir`` (shared by Gunicorn workers).
    ``celery``: jobs run on Celery workers through Redis (``config.redis_url``);
    start them with ``celery -A app.celery_app worker`` (see ``app/celery_app.py``
    for the pool: prefork, children that never ran a model before the fork).
    """
    if config.background == "diskcache":
        import diskcache

        from analysis.store import private_makedirs

        private_makedirs(config.jobs_dir)
        return ChannelDiskcacheManager(diskcache.Cache(config.jobs_dir), expire=3600)
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
        return ChannelCeleryManager(celery_app, expire=3600)
    raise ValueError(f"Unknown background manager {config.background!r}; "
                     "allowed: diskcache, celery.")
