"""The analysis: answered from the cache at once, else run as a cancellable background job.

``start`` (web process, no TensorFlow) checks the request and looks the
result up by cheap fingerprints; only a miss hands a job request with a fresh
nonce to the background callback ``analyse``.  The nonce makes each page's
job its own (Dash 4.4.1 gives the result of one background-callback cache key
to whichever page polls first); results are still shared through the result
cache, and a per-analysis lock lets one job compute while the others wait.
``watch`` tells a killed job from a slow one; ``cancelled`` says Cancelled.
"""

from __future__ import annotations

import time
import uuid

from dash import Input, Output, State, no_update

from analysis import jobs, pipeline, session
from analysis.summaries import analysis_summaries
from callbacks.errors import message_of
from layouts import ids

STOPPED_TEXT = "The analysis stopped unexpectedly — Retry"
CANCELLED_TEXT = "Cancelled"


class ProgressReporter:
    """Turns pipeline progress into (value, max, text) for the page, throttled.

    Each ``set_progress`` is a write to the job cache, so at most one every
    ``interval`` seconds (the last step of a phase always goes through).
    """

    def __init__(self, set_progress, interval: float = 0.3):
        self.set_progress = set_progress
        self.interval = interval
        self.started = time.perf_counter()
        self.last = 0.0
        self.last_phase = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if phase == self.last_phase and done < total and now - self.last < self.interval:
            return
        self.last, self.last_phase = now, phase
        elapsed = now - self.started
        if total:
            text = f"{phase}: {done:,} / {total:,} images · {elapsed:.0f} s"
        else:
            text = f"{phase} · {elapsed:.0f} s"
        self.set_progress((str(done), str(max(total, 1)), text))


def status_text(summary: dict) -> str:
    parts = [f"{summary['n']:,} images", f"{len(summary['classes'])} classes",
             f"{len(summary['layers'])} layers", f"model {summary['model']}"]
    how = "from cache" if summary["from_cache"] else "extracted"
    parts.append(f"{how} in {summary['seconds']:.1f} s")
    if summary.get("recomputed_damaged"):
        parts.append("the stored result was damaged and has been recomputed")
    if summary["skipped"]:
        parts.append(f"{summary['skipped']} non-image files skipped")
    if summary["bad"]:
        parts.append(f"{summary['bad']} unreadable images skipped")
    if summary.get("notice"):  # the folder's classes against the model's outputs
        parts.append(summary["notice"])
    if summary.get("outside"):
        parts.append(f"{summary['outside']} links outside the allowed folders skipped")
    return " · ".join(parts)


def failure_text(error, had_previous: bool) -> str:
    return f"Failed — showing the previous results. {error}" if had_previous else str(error)


def make_request(config, model, data, layer_set, preprocess) -> pipeline.Request:
    return pipeline.Request(
        model=(model or "demo").strip(), data=(data or config.data).strip(),
        layers=layer_set or config.layers, preprocess=preprocess or config.preprocess,
        batch_size=config.batch_size, summaries=analysis_summaries(config.p90))


def start_analysis(config, cache, model, data, layer_set, preprocess, previous):
    """Body of ``start``: the cached answer, a refusal, or a job request (no Keras here).

    Returns
    -------
    tuple
        (analysis store, alert text, alert hidden, status, progress text, job store,
        watchdog disabled, retry hidden)
    """
    had_previous = bool(previous)
    try:
        request = make_request(config, model, data, layer_set, preprocess)
        summary = pipeline.lookup(request, data_roots=config.allowed_roots,
                                  model_roots=config.allowed_roots, cache=cache)
    except pipeline.AnalysisError as error:
        return (no_update, failure_text(error, had_previous), False, no_update, "", no_update,
                True, True)
    if summary is not None:  # answered here: no job, no fork
        return (summary, "", True, status_text(summary),
                f"Done ({len(summary['layers'])} layers, from cache)", no_update, True, True)
    job = {"nonce": uuid.uuid4().hex, "request": request.as_dict(), "previous": had_previous,
           "asked": time.time()}
    return no_update, "", True, no_update, "Starting the analysis…", job, False, True


