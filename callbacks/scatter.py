"""Scatterplot view: projections of one layer's channel summaries, lasso to select.

PCA is drawn at once.  UMAP, t-SNE and MDS are computed by a background job
into the cache while PCA stays on screen; the scatter never waits for that
job (it is not one of its inputs): a poll checks the cache once a second and
swaps the projection in only if the controls still ask for it.
"""

from __future__ import annotations

import time
import uuid

from dash import Input, Output, Patch, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from analysis import jobs
from analysis import session as sessions
from analysis import views
from analysis.projection import sampling_info
from analysis.selection import Selection
from analysis.session import PROJECTION_PARAMS
from analysis.summaries import DEFAULT_SUMMARIES, SUMMARY_LABELS, summary_options
from callbacks import url
from callbacks.errors import message_of
from figures.scatter import (HOVER_TEXT_MAX, SELECTION_KEYS, scatter_figure, selection_style,
                             trace_members)
from layouts import ids

METHOD_NAMES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE", "mds": "MDS"}
ATTEMPTS = 2  # a lost projection job is started again once, then the page says so
# A projection's numba or C code may hold the GIL (and so the heartbeat) for a
# long time at N=50,000; on the same machine the process itself is checked.
PROJECTION_STALE_SECONDS = 600.0
RETRY = "retry"


def layer_options(summary):
    """Dropdown options and default value for the analysis summary in the store."""
    if not summary:
        return [], None
    labels = summary.get("layer_labels") or {}
    return ([{"label": labels.get(name, name), "value": name} for name in summary["layers"]],
            summary["default_layer"])


def summary_choices(summary, current):
    """Summary dropdown options for the analysis (uncomputed ones disabled) and a value
    that the analysis has (``current`` if it can stay)."""
    available = (summary or {}).get("summaries") or list(DEFAULT_SUMMARIES)
    value = current if current in available else available[0]
    return summary_options(available), value


def pending_text(method: str, request: dict | None) -> list:
    """"Computing UMAP… (12 s)" with a spinner."""
    started = (request or {}).get("started")
    elapsed = f" ({time.time() - started:.0f} s)" if started else ""
    return [html.Span(className="spinner"),
            f"Computing {METHOD_NAMES[method]}…{elapsed} PCA is shown meanwhile."]


def scatter_view(cache, analysis, layer, summary, method="pca", colour="label", selection=None,
                 request=None):
    """(figure, note, status, projection pending) for the page."""
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    shown, status = method, ""
    if not session.has_projection(layer, summary, method):
        shown, status = "pca", pending_text(method, request)
    xy = session.projection(layer, summary, shown)
    groups, names = views.colour_groups(session, layer, summary, colour)
    inputs = Selection.from_store(selection).inputs or None
    hover = session.hover_texts() if session.n <= HOVER_TEXT_MAX else None  # not drawn above that many points
    fig = scatter_figure(xy, groups, names, hover, selected=inputs,
                         title=f"{layer} · {SUMMARY_LABELS.get(summary, summary)} · "
                               f"{METHOD_NAMES[shown]}")
    channels = views.channel_count(session, layer, summary)
    note = f"{len(xy):,} inputs · {channels} channels · box or lasso to select"
    sampling = sampling_info(len(xy), shown, **PROJECTION_PARAMS.get(shown, {}))["sampling"]
    if sampling:
        note += f" · {sampling}"
    return fig, note, status, shown != method


def drawn_view(analysis, layer, summary, shown, colour) -> list:
    """What the scatter on the page was drawn from (the ``SCATTER_DRAWN`` store's value)."""
    return [(analysis or {}).get("key"), layer, summary, shown, colour]


def scatter_selection(cache, analysis, layer, summary, colour, selection) -> Patch:
    """A partial update that only moves the highlight to ``selection``.

    Applied to the figure of :func:`scatter_view` for the same analysis, layer, summary and
    colour, it gives that view's figure for the new selection, without resending the points.
    """
    session = sessions.require(cache, analysis)
    groups, names = views.colour_groups(session, layer, summary, colour)
    inputs = Selection.from_store(selection).inputs or None
    patch = Patch()
    for i, style in enumerate(selection_style(trace_members(groups, len(names)), session.n, inputs)):
        for name in SELECTION_KEYS:
            if name in style:
                patch["data"][i][name] = style[name]
            else:
                del patch["data"][i][name]
    return patch


