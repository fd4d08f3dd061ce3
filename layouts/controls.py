"""Load panel: model, data, layer set, run/cancel, progress and messages."""

from dash import dcc, html

from analysis.datasets import PREPROCESS_MODES
from layouts import ids


def panel(config) -> html.Section:
    return html.Section(className="panel controls", children=[
        html.Div(className="field wide", children=[
            html.Label("Model", htmlFor=ids.MODEL_INPUT),
            dcc.Input(id=ids.MODEL_INPUT, type="text", value=config.model, debounce=True,
                      placeholder="demo, a .keras file, or vgg16 / resnet50 ..."),
        ]),
        html.Div(className="field wide", children=[
            html.Label("Images (one sub-folder per class)", htmlFor=ids.DATA_INPUT),
            dcc.Input(id=ids.DATA_INPUT, type="text", value=config.data, debounce=True),
        ]),
        html.Div(className="field", children=[
            html.Label("Layers", htmlFor=ids.LAYER_SET),
            dcc.Dropdown(id=ids.LAYER_SET, clearable=False, value=config.layers, options=[
                {"label": "conv & dense", "value": "conv_dense"},
                {"label": "all with channels", "value": "all"},
            ]),
        ]),
        html.Div(className="field", children=[
            html.Label("Preprocessing", htmlFor=ids.PREPROCESS),
            dcc.Dropdown(id=ids.PREPROCESS, clearable=False, value=config.preprocess,
                         options=[{"label": m, "value": m} for m in ("auto",) + PREPROCESS_MODES]),
        ]),
        html.Div(className="buttons", children=[
            html.Button("Analyse", id=ids.RUN, n_clicks=0, className="primary"),
            html.Button("Cancel", id=ids.CANCEL, n_clicks=0, disabled=True),
        ]),
        html.Div(className="progress-row", children=[
            html.Progress(id=ids.PROGRESS, value="0", max="1"),
            html.Span(id=ids.PROGRESS_TEXT, className="progress-text"),
        ]),
        html.Div(id=ids.STATUS, className="status"),
        html.Div(id=ids.FORM_NOTE, className="form-note"),
        html.Div(id=ids.ALERT, className="alert", role="alert", hidden=True),
    ])
