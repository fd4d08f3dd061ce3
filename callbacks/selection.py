"""The shared selection: its summary line, clearing it, and resetting it on a new analysis."""

from __future__ import annotations

from dash import Input, Output, State, ctx

from analysis import session as sessions
from analysis import views
from analysis.selection import Selection
from callbacks import url
from layouts import ids


def selection_text(cache, analysis, selection) -> str:
    session = sessions.require(cache, analysis)
    chosen = Selection.from_store(selection)
    text = views.selection_summary(session.labels, session.class_names, chosen.inputs)
    if chosen.inputs and chosen.source and ": " in chosen.source:  # a described pick
        text += f" · {chosen.source}"
    if chosen.channel is not None:
        text += f" · channel {chosen.channel} of {chosen.layer}"
    return text


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.SELECTION_TEXT, "children"), Input(ids.SELECTION, "data"),
                  State(ids.ANALYSIS, "data"))
    def show_selection(selection, analysis):
        return selection_text(cache, analysis, selection)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.CLEAR_SELECTION, "n_clicks"), Input(ids.ANALYSIS, "data"),
                  State(ids.LINK_STATE, "data"), prevent_initial_call=True)
    def clear(_n_clicks, analysis, link):
        # A new analysis starts with no selection, unless the page was opened from a link to it.
        linked = url.linked_selection(cache, analysis, link) if ctx.triggered_id == ids.ANALYSIS else None
        return Selection.from_store(linked).to_store()
