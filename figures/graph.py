"""The model's data-flow graph as a clickable figure."""

from __future__ import annotations

import plotly.graph_objects as go

from figures.style import TEMPLATE

ROW_HEIGHT = 46


def graph_figure(graph: dict, current: str | None = None) -> go.Figure:
    """Nodes of ``analysis.modelgraph.layout`` as labelled squares joined by edges.

    Each node's ``customdata`` is ``[name, *member layers]`` (one member, or a collapsed
    block's; none for a collapsed sub-model, whose click expands it), so a click maps
    back to layers without parsing names.
    Extracted layers are drawn solid and bold; the current layer is ringed.
    """
    nodes = graph["nodes"]
    position = {node["name"]: (node["x"], node["y"]) for node in nodes}
    edge_x, edge_y = [], []
    for src, dst in graph["edges"]:
        (x0, y0), (x1, y1) = position[src], position[dst]
        edge_x += [x0, x0, x1, None] if x0 != x1 else [x0, x1, None]
        edge_y += [y0, (y0 + y1) / 2, y1, None] if x0 != x1 else [y0, y1, None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=edge_x, y=edge_y, mode="lines", hoverinfo="skip",
                             line={"color": "#9aa5b1", "width": 1.2}, showlegend=False))
    labels = [node["label"].replace("\n", "<br>") for node in nodes]
    text = [f"<b>{label}</b>" if node["extracted"] else label for label, node in zip(labels, nodes)]
    colours = ["#2563eb" if node["extracted"] else "#c5ccd6" for node in nodes]
    lines = [3 if node["name"] == current or current in node["members"] else 0 for node in nodes]
    fig.add_trace(go.Scatter(
        x=[node["x"] for node in nodes], y=[node["y"] for node in nodes], mode="markers+text",
        text=text, textposition="middle right",
        customdata=[[node["name"], *([] if node.get("submodel") else node["members"])] for node in nodes],
        hovertext=[f"{label}<br>{len(node['members'])} layer(s)" for label, node in zip(labels, nodes)],
        hoverinfo="text", showlegend=False,
        marker={"symbol": "square", "size": 13, "color": colours,
                "line": {"width": lines, "color": "#f59e0b"}},
        textfont={"size": 10},
    ))
    depth = max((node["y"] for node in nodes), default=0) + 1
    lanes = max((node["x"] for node in nodes), default=0) + 1
    fig.update_layout(
        height=max(300, depth * ROW_HEIGHT), margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False, "range": [-0.5, lanes + 2.5], "fixedrange": True},
        yaxis={"visible": False, "autorange": "reversed", "fixedrange": True},
        template=TEMPLATE, clickmode="event",
    )
    return fig
