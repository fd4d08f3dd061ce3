"""Jaccard view: input-by-input and class-by-class similarity of activated channels."""

from __future__ import annotations

from dash import Input, Output, Patch, State, ctx, no_update

from analysis import session as sessions
from analysis import views
from analysis.errors import NotEnoughData
from analysis.selection import Selection
from figures.matrix import class_matrix_figure, jaccard_dim_trace, jaccard_figure, trace_json
from layouts import ids

RULE_TEXT = {"topk": "top {v:.0%} channels per input", "quantile": "above each channel's {v:.2f} quantile",
             "threshold": "normalised value ≥ {v:.2f}"}


def usable_value(rule, value) -> float:
    """The rule's value, with a quantile of 1 (every channel off) taken as 0.95."""
    return 0.95 if rule == "quantile" and value >= 1 else float(value)


def jaccard_view(cache, analysis, layer, summary, rule, value, selection):
    """(matrix figure, class figure, note)."""
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    if session.n < 2:
        raise NotEnoughData("The Jaccard matrix needs at least two inputs.")
    value = usable_value(rule, value)
    data = session.jaccard(layer, summary, rule, value)
    n_blocks = len(data["blocks"])
    selected = views.selected_blocks(data["block_of_input"], n_blocks,
                                     Selection.from_store(selection).inputs)
    matrix = jaccard_figure(data["blocks"], data["block_labels"], session.class_names, selected,
                            title=f"{layer}: {RULE_TEXT[rule].format(v=value)}")
    classes = class_matrix_figure(data["classes"], session.class_names)
    per = data["rows_per_block"]
    note = (f"Each row/column is one input ({n_blocks} inputs)." if per <= 1 else
            f"{session.n:,} inputs shown as {n_blocks} rows: each cell is the mean Jaccard "
            f"over a block of ~{per:.1f} × {per:.1f} input pairs, in class order.")
    return matrix, classes, note + " Drag along the diagonal or click a cell to select."


def matrix_view(analysis, layer, summary, rule, value, dimmed) -> list:
    """What the Jaccard matrix on the page was drawn from (the ``JACCARD_DRAWN`` store's value)."""
    return [(analysis or {}).get("key"), layer, summary, rule, float(value), bool(dimmed)]


def jaccard_update(cache, analysis, layer, summary, rule, value, selection, drawn=None,
                   selection_only=False):
    """The Jaccard callback's outputs: (matrix, class figure, note, drawn view).

    When only the selection changed and the page shows this layer's matrix (``drawn``), the
    matrix is a ``dash.Patch`` of its dimming trace (the 400 x 400 similarities are not sent
    again) and the class figure and note are left as they are.
    """
    if selection_only and drawn and drawn[:5] == matrix_view(analysis, layer, summary, rule, value,
                                                            False)[:5]:
        session = sessions.require(cache, analysis)
        data = session.jaccard(layer, summary, rule, usable_value(rule, value))
        selected = views.selected_blocks(data["block_of_input"], len(data["blocks"]),
                                         Selection.from_store(selection).inputs)
        dim = jaccard_dim_trace(selected)
        patch, was_dimmed = Patch(), drawn[5]
        if dim is not None and was_dimmed:
            patch["data"][1]["z"] = trace_json(dim)["z"]
        elif dim is not None:
            patch["data"].insert(1, trace_json(dim))
        elif was_dimmed:
            del patch["data"][1]
        else:
            patch = no_update
        return (patch, no_update, no_update,
                matrix_view(analysis, layer, summary, rule, value, dim is not None))
    matrix, classes, note = jaccard_view(cache, analysis, layer, summary, rule, value, selection)
    dimmed = len(matrix.data) > 2
    return matrix, classes, note, matrix_view(analysis, layer, summary, rule, value, dimmed)


def selection_from_matrix(cache, analysis, layer, summary, rule, value, trigger, click, selected):
    """Inputs picked in the Jaccard views (a diagonal drag, a matrix cell or a class cell)."""
    session = sessions.require(cache, analysis)
    if trigger == ids.JACCARD_CLASSES:
        point = click["points"][0]
        wanted = {int(point["x"]), int(point["y"])}  # class indices
        return views.inputs_of_classes(session.labels, wanted)
    data = session.jaccard(layer, summary, rule, float(value))
    if trigger == "drag":
        blocks = [int(p["customdata"]) for p in selected.get("points", []) if "customdata" in p]
    else:
        point = click["points"][0]
        blocks = [int(point["x"]), int(point["y"])]
    return views.inputs_in_blocks(data["block_of_input"], blocks)


def pick(cache, trigger, click, selected, analysis, layer, summary, rule, value, current):
    """New selection store value from a Jaccard-view event (or no_update)."""
    if not analysis or not layer or not (click or selected):
        return no_update
    inputs = selection_from_matrix(cache, analysis, layer, summary or "mean", rule or "topk",
                                   value or 0.1, trigger, click, selected)
    if not inputs:
        return no_update
    return Selection.from_store(current).with_inputs(inputs, source="jaccard").to_store()


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.JACCARD_MATRIX, "figure"), Output(ids.JACCARD_CLASSES, "figure"),
                  Output(ids.JACCARD_NOTE, "children"), Output(ids.JACCARD_DRAWN, "data"),
                  Input(ids.ANALYSIS, "data"), Input(ids.LAYER, "value"),
                  Input(ids.SUMMARY, "value"), Input(ids.JACCARD_RULE, "value"),
                  Input(ids.JACCARD_VALUE, "value"), Input(ids.SELECTION, "data"),
                  State(ids.JACCARD_DRAWN, "data"))
    def update_jaccard(analysis, layer, summary, rule, value, selection, drawn):
        selection_only = ctx.triggered_id == ids.SELECTION and len(ctx.triggered_prop_ids) == 1
        return jaccard_update(cache, analysis, layer, summary or "mean", rule or "topk",
                              value or 0.1, selection, drawn, selection_only)

    jaccard_state = [State(ids.ANALYSIS, "data"), State(ids.LAYER, "value"),
                     State(ids.SUMMARY, "value"), State(ids.JACCARD_RULE, "value"),
                     State(ids.JACCARD_VALUE, "value"), State(ids.SELECTION, "data")]

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.JACCARD_MATRIX, "clickData"), *jaccard_state,
                  prevent_initial_call=True)
    def select_cell(click, *state):
        return pick(cache, "cell", click, None, *state)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.JACCARD_MATRIX, "selectedData"), *jaccard_state,
                  prevent_initial_call=True)
    def select_diagonal(selected, *state):
        return pick(cache, "drag", None, selected, *state)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.JACCARD_CLASSES, "clickData"), *jaccard_state,
                  prevent_initial_call=True)
    def select_classes(click, *state):
        return pick(cache, ids.JACCARD_CLASSES, click, None, *state)