def run_analysis_job(config, set_progress, job):
    """Body of the background callback (a plain function, so tests can call it).

    Returns
    -------
    tuple
        (analysis store data, alert text, alert hidden, status text, watchdog disabled)
    """
    if not job:
        return no_update, no_update, no_update, no_update, True
    request = pipeline.Request(**{**job["request"], "summaries": tuple(job["request"]["summaries"])})
    reporter = ProgressReporter(set_progress)
    with session.job(config) as cache:
        if (jobs.read(cache, job["nonce"]) or {}).get("state") == jobs.CANCELLED:
            return no_update, no_update, no_update, no_update, True
        try:
            with jobs.running(cache, job["nonce"]):
                summary = pipeline.run(request, data_roots=config.allowed_roots,
                                       model_roots=config.allowed_roots, cache=cache,
                                       progress=reporter, n_threads=config.job_threads,
                                       memory_mb=config.memory_mb)
        except Exception as error:  # noqa: BLE001 - see below
            # A background job's exception reaches Dash's on_error without its
            # type, so the job turns it into the page's text itself, through the
            # same path: a UserError's message, or an internal-error id that is
            # also in the log with the traceback.
            text = message_of(error, "the analysis job")
            return no_update, failure_text(text, job.get("previous")), False, no_update, True
    reporter(f"Done ({len(summary['layers'])} layers)", summary["n"], summary["n"])
    return summary, "", True, status_text(summary), True


def watch_job(cache, job):
    """Body of ``watch``: (alert text, alert hidden, progress text, watchdog disabled, retry hidden)."""
    if not job:
        return no_update, no_update, no_update, True, no_update
    record = jobs.read(cache, job["nonce"])
    if record is None or record.get("state") == jobs.RUNNING:
        if not jobs.stopped_unexpectedly(record):
            return no_update, no_update, no_update, False, no_update
        jobs.mark(cache, job["nonce"], jobs.STOPPED)
        return STOPPED_TEXT, False, STOPPED_TEXT, True, False
    if record.get("state") == jobs.STOPPED:  # told once already: say it again to whoever asks
        return STOPPED_TEXT, False, STOPPED_TEXT, True, False
    return no_update, no_update, no_update, True, no_update  # ended: its result comes by itself


def register(app, config) -> None:
    @app.callback(
        Output(ids.ANALYSIS, "data"),
        Output(ids.ALERT, "children"),
        Output(ids.ALERT, "hidden"),
        Output(ids.STATUS, "children"),
        Output(ids.PROGRESS_TEXT, "children"),
        Output(ids.JOB, "data"),
        Output(ids.JOB_WATCH, "disabled"),
        Output(ids.RETRY, "hidden"),
        Input(ids.RUN, "n_clicks"),
        Input(ids.RETRY, "n_clicks"),
        State(ids.MODEL_INPUT, "value"),
        State(ids.DATA_INPUT, "value"),
        State(ids.LAYER_SET, "value"),
        State(ids.PREPROCESS, "value"),
        State(ids.ANALYSIS, "data"),
        prevent_initial_call=not config.autorun,
    )
    def start(_run, _retry, model, data, layer_set, preprocess, previous):
        return start_analysis(config, app.results, model, data, layer_set, preprocess, previous)

    @app.callback(
        Output(ids.ANALYSIS, "data", allow_duplicate=True),
        Output(ids.ALERT, "children", allow_duplicate=True),
        Output(ids.ALERT, "hidden", allow_duplicate=True),
        Output(ids.STATUS, "children", allow_duplicate=True),
        Output(ids.JOB_WATCH, "disabled", allow_duplicate=True),
        Input(ids.JOB, "data"),
        background=True,
        progress=[Output(ids.PROGRESS, "value"), Output(ids.PROGRESS, "max"),
                  Output(ids.PROGRESS_TEXT, "children")],
        running=[(Output(ids.RUN, "disabled"), True, False),
                 (Output(ids.CANCEL, "disabled"), False, True)],
        cancel=[Input(ids.CANCEL, "n_clicks")],
        prevent_initial_call=True,
    )
    def analyse(set_progress, job):
        return run_analysis_job(config, set_progress, job)

    @app.callback(
        Output(ids.ALERT, "children", allow_duplicate=True),
        Output(ids.ALERT, "hidden", allow_duplicate=True),
        Output(ids.PROGRESS_TEXT, "children", allow_duplicate=True),
        Output(ids.JOB_WATCH, "disabled", allow_duplicate=True),
        Input(ids.CANCEL, "n_clicks"),
        State(ids.JOB, "data"),
        prevent_initial_call=True,
    )
    def cancelled(_n, job):
        if job:
            jobs.mark(app.results, job["nonce"], jobs.CANCELLED)
        return CANCELLED_TEXT, False, CANCELLED_TEXT, True

    @app.callback(
        Output(ids.ALERT, "children", allow_duplicate=True),
        Output(ids.ALERT, "hidden", allow_duplicate=True),
        Output(ids.PROGRESS_TEXT, "children", allow_duplicate=True),
        Output(ids.JOB_WATCH, "disabled", allow_duplicate=True),
        Output(ids.RETRY, "hidden", allow_duplicate=True),
        Input(ids.JOB_WATCH, "n_intervals"),
        State(ids.JOB, "data"),
        prevent_initial_call=True,
    )
    def watch(_n, job):
        return watch_job(app.results, job)
