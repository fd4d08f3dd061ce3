"""Callbacks, one module per view; each has ``register(app, config)``."""

from callbacks import details, extraction, graph, heatmap, jaccard, scatter, selection


def register(app, config) -> None:
    for module in (extraction, scatter, graph, jaccard, heatmap, details, selection):
        module.register(app, config)
