"""The analysis job: a cancellable background callback with a progress bar."""

from __future__ import annotations

import logging
import os
import time

from dash import Input, Output, State, no_update

from analysis import pipeline
from analysis.summaries import analysis_summaries
from analysis.store import open_cache
from layouts import ids

log = logging.getLogger(__name__)


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
    if summary["skipped"]:
        parts.append(f"{summary['skipped']} non-image files skipped")
    if summary["bad"]:
        parts.append(f"{summary['bad']} unreadable images skipped")
    if summary.get("notice"):  # the folder's classes against the model's outputs
        parts.append(summary["notice"])
    return " · ".join(parts)


def run_analysis_job(config, set_progress, model, data, layer_set, preprocess):
    """Body of the background callback (a plain function, so tests can call it).

    Returns
    -------
    tuple
        (analysis store data, alert text, alert hidden, status text)
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(config.job_threads))
    from threadpoolctl import threadpool_limits

    request = pipeline.Request(
        model=(model or "demo").strip(), data=(data or config.data).strip(),
        layers=layer_set or config.layers, preprocess=preprocess or config.preprocess,
        batch_size=config.batch_size, summaries=analysis_summaries(config.p90))
    reporter = ProgressReporter(set_progress)
    cache = open_cache(config.results_dir, config.cache_size_limit)
    try:
        with threadpool_limits(config.job_threads):
            summary = pipeline.run(request, data_roots=config.allowed_roots,
                                   model_roots=config.allowed_roots, cache=cache,
                                   progress=reporter, n_threads=config.job_threads)
    except pipeline.AnalysisError as error:
        return no_update, str(error), False, no_update
    except Exception as error:  # the page must stay usable whatever happens in the job
        log.exception("analysis job failed")
        return no_update, f"The analysis failed: {type(error).__name__}: {error}", False, no_update
    finally:
        cache.close()
    reporter(f"Done ({len(summary['layers'])} layers)", summary["n"], summary["n"])
    return summary, "", True, status_text(summary)


def register(app, config) -> None:
    @app.callback(
        Output(ids.ANALYSIS, "data"),
        Output(ids.ALERT, "children"),
        Output(ids.ALERT, "hidden"),
        Output(ids.STATUS, "children"),
        Input(ids.RUN, "n_clicks"),
        State(ids.MODEL_INPUT, "value"),
        State(ids.DATA_INPUT, "value"),
        State(ids.LAYER_SET, "value"),
        State(ids.PREPROCESS, "value"),
        background=True,
        progress=[Output(ids.PROGRESS, "value"), Output(ids.PROGRESS, "max"),
                  Output(ids.PROGRESS_TEXT, "children")],
        running=[(Output(ids.RUN, "disabled"), True, False),
                 (Output(ids.CANCEL, "disabled"), False, True)],
        cancel=[Input(ids.CANCEL, "n_clicks")],
        prevent_initial_call=not config.autorun,
    )
    def analyse(set_progress, _n_clicks, model, data, layer_set, preprocess):
        return run_analysis_job(config, set_progress, model, data, layer_set, preprocess)
