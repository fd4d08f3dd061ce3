"""Class hierarchy (dendrogram, super-classes), sub-classes of a class, separability curve."""

from __future__ import annotations

import numpy as np
from dash import ALL, Input, Output, State, ctx, html, no_update

from analysis import findings, stability, views
from analysis import session as sessions
from analysis.errors import NotEnoughData
from analysis.selection import Selection
from figures.findings import separability_figure, tree_figure
from layouts import ids

EXAMPLES = 8


def tree_view(cache, analysis, layer, summary):
    """(tree figure, super-class text)."""
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    tree = session.class_tree(layer, summary)
    names = session.class_names
    text = "Super-classes (cut at the largest gap): " + groups_text(tree["groups"], names)
    fig = tree_figure(tree["nodes"], tree["groups"], names,
                      title=f"Classes by mean Jaccard of activated channels in {layer}")
    return fig, [text + ". " + stability_line(findings.supercut_stability(session.cache, session.meta, layer,
                                                                          summary)),
                 html.Br(), deep_tree_line(session, summary), html.Br(), "Click a node to select its inputs."]


def groups_text(groups, names) -> str:
    """Super-classes as text, ``{a, b} | {c}``: ``groups[c]`` is class c's super-class."""
    groups = np.asarray(groups)
    return " | ".join("{" + ", ".join(str(names[c]) for c in np.flatnonzero(groups == g)) + "}"
                      for g in np.unique(groups))


def stability_line(result: dict) -> str:
    """How sure a super-class cut is, from its bootstrap resamples."""
    return (f"Stability: the same grouping in {result['same']:.0%} of {result['n_boot']} bootstrap resamples "
            f"of the inputs (mean ARI {result['mean_ari']:.2f}: {stability.verdict(result['mean_ari'])}).")


def deep_tree_line(session, summary) -> str:
    """The cut over the deeper layers combined (the setting validated in benchmarks/results_findings.md)."""
    tree = findings.class_tree(session.cache, session.meta, findings.DEEP, summary)
    groups = groups_text(tree["groups"], session.class_names)
    return (f"Deeper layers combined ({', '.join(findings.deep_layers(session.meta))}): {groups}. "
            + stability_line(findings.supercut_stability(session.cache, session.meta, findings.DEEP, summary)))


def subclass_view(cache, analysis, layer, label, summary):
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    if label is None:
        return "Pick a class."
    split = session.subclass_split(layer, int(label), summary)
    name = session.class_names[int(label)]
    if split["k"] == 1:
        return f"No sub-structure found for {name} in {layer} (best silhouette below threshold)."
    sure = findings.subclass_stability(session.cache, session.meta, layer, int(label), summary)
    rows = [html.P(f"{name} splits into {split['k']} sub-classes in {layer} "
                   f"(k chosen by silhouette). Stability: the same k in {sure['same_k']:.0%} of "
                   f"{len(sure['ks'])} bootstrap resamples, mean ARI to this split {sure['mean_ari']:.2f} "
                   f"({stability.verdict(sure['mean_ari'])}).", className="note")]
    for k in range(split["k"]):
        members = split["members"][split["labels"] == k]
        pictures = [html.Img(src=session.thumbnail(i, 56), className="mini",
                             title=session.files[i]) for i in members[:EXAMPLES]]
        rows.append(html.Div(className="subclass", children=[
            html.Button(f"Select sub-class {k + 1} ({len(members)} inputs)", n_clicks=0,
                        id={"type": ids.SUBCLASS_SELECT, "index": k}),
            html.Div(pictures, className="thumbs"),
        ]))
    return rows


def separability_view(cache, analysis):
    session = sessions.require(cache, analysis)
    curve = session.separability_curve()
    if not curve:
        raise NotEnoughData("No separability curve: every class needs at least two images.")
    return separability_figure(curve)


def tree_node_inputs(cache, analysis, click) -> list[int]:
    """Inputs of the classes under a clicked tree node (customdata: its member classes)."""
    session = sessions.require(cache, analysis)
    classes = [int(c) for c in str(click["points"][0].get("customdata", "")).split(",") if c]
    return views.inputs_of_classes(session.labels, classes) if classes else []


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.TREE, "figure"), Output(ids.TREE_GROUPS, "children"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"))
    def update_tree(analysis, layer, summary):
        return tree_view(cache, analysis, layer, summary or "mean")

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.TREE, "clickData"), State(ids.ANALYSIS, "data"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_tree_node(click, analysis, current):
        if not click or not analysis:
            return no_update
        inputs = tree_node_inputs(cache, analysis, click)
        if not inputs:
            return no_update
        return Selection.from_store(current).with_inputs(inputs, source="tree").to_store()

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
        return subclass_view(cache, analysis, layer, label, summary or "mean")

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input({"type": ids.SUBCLASS_SELECT, "index": ALL}, "n_clicks"),
                  State(ids.ANALYSIS, "data"), State(ids.LAYER, "value"),
                  State(ids.SUBCLASS_CLASS, "value"), State(ids.SUMMARY, "value"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_subclass(clicks, analysis, layer, label, summary, current):
        if not ctx.triggered_id or not any(clicks) or not analysis:
            return no_update
        split = sessions.require(cache, analysis).subclass_split(layer, int(label), summary or "mean")
        members = split["members"][split["labels"] == int(ctx.triggered_id["index"])].tolist()
        return Selection.from_store(current).with_inputs(members, source="subclass").to_store()

    @app.callback(Output(ids.SEPARABILITY, "figure"), Input(ids.ANALYSIS, "data"))
    def update_separability(analysis):
        return separability_view(cache, analysis)
