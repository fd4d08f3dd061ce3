"""Links that restore a view: the URL's query string mirrors the analysis and the view state.

On load, the query fills the form and the view controls and (when it names
another analysis than the default) starts the analysis; when that analysis
arrives, its layer and selection come from the link.  Afterwards every change
of the view rewrites the query (a reload or a shared link gives the same view).
"""

from __future__ import annotations

from dash import Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from analysis import session as sessions
from analysis import urlstate
from layouts import ids

FORM_IDS = {"model": ids.MODEL_INPUT, "data": ids.DATA_INPUT, "layers": ids.LAYER_SET,
            "preprocess": ids.PREPROCESS}
VIEW_IDS = {"summary": ids.SUMMARY, "projection": ids.SCATTER_METHOD, "colour": ids.SCATTER_COLOUR}


def defaults(config) -> dict:
    return {"model": config.model or "demo", "data": config.data, "layers": config.layers,
            "preprocess": config.preprocess}


def restore(search: str | None, config) -> tuple:
    """(form values, view values, link state, Run clicks) from the page's query string."""
    if not search or search == "?":
        raise PreventUpdate
    state = urlstate.decode(search)
    form = [state["form"].get(name, no_update) for name in FORM_IDS]
    view = [state["view"].get(name, no_update) for name in VIEW_IDS]
    wanted = dict(defaults(config), **state["form"])
    # Autorun already starts the default analysis; a link to another one starts it here.
    run = 1 if state["form"] and (wanted != defaults(config) or not config.autorun) else no_update
    return (*form, *view, state, run)


def link_applies(link: dict | None, session) -> bool:
    """Whether the link's view state belongs to this analysis (same key, or same form)."""
    if not link:
        return False
    if link.get("key") == session.key:
        return True
    request = session.request or {}
    return bool(link.get("form")) and all(request.get(k) == v for k, v in link["form"].items())


def linked_layer(cache, analysis, link) -> str | None:
    """The link's layer, if it applies to ``analysis`` and was extracted."""
    session = sessions.open(cache, (analysis or {}).get("key"))
    if session is None or not link_applies(link, session):
        return None
    layer = (link.get("view") or {}).get("layer")
    return layer if layer in session.layers else None


def linked_selection(cache, analysis, link) -> dict | None:
    session = sessions.open(cache, (analysis or {}).get("key"))
    if session is None or not link_applies(link, session):
        return None
    chosen = dict(link.get("selection") or {})
    chosen["inputs"] = [i for i in chosen.get("inputs") or [] if 0 <= i < session.n]
    return chosen


def query(cache, analysis, layer, summary, projection, colour, selection) -> str:
    session = sessions.require(cache, analysis)
    request = session.request or {}
    form = {name: request.get(name) for name in urlstate.FORM}
    view = {"layer": layer, "summary": summary, "projection": projection, "colour": colour}
    return urlstate.encode(session.key, form, view, selection or {})


def register(app, config) -> None:
    cache = app.results

    @app.callback(*[Output(i, "value", allow_duplicate=True) for i in FORM_IDS.values()],
                  *[Output(i, "value", allow_duplicate=True) for i in VIEW_IDS.values()],
                  Output(ids.LINK_STATE, "data"), Output(ids.RUN, "n_clicks"),
                  Input(ids.URL, "pathname"), State(ids.URL, "search"),
                  prevent_initial_call="initial_duplicate")
    def restore_from_link(_pathname, search):
        return restore(search, config)

    @app.callback(Output(ids.URL, "search"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"), Input(ids.SUMMARY, "value"),
                  Input(ids.SCATTER_METHOD, "value"), Input(ids.SCATTER_COLOUR, "value"),
                  Input(ids.SELECTION, "data"), prevent_initial_call=True)
    def write_link(analysis, layer, summary, projection, colour, selection):
        if not analysis or not layer:
            return no_update
        return query(cache, analysis, layer, summary, projection, colour, selection)