def scatter_update(cache, analysis, layer, summary, method, colour, selection, request=None,
                   drawn=None, selection_only=False):
    """The scatter callback's outputs: (figure, note, status, poll disabled, drawn view).

    When only the selection changed and the page shows the figure a full rebuild would
    draw (``drawn``), the figure is a :func:`scatter_selection` patch and the rest is
    left as it is; otherwise everything is rebuilt.
    """
    if selection_only and analysis and drawn:
        session = sessions.require(cache, analysis)
        shown = method if session.has_projection(layer, summary, method) else "pca"
        if drawn == drawn_view(analysis, layer, summary, shown, colour):
            patch = scatter_selection(cache, analysis, layer, summary, colour, selection)
            return patch, no_update, no_update, no_update, no_update
    fig, note, status, pending = scatter_view(cache, analysis, layer, summary, method, colour,
                                              selection, request)
    shown = "pca" if pending else method
    return fig, note, status, not pending, drawn_view(analysis, layer, summary, shown, colour)


def projection_request(cache, analysis, layer, summary, method):
    """What the background job must compute, or None (PCA, or already cached).

    Only a real request starts a job: every job is a fork of the web process.
    """
    if not analysis or not layer or method == "pca":
        return None
    session = sessions.open(cache, analysis.get("key"))
    if session is None or layer not in session.layers or session.has_projection(layer, summary, method):
        return None
    return {"key": session.key, "layer": layer, "summary": summary, "method": method}


def new_request(request: dict, attempt: int = 1) -> dict:
    """``request`` as the page stores it: when it was asked for, its job's nonce, its attempt."""
    return dict(request, started=time.time(), nonce=uuid.uuid4().hex, attempt=attempt)


