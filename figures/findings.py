"""Figures of the findings: the class tree and the separability curve."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from figures.style import TEMPLATE, group_colour


def tree_figure(nodes: list[dict], groups, class_names, title="") -> go.Figure:
    """Dendrogram of classes; each node is clickable (customdata = its member classes)."""
    fig = go.Figure()
    for node in nodes:
        if not node["is_leaf"]:
            fig.add_trace(go.Scatter(x=node["path_x"], y=node["path_y"], mode="lines",
                                     line={"color": "#64748b", "width": 1.5}, hoverinfo="skip",
                                     showlegend=False))
    fig.add_trace(go.Scatter(
        x=[node["x"] for node in nodes], y=[node["y"] for node in nodes], mode="markers",
        customdata=[",".join(str(m) for m in node["members"]) for node in nodes],
        hovertext=[", ".join(str(class_names[m]) for m in node["members"]) for node in nodes],
        hoverinfo="text", showlegend=False,
        marker={"size": [12 if node["is_leaf"] else 9 for node in nodes],
                "color": [group_colour(groups[node["members"][0]]) if node["is_leaf"] else "#334155"
                          for node in nodes]}))
    leaves = sorted((node for node in nodes if node["is_leaf"]), key=lambda node: node["x"])
    fig.update_layout(
        title=title, margin={"l": 50, "r": 10, "t": 40, "b": 110}, template=TEMPLATE,
        xaxis={"tickvals": [node["x"] for node in leaves], "tickangle": -45,
               "ticktext": [str(class_names[node["members"][0]]) for node in leaves]},
        yaxis={"title": "distance (1 − scaled Jaccard)"}, clickmode="event")
    return fig


def separability_figure(scores: dict, title="How well classes separate, layer by layer") -> go.Figure:
    layers = list(scores)
    values = np.asarray([scores[layer] for layer in layers], dtype=np.float32)
    fig = go.Figure(go.Scatter(x=layers, y=values, mode="lines+markers",
                               hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, yaxis={"title": "kNN accuracy (5-fold CV)", "range": [0, 1.02]},
                      xaxis={"tickangle": -45}, margin={"l": 60, "r": 10, "t": 40, "b": 110},
                      template=TEMPLATE)
    return fig
