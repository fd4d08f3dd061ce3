"""Callbacks, one module per view; each has ``register(app, config)``."""

from callbacks import (accuracy, channels, details, extraction, form, graph, heatmap, hierarchy,
                       jaccard, mislabel, scatter, selection, url)


def register(app, config) -> None:
    for module in (extraction, scatter, graph, jaccard, heatmap, details, selection, mislabel,
                   hierarchy, channels, accuracy, url, form):
        module.register(app, config)
