"""Callbacks, one module per view; each has ``register(app, config)``."""

from callbacks import extraction, scatter


def register(app, config) -> None:
    extraction.register(app, config)
    scatter.register(app, config)
