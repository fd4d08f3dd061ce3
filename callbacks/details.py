"""Details view: one channel over one input, its values by class, its top inputs."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, html, no_update

from analysis import pipeline, views
from analysis import session as sessions
from analysis.errors import UserError
from analysis.selection import Selection
from analysis.summaries import SUMMARY_LABELS
from figures.details import distribution_figure, overlay_figure
from figures.style import empty_figure
from layouts import ids

PICK = "Click a heatmap cell (an input and a channel) to see its details."


def details_view(cache, analysis, layer, summary, selection):
    """(distribution figure, top-input thumbnails, note) — the fast part."""
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    index, channel = Selection.from_store(selection).focus_in(layer)
    if channel is None or not 0 <= channel < views.channel_count(session, layer, summary):
        return empty_figure(PICK), [], PICK
    details = views.channel_details(session, layer, summary, channel)
    values = details["values"]
    if index is not None and not 0 <= index < session.n:
        index = None
    fig = distribution_figure(values, session.labels, session.class_names,
                              None if index is None else values[index],
                              title=f"{layer} ch {channel} · "
                                    f"{SUMMARY_LABELS.get(summary, summary)} by class")
    thumbs = [html.Div(className="thumb", children=[
        html.Img(src=src, alt=session.files[i]),
        html.Span(f"#{i} {session.class_of(i)}"),
        html.Span(f"{values[i]:.3g}"),
    ]) for i, src in zip(details["top"], details["thumbnails"])]
    name = session.files[index] if index is not None else "—"
    return fig, thumbs, f"Input #{index} ({name}) · layer {layer} · channel {channel}"


def overlay_request(analysis, layer, selection):
    """(key, layer, input, channel) for the overlay job, or None when nothing is picked.

    Only a real request starts a job: every job is a fork of the web process.
    """
    if not analysis or not layer:
        return None
    index, channel = Selection.from_store(selection).focus_in(layer)
    if index is None or channel is None:
        return None
    return {"key": analysis["key"], "layer": layer, "index": int(index), "channel": int(channel)}


def pending_overlay_text(request) -> str:
    return f"Drawing channel {request['channel']} of {request['layer']} over input #{request['index']}…"


def overlay_job(config, request):
    """Background job: the channel's full map over the input (maps cached per input and layer)."""
    layer, index, channel = request["layer"], request["index"], request["channel"]
    try:
        with sessions.job(config) as cache:
            session = sessions.open(cache, request["key"])
            if session is None:
                raise sessions.AnalysisMissing("This analysis is no longer in the cache; run it again.")
            image, maps = session.overlay_maps(layer, index, config.job_threads)
    except UserError as error:  # background errors reach on_error without their type
        return empty_figure(str(error))
    maps = np.asarray(maps, np.float32)
    if maps.ndim < 2 or channel >= maps.shape[-1]:
        return empty_figure(f"Layer {layer} has no spatial map to overlay.")
    height, width = image.shape[:2]
    channel_map = pipeline.resize_map(maps[..., channel], height, width)
    return overlay_figure(image, channel_map,
                          title=f"#{index} {session.files[index]} · {layer} ch {channel}")


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.DETAILS_DISTRIBUTION, "figure"), Output(ids.DETAILS_TOP, "children"),
                  Output(ids.DETAILS_NOTE, "children"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.SELECTION, "data"))
    def update_details(analysis, layer, summary, selection):
        return details_view(cache, analysis, layer, summary or "mean", selection)

    @app.callback(Output(ids.OVERLAY_REQUEST, "data"), Output(ids.DETAILS_OVERLAY, "figure"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SELECTION, "data"))
    def request_overlay(analysis, layer, selection):
        request = overlay_request(analysis, layer, selection)
        if request is None:
            return no_update, empty_figure("Click a heatmap cell to see the channel over the input.")
        # Never the previous channel's map while this one is computed.
        return request, empty_figure(pending_overlay_text(request))

    @app.callback(Output(ids.DETAILS_OVERLAY, "figure", allow_duplicate=True),
                  Input(ids.OVERLAY_REQUEST, "data"), background=True, prevent_initial_call=True)
    def update_overlay(request):
        return overlay_job(config, request)
