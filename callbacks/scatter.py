"""Scatterplot view: projections of one layer's channel summaries, lasso to select.

PCA is drawn at once; UMAP, t-SNE and MDS are computed by a background job
and cached per (layer, summary, method), while PCA stays on screen.
"""

from __future__ import annotations

from dash import Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from analysis import store, views
from figures.scatter import empty_figure, scatter_figure
from layouts import ids

METHOD_NAMES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE", "mds": "MDS"}
# Classical MDS on Euclidean distances equals PCA; cosine distances give another view.
METHOD_PARAMS = {"mds": {"metric": "cosine"}}


def layer_options(summary):
    """Dropdown options and default value for the analysis summary in the store."""
    if not summary:
        return [], None
    return [{"label": name, "value": name} for name in summary["layers"]], summary["default_layer"]


def hover_texts(meta: dict) -> list:
    """Per input: file name, label and the model's top prediction."""
    names = meta["class_names"]
    texts = []
    top_classes, top_probs = meta.get("top_classes"), meta.get("top_probs")
    for i, (path, label) in enumerate(zip(meta["files"], meta["labels"])):
        text = f"#{i} {path}<br>label: {names[label]}"
        if top_classes is not None:
            predicted = int(top_classes[i, 0])
            name = names[predicted] if predicted < len(names) else f"class {predicted}"
            text += f"<br>predicted: {name} ({top_probs[i, 0]:.0%})"
        texts.append(text)
    return texts


def projection_name(key, layer, summary, method) -> str:
    return f"view/{key}/projection/{layer}/{summary}/{method}"


def projection(cache, key: str, layer: str, summary: str, method: str = "pca", n_threads: int = 2):
    """2-D projection of one layer's summaries, computed once and cached on disk."""
    from analysis.projection import project

    return store.memo(cache, projection_name(key, layer, summary, method), lambda: project(
        views.summary_matrix(cache, key, layer, summary), method, random_state=0,
        n_threads=n_threads, **METHOD_PARAMS.get(method, {})))


def scatter_view(cache, analysis, layer, summary, method="pca", colour="label", selection=None):
    """(figure, note, status) for the page; never raises for missing data."""
    if not analysis or not layer:
        return empty_figure("Run an analysis to see the inputs."), "", ""
    key = analysis["key"]
    meta = store.load_meta(cache, key)
    if meta is None:
        return empty_figure("This analysis is no longer in the cache; run it again."), "", ""
    if layer not in meta["layers"]:
        return empty_figure(f"Layer {layer} was not extracted."), "", ""
    status = ""
    shown = method
    if method != "pca" and projection_name(key, layer, summary, method) not in cache:
        status = f"Computing {METHOD_NAMES[method]} in the background; PCA meanwhile."
        shown = "pca"
    xy = projection(cache, key, layer, summary, shown)
    groups, names = views.colour_groups(cache, key, meta, layer, summary, colour)
    inputs = (selection or {}).get("inputs") or None
    hover = store.memo(cache, f"view/{key}/hover", lambda: hover_texts(meta))
    fig = scatter_figure(xy, groups, names, hover, selected=inputs,
                         title=f"{layer} · {summary} · {METHOD_NAMES[shown]}")
    channels = views.summary_matrix(cache, key, layer, summary).shape[1]
    note = f"{len(xy):,} inputs · {channels} channels · box or lasso to select"
    return fig, note, status


def projection_request(cache, analysis, layer, summary, method):
    """What the background job must compute, or None (PCA, or already cached).

    Only a real request starts a job: every job is a fork of the web process.
    """
    if not analysis or not layer or method == "pca":
        return None
    if projection_name(analysis["key"], layer, summary, method) in cache:
        return None
    return {"key": analysis["key"], "layer": layer, "summary": summary, "method": method}


def compute_projection_job(config, request):
    """Background job: compute a slow projection into the cache; returns a ready token."""
    import os

    from analysis.store import open_cache

    os.environ.setdefault("NUMBA_NUM_THREADS", str(config.job_threads))
    cache = open_cache(config.results_dir, config.cache_size_limit)
    try:
        projection(cache, request["key"], request["layer"], request["summary"], request["method"],
                   n_threads=config.job_threads)
    finally:
        cache.close()
    return request


def selection_from_points(selected_data) -> dict:
    """Shared selection from a scatter box/lasso (customdata = input index)."""
    points = (selected_data or {}).get("points") or []
    inputs = sorted({int(p["customdata"]) for p in points if "customdata" in p})
    return {"inputs": inputs, "focus": inputs[0] if inputs else None, "source": "scatter"}


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.LAYER, "options"), Output(ids.LAYER, "value"),
                  Input(ids.ANALYSIS, "data"))
    def update_layers(summary):
        options, value = layer_options(summary)
        return options, value if value is not None else no_update

    @app.callback(Output(ids.SCATTER, "figure"), Output(ids.SCATTER_NOTE, "children"),
                  Output(ids.PROJECTION_STATUS, "children"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.SCATTER_METHOD, "value"),
                  Input(ids.SCATTER_COLOUR, "value"), Input(ids.SELECTION, "data"),
                  Input(ids.PROJECTION_READY, "data"))
    def update_scatter(analysis, layer, summary, method, colour, selection, _ready):
        return scatter_view(cache, analysis, layer, summary or "mean", method or "pca",
                            colour or "label", selection)

    @app.callback(Output(ids.PROJECTION_REQUEST, "data"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.SCATTER_METHOD, "value"),
                  prevent_initial_call=True)
    def request_projection(analysis, layer, summary, method):
        request = projection_request(cache, analysis, layer, summary or "mean", method or "pca")
        if request is None:
            raise PreventUpdate
        return request

    @app.callback(Output(ids.PROJECTION_READY, "data"), Input(ids.PROJECTION_REQUEST, "data"),
                  background=True, prevent_initial_call=True)
    def slow_projection(request):
        return compute_projection_job(config, request)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.SCATTER, "selectedData"), State(ids.SELECTION, "data"),
                  prevent_initial_call=True)
    def select_points(selected_data, current):
        chosen = selection_from_points(selected_data)
        # Plotly reports an empty selection when the figure is redrawn with the
        # highlight; clearing is the Clear button's job, so ignore empties.
        if not chosen["inputs"]:
            return no_update
        return dict(current or {}, **chosen)