def compute_projection_job(config, request):
    """Background job: compute a slow projection into the cache; returns the request.

    The job is recorded under the request's nonce (:mod:`analysis.jobs`), so the
    page can tell it running from lost, and reads a failure's message there.
    """
    with sessions.job(config, ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")) as cache:
        nonce = request.get("nonce") or uuid.uuid4().hex
        try:
            with jobs.running(cache, nonce,
                              describe=lambda error: message_of(error, "the projection job")):
                session = sessions.open(cache, request["key"])
                if session is not None:
                    session.projection(request["layer"], request["summary"], request["method"],
                                       n_threads=config.job_threads)
        except Exception:  # noqa: BLE001 - told on the page from the job's record
            pass
    return request


def projection_trouble(cache, request, layer, summary, method, wait_for_start=True, now=None):
    """What the page should do about the pending projection job of ``request``.

    None while it is on its way (or ``request`` is not the controls' projection);
    :data:`RETRY` when its job was lost and may start again; otherwise the text
    that says why the projection is not coming (PCA stays on screen).
    ``wait_for_start`` False: a job that has not started yet is waiting its turn
    (a Celery queue), not lost.
    """
    if not request or not request.get("nonce") or [request.get("layer"), request.get("summary"),
                                                    request.get("method")] != [layer, summary, method]:
        return None
    record = jobs.read(cache, request["nonce"])
    name = METHOD_NAMES.get(method, method)
    if record is not None and record.get("state") == jobs.FAILED:
        return f"{name} could not be computed: {record.get('error') or 'see the server log'} PCA is shown."
    if not jobs.lost(record, float(request.get("started") or 0), now,
                     start=jobs.START_SECONDS if wait_for_start else None,
                     stale=PROJECTION_STALE_SECONDS):
        return None
    if int(request.get("attempt") or 1) < ATTEMPTS:
        return RETRY
    return (f"{name} stopped unexpectedly {ATTEMPTS} times; PCA is shown. Choose "
            f"{name} again to retry.")


def selection_from_points(selected_data, current=None) -> dict | None:
    """Shared selection from a scatter box/lasso (customdata = input index); None if empty."""
    points = (selected_data or {}).get("points") or []
    inputs = [int(p["customdata"]) for p in points if "customdata" in p]
    if not inputs:
        return None
    return Selection.from_store(current).with_inputs(inputs, source="scatter").to_store()


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.LAYER, "options"), Output(ids.LAYER, "value"),
                  Input(ids.ANALYSIS, "data"), State(ids.LINK_STATE, "data"))
    def update_layers(summary, link):
        options, value = layer_options(summary)
        value = url.linked_layer(cache, summary, link) or value  # a link's layer first
        return options, value if value is not None else no_update

    @app.callback(Output(ids.SUMMARY, "options"), Output(ids.SUMMARY, "value"),
                  Input(ids.ANALYSIS, "data"), State(ids.SUMMARY, "value"))
    def update_summaries(summary, current):
        return summary_choices(summary, current)

    @app.callback(Output(ids.SCATTER, "figure"), Output(ids.SCATTER_NOTE, "children"),
                  Output(ids.PROJECTION_STATUS, "children"), Output(ids.PROJECTION_POLL, "disabled"),
                  Output(ids.SCATTER_DRAWN, "data"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.SCATTER_METHOD, "value"),
                  Input(ids.SCATTER_COLOUR, "value"), Input(ids.SELECTION, "data"),
                  Input(ids.PROJECTION_POLL, "n_intervals"), State(ids.PROJECTION_REQUEST, "data"),
                  State(ids.SCATTER_DRAWN, "data"))
    def update_scatter(analysis, layer, summary, method, colour, selection, _tick, request, drawn):
        summary, method = summary or "mean", method or "pca"
        if ctx.triggered_id == ids.PROJECTION_POLL:
            session = sessions.open(cache, (analysis or {}).get("key"))
            if session is not None and not session.has_projection(layer, summary, method):
                trouble = projection_trouble(cache, request, layer, summary, method,
                                             wait_for_start=config.background != "celery")
                if trouble is None or trouble == RETRY:  # a retry: see restart_lost_projection
                    return no_update, no_update, pending_text(method, request), False, no_update
                return no_update, no_update, html.Span(trouble, className="note-error"), True, no_update
        selection_only = ctx.triggered_id == ids.SELECTION and len(ctx.triggered_prop_ids) == 1
        return scatter_update(cache, analysis, layer, summary, method, colour or "label", selection,
                              request, drawn, selection_only)

    @app.callback(Output(ids.PROJECTION_REQUEST, "data"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.SCATTER_METHOD, "value"),
                  prevent_initial_call=True)
    def request_projection(analysis, layer, summary, method):
        request = projection_request(cache, analysis, layer, summary or "mean", method or "pca")
        if request is None:
            raise PreventUpdate
        return new_request(request)

    @app.callback(Output(ids.PROJECTION_REQUEST, "data", allow_duplicate=True),
                  Input(ids.PROJECTION_POLL, "n_intervals"), State(ids.PROJECTION_REQUEST, "data"),
                  State(ids.LAYER, "value"), State(ids.SUMMARY, "value"),
                  State(ids.SCATTER_METHOD, "value"), prevent_initial_call=True)
    def restart_lost_projection(_tick, request, layer, summary, method):
        # A lost job (killed, or hung since its fork) is asked for again, once:
        # the new request starts a new job and Dash stops the old one.
        trouble = projection_trouble(cache, request, layer, summary or "mean", method or "pca",
                                     wait_for_start=config.background != "celery")
        if trouble != RETRY:
            raise PreventUpdate
        return new_request({name: request[name] for name in ("key", "layer", "summary", "method")},
                           attempt=int(request.get("attempt") or 1) + 1)

    @app.callback(Output(ids.PROJECTION_READY, "data"), Input(ids.PROJECTION_REQUEST, "data"),
                  background=True, prevent_initial_call=True)
    def slow_projection(request):
        return compute_projection_job(config, request)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.SCATTER, "selectedData"), State(ids.SELECTION, "data"),
                  prevent_initial_call=True)
    def select_points(selected_data, current):
        # Plotly reports an empty selection when the figure is redrawn with the
        # highlight; clearing is the Clear button's job, so ignore empties.
        chosen = selection_from_points(selected_data, current)
        return no_update if chosen is None else chosen
