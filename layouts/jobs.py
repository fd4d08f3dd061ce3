"""Page parts of the analysis job: the job store, its watchdog timer and the Retry button."""

from dash import dcc, html

from layouts import ids

WATCH_MS = 1500


def parts() -> list:
    """Hidden until needed; placed next to the load panel by ``layouts.build``."""
    return [
        dcc.Store(id=ids.JOB),
        dcc.Interval(id=ids.JOB_WATCH, interval=WATCH_MS, disabled=True),
        html.Button("Retry", id=ids.RETRY, n_clicks=0, hidden=True, className="retry"),
    ]
