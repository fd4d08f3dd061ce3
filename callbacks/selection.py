"""The shared selection: its summary line, clearing it, and resetting it on a new analysis."""

from __future__ import annotations

from dash import Input, Output, State

from analysis import store, views
from layouts import EMPTY_SELECTION, ids


def selection_text(cache, analysis, selection) -> str:
    if not analysis:
        return "No analysis yet."
    meta = store.load_meta(cache, analysis["key"])
    if meta is None:
        return "Run the analysis again."
    text = views.selection_summary(meta, (selection or {}).get("inputs"))
    channel = (selection or {}).get("channel")
    if channel is not None:
        text += f" · channel {channel} of {selection.get('layer')}"
    return text


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.SELECTION_TEXT, "children"), Input(ids.SELECTION, "data"),
                  State(ids.ANALYSIS, "data"))
    def show_selection(selection, analysis):
        return selection_text(cache, analysis, selection)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.CLEAR_SELECTION, "n_clicks"), Input(ids.ANALYSIS, "data"),
                  prevent_initial_call=True)
    def clear(_n_clicks, _analysis):
        return dict(EMPTY_SELECTION)
