"""Details view: one channel over one input, its values by class, its top inputs."""

from __future__ import annotations

import os

import numpy as np
from dash import Input, Output, html, no_update

from analysis import datasets, pipeline, store, views
from figures.details import distribution_figure, overlay_figure
from figures.scatter import empty_figure
from layouts import ids


def focus_of(selection, layer):
    """(input index, channel) the details view shows, or None where unset."""
    selection = selection or {}
    inputs = selection.get("inputs") or []
    index = selection.get("focus")
    if index is None and inputs:
        index = inputs[0]
    channel = selection.get("channel") if selection.get("layer") == layer else None
    return index, channel


def details_view(cache, analysis, layer, summary, selection):
    """(distribution figure, top-input thumbnails, note) — the fast part."""
    blank = empty_figure("Click a heatmap cell to pick a channel.")
    if not analysis or not layer:
        return blank, [], "Run an analysis first."
    meta = store.load_meta(cache, analysis["key"])
    if meta is None or layer not in meta["layers"]:
        return blank, [], "Run the analysis again."
    index, channel = focus_of(selection, layer)
    acts = views.summary_matrix(cache, analysis["key"], layer, summary)
    if channel is None or not 0 <= channel < acts.shape[1]:
        return blank, [], "Click a heatmap cell (an input and a channel) to see its details."
    values = acts[:, channel]
    marked = values[index] if index is not None and 0 <= index < len(values) else None
    fig = distribution_figure(values, meta["labels"], meta["class_names"], marked,
                              title=f"{layer} channel {channel} · {summary} by class")
    thumbs = []
    for i in views.top_inputs(values, 9):
        path = os.path.join(meta["data"], meta["files"][i])
        thumbs.append(html.Div(className="thumb", children=[
            html.Img(src=datasets.thumbnail_uri(path), alt=meta["files"][i]),
            html.Span(f"#{i} {meta['class_names'][meta['labels'][i]]}"),
            html.Span(f"{values[i]:.3g}"),
        ]))
    name = meta["files"][index] if index is not None else "—"
    return fig, thumbs, f"Input #{index} ({name}) · layer {layer} · channel {channel}"


def overlay_request(analysis, layer, selection):
    """(key, layer, input, channel) for the overlay job, or None when nothing is picked.

    Only a real request starts a job: every job is a fork of the web process.
    """
    if not analysis or not layer:
        return None
    index, channel = focus_of(selection, layer)
    if index is None or channel is None:
        return None
    return {"key": analysis["key"], "layer": layer, "index": int(index), "channel": int(channel)}


def overlay_job(config, request):
    """Background job: the channel's full map over the input (maps cached per input and layer)."""
    from analysis.store import open_cache

    key, layer, index, channel = request["key"], request["layer"], request["index"], request["channel"]
    cache = open_cache(config.results_dir, config.cache_size_limit)
    try:
        meta = store.load_meta(cache, key)
        if meta is None:
            return empty_figure("Run the analysis again.")
        image, maps = store.memo(cache, f"view/{key}/maps/{layer}/{index}",
                                 lambda: _half(pipeline.activation_maps(meta, layer, index,
                                                                        config.job_threads)))
    except pipeline.AnalysisError as error:
        return empty_figure(str(error))
    finally:
        cache.close()
    maps = np.asarray(maps, np.float32)
    if maps.ndim < 2 or channel >= maps.shape[-1]:
        return empty_figure(f"Layer {layer} has no spatial map to overlay.")
    height, width = image.shape[:2]
    channel_map = pipeline.resize_map(maps[..., channel], height, width)
    return overlay_figure(image, channel_map,
                          title=f"#{index} {meta['files'][index]} · {layer} ch {channel}")


def _half(result):
    image, maps = result
    return image.astype(np.uint8), maps.astype(np.float16)


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
        return request, no_update

    @app.callback(Output(ids.DETAILS_OVERLAY, "figure", allow_duplicate=True),
                  Input(ids.OVERLAY_REQUEST, "data"), background=True, prevent_initial_call=True)
    def update_overlay(request):
        return overlay_job(config, request)
