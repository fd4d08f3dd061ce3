"""Model accuracy panel: accuracy, top-5, per-class bars and a confusion matrix whose
cells select their inputs in every view; hidden with the reason for a headless or
mismatched model."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from analysis import accuracy
from analysis import session as sessions
from analysis.selection import Selection
from figures.accuracy import confusion_figure, per_class_figure
from figures.style import empty_figure
from layouts import ids

HIDDEN = {"display": "none"}
SHOWN = {"display": "flex", "flexWrap": "wrap", "gap": "8px"}


def _scores(session):
    reason = accuracy.availability(session.model_classes, session.n_classes, session.top_classes)
    if reason is not None:
        raise accuracy.AccuracyUnavailable(reason)
    return accuracy.scores(session.labels, session.top_classes, session.n_classes)


def accuracy_view(cache, analysis):
    """(summary text, confusion figure, per-class figure, graphs style)."""
    if not analysis:
        blank = empty_figure("The model's accuracy appears after an analysis.")
        return "", blank, blank, HIDDEN
    session = sessions.require(cache, analysis)
    try:
        result = _scores(session)
    except accuracy.AccuracyUnavailable as reason:
        blank = empty_figure("")
        return str(reason), blank, blank, HIDDEN
    wrong = result["n"] - int(round(result["accuracy"] * result["n"]))
    text = (f"Accuracy {result['accuracy']:.1%} · top-{result['top_k']} {result['top5']:.1%} "
            f"on {result['n']:,} inputs ({wrong:,} misclassified). Click a cell of the confusion "
            "matrix to select its inputs.")
    return (text, confusion_figure(result["confusion"], session.class_names),
            per_class_figure(result["per_class"], result["counts"], session.class_names), SHOWN)


def selection_from_cell(cache, analysis, click_data, current) -> dict | None:
    """The selection after a click on a confusion cell (true A, predicted B): those inputs."""
    if not analysis or not click_data:
        return None
    point = click_data["points"][0]
    # Column = predicted class, row = true class (Dash's clickData of a heatmap has no customdata).
    if point.get("x") is None or point.get("y") is None:
        return None
    true_class, predicted_class = int(point["y"]), int(point["x"])
    session = sessions.require(cache, analysis)
    result = _scores(session)
    names = session.class_names
    if not (0 <= true_class < len(names) and 0 <= predicted_class < len(names)):
        return None
    chosen = accuracy.cell_inputs(session.labels, result["predicted"], true_class, predicted_class)
    source = f"confusion: true {names[true_class]}, predicted {names[predicted_class]}"
    return Selection.from_store(current).with_inputs(chosen.tolist(), source=source).to_store()


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.ACCURACY_TEXT, "children"), Output(ids.ACCURACY_CONFUSION, "figure"),
                  Output(ids.ACCURACY_PER_CLASS, "figure"), Output(ids.ACCURACY_GRAPHS, "style"),
                  Input(ids.ANALYSIS, "data"))
    def update_accuracy(analysis):
        return accuracy_view(cache, analysis)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input(ids.ACCURACY_CONFUSION, "clickData"), State(ids.ANALYSIS, "data"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select_cell(click_data, analysis, current):
        selection = selection_from_cell(cache, analysis, click_data, current)
        return selection if selection is not None else no_update
