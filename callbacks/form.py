"""Honest run state: the form says when it no longer matches the analysis the views show."""

from __future__ import annotations

from dash import Input, Output

from analysis import session as sessions
from layouts import ids

FIELDS = (("model", "model"), ("data", "images"), ("layers", "layers"), ("preprocess", "preprocessing"))


def form_note(cache, analysis, model, data, layers, preprocess) -> str:
    """'' while the form matches what is shown; otherwise which fields differ, in words."""
    session = sessions.open(cache, (analysis or {}).get("key"))
    if session is None or not session.request:
        return ""
    form = {"model": (model or "").strip(), "data": (data or "").strip(), "layers": layers,
            "preprocess": preprocess}
    changed = [label for name, label in FIELDS
               if form[name] and str(session.request.get(name, "")).strip() != form[name]]
    if not changed:
        return ""
    return (f"Not yet analysed: {', '.join(changed)} changed. The views still show "
            f"{session.model} on {session.n:,} images; press Analyse to analyse the form.")


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.FORM_NOTE, "children"), Input(ids.ANALYSIS, "data"),
                  Input(ids.MODEL_INPUT, "value"), Input(ids.DATA_INPUT, "value"),
                  Input(ids.LAYER_SET, "value"), Input(ids.PREPROCESS, "value"))
    def update_form_note(analysis, model, data, layers, preprocess):
        return form_note(cache, analysis, model, data, layers, preprocess)
