"""Class hierarchy (dendrogram, super-classes), sub-classes of a class, separability curve."""

from __future__ import annotations

import os

import numpy as np
from dash import ALL, Input, Output, State, ctx, html, no_update

from analysis import datasets, findings, store, views
from figures.findings import separability_figure, tree_figure
from figures.scatter import empty_figure
from layouts import ids

EXAMPLES = 8


def tree_view(cache, analysis, layer, summary):
    """(tree figure, super-class text)."""
    if not analysis or not layer:
        return empty_figure("Run an analysis first."), ""
    meta = store.load_meta(cache, analysis["key"])
    if meta is None or layer not in meta["layers"]:
        return empty_figure("Run the analysis again."), ""
    tree = findings.class_tree(cache, meta, layer, summary)
    names = meta["class_names"]
    groups = [[names[c] for c in np.flatnonzero(tree["groups"] == g)]
              for g in np.unique(tree["groups"])]
    text = "Super-classes (cut at the largest gap): " + " | ".join(
        "{" + ", ".join(map(str, group)) + "}" for group in groups)
    fig = tree_figure(tree["nodes"], tree["groups"], names,
                      title=f"Classes by mean Jaccard of activated channels in {layer}")
    return fig, text + ". Click a node to select its inputs."


def subclass_view(cache, analysis, layer, label, summary):
    if not analysis or not layer or label is None:
        return "Pick a class."
    meta = store.load_meta(cache, analysis["key"])
    if meta is None or layer not in meta["layers"]:
        return "Run the analysis again."
    split = findings.subclass_split(cache, meta, layer, int(label), summary)
    name = meta["class_names"][int(label)]
    if split["k"] == 1:
        return f"No sub-structure found for {name} in {layer} (best silhouette below threshold)."
    rows = [html.P(f"{name} splits into {split['k']} sub-classes in {layer} "
                   f"(k chosen by silhouette).", className="note")]
    for k in range(split["k"]):
        members = split["members"][split["labels"] == k]
        pictures = [html.Img(src=datasets.thumbnail_uri(os.path.join(meta["data"], meta["files"][i]), 56),
                             className="mini", title=meta["files"][i]) for i in members[:EXAMPLES]]
        rows.append(html.Div(className="subclass", children=[
            html.Button(f"Select sub-class {k + 1} ({len(members)} inputs)", n_clicks=0,
                        id={"type": ids.SUBCLASS_SELECT, "index": k}),
            html.Div(pictures, className="thumbs"),
        ]))
    return rows


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.TREE, "figure"), Output(ids.TREE_GROUPS, "children"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"))
    def update_tree(analysis, layer, summary):
        try:
            return tree_view(cache, analysis, layer, summary or "mean")
        except ValueError as error:
            return empty_figure("No class tree for this image set."), str(error)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.TREE, "clickData"), State(ids.ANALYSIS, "data"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_tree_node(click, analysis, current):
        if not click or not analysis:
            return no_update
        meta = store.load_meta(cache, analysis["key"])
        classes = [int(c) for c in str(click["points"][0].get("customdata", "")).split(",") if c]
        if meta is None or not classes:
            return no_update
        inputs = views.inputs_of_classes(meta["labels"], classes)
        return dict(current or {}, inputs=inputs, focus=inputs[0], source="tree")

    @app.callback(Output(ids.SUBCLASS_CLASS, "options"), Output(ids.SUBCLASS_CLASS, "value"),
                  Input(ids.ANALYSIS, "data"))
    def class_options(analysis):
        if not analysis:
            return [], None
        return [{"label": name, "value": i} for i, name in enumerate(analysis["classes"])], 0

    @app.callback(Output(ids.SUBCLASS_LIST, "children"), Input(ids.ANALYSIS, "data"),
                  Input(ids.LAYER, "value"), Input(ids.SUBCLASS_CLASS, "value"),
                  Input(ids.SUMMARY, "value"))
    def update_subclasses(analysis, layer, label, summary):
        try:
            return subclass_view(cache, analysis, layer, label, summary or "mean")
        except ValueError as error:
            return f"No sub-classes for this class: {error}"

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input({"type": ids.SUBCLASS_SELECT, "index": ALL}, "n_clicks"),
                  State(ids.ANALYSIS, "data"), State(ids.LAYER, "value"),
                  State(ids.SUBCLASS_CLASS, "value"), State(ids.SUMMARY, "value"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_subclass(clicks, analysis, layer, label, summary, current):
        if not ctx.triggered_id or not any(clicks) or not analysis:
            return no_update
        meta = store.load_meta(cache, analysis["key"])
        split = findings.subclass_split(cache, meta, layer, int(label), summary or "mean")
        members = split["members"][split["labels"] == int(ctx.triggered_id["index"])].tolist()
        return dict(current or {}, inputs=members, focus=members[0], source="subclass")

    @app.callback(Output(ids.SEPARABILITY, "figure"), Input(ids.ANALYSIS, "data"))
    def update_separability(analysis):
        if not analysis:
            return empty_figure("Run an analysis first.")
        meta = store.load_meta(cache, analysis["key"])
        if meta is None:
            return empty_figure("Run the analysis again.")
        try:
            return separability_figure(findings.separability_curve(cache, meta))
        except ValueError as error:
            return empty_figure(f"No separability curve: {error}")
