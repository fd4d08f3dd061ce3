"""Scatterplot view: layer picker and PCA of the layer's channel summaries."""

from __future__ import annotations

from dash import Input, Output, no_update

from analysis import store
from figures.scatter import empty_figure, scatter_figure
from layouts import ids

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
        text = f"{path}<br>label: {names[label]}"
        if top_classes is not None:
            predicted = int(top_classes[i, 0])
            name = names[predicted] if predicted < len(names) else f"class {predicted}"
            text += f"<br>predicted: {name} ({top_probs[i, 0]:.0%})"
        texts.append(text)
    return texts

def projection(cache, key: str, layer: str, summary: str, method: str = "pca"):
    """2-D projection of one layer's summaries, computed once and cached on disk."""
    from analysis.projection import project

    def compute():
        acts = store.load_layer(cache, key, layer)[summary]
        return project(acts, method, random_state=0)

    return store.memo(cache, f"view/{key}/projection/{layer}/{summary}/{method}", compute)

def scatter_view(cache, analysis: dict | None, layer: str | None, summary: str):
    """(figure, note) for the page; never raises for missing data."""
    if not analysis or not layer:
        return empty_figure("Run an analysis to see the inputs."), ""
    meta = store.load_meta(cache, analysis["key"])
    if meta is None:
        return empty_figure("This analysis is no longer in the cache; run it again."), ""
    if layer not in meta["layers"]:
        return empty_figure(f"Layer {layer} was not extracted."), ""
    xy = projection(cache, analysis["key"], layer, summary)
    fig = scatter_figure(xy, meta["labels"], meta["class_names"], hover_texts(meta),
                         title=f"{layer} · {summary} · PCA")
    n_channels = store.load_layer(cache, analysis["key"], layer)[summary].shape[1]
    note = f"{len(xy):,} inputs · {n_channels} channels · box or lasso to select"
    return fig, note

def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.LAYER, "options"), Output(ids.LAYER, "value"),
                  Input(ids.ANALYSIS, "data"))
    def update_layers(summary):
        options, value = layer_options(summary)
        return options, value if value is not None else no_update

    @app.callback(Output(ids.SCATTER, "figure"), Output(ids.SCATTER_NOTE, "children"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"))
    def update_scatter(analysis, layer, summary):
        return scatter_view(cache, analysis, layer, summary or "mean")
