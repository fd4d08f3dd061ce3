"""Findings panel: mislabelled inputs, class hierarchy, sub-classes, unimportant channels."""

from dash import dcc, html

from layouts import ids
from layouts.parts import graph


def panel() -> html.Section:
    return html.Section(className="panel findings", children=[
        html.H2("Findings"),
        dcc.Store(id=ids.MARKS_VERSION, data=0),
        dcc.Tabs(id=ids.FINDINGS_TABS, value="mislabel", children=[
            dcc.Tab(label="Likely mislabelled", value="mislabel", children=[
                html.Div(className="row", children=[
                    html.Button("Select top 20 in all views", id=ids.MISLABEL_SELECT_TOP,
                                n_clicks=0),
                    html.Button("Export CSV (ranking + marks)", id=ids.MISLABEL_EXPORT,
                                n_clicks=0),
                    dcc.Download(id=ids.MISLABEL_DOWNLOAD),
                    html.Button("How sure? (bootstrap)", id=ids.MISLABEL_STABILITY_RUN, n_clicks=0),
                ]),
                html.Div(id=ids.MISLABEL_STABILITY, className="note"),
                html.Div(id=ids.MISLABEL_TABLE, className="table-wrap"),
            ]),
            dcc.Tab(label="Class hierarchy", value="tree", children=[
                graph(ids.TREE, 420),
                html.Div(id=ids.TREE_GROUPS, className="note"),
            ]),
            dcc.Tab(label="Sub-classes", value="subclasses", children=[
                html.Div(className="field", children=[
                    html.Label("Class", htmlFor=ids.SUBCLASS_CLASS),
                    dcc.Dropdown(id=ids.SUBCLASS_CLASS, clearable=False),
                ]),
                html.Div(id=ids.SUBCLASS_LIST),
            ]),
            dcc.Tab(label="Unimportant channels", value="channels", children=[
                html.Div(className="row", children=[
                    html.Button("Scan maps (64 inputs: border, redundancy)", id=ids.BORDER_SCAN,
                                n_clicks=0),
                    html.Button("Ablation check", id=ids.ABLATION_RUN, n_clicks=0),
                    html.Button("Check removing every flagged channel", id=ids.REMOVAL_RUN,
                                n_clicks=0),
                    html.Button("Cancel the check", id=ids.REMOVAL_CANCEL, n_clicks=0, disabled=True),
                    html.Button("Export CSV (all layers)", id=ids.CHANNELS_EXPORT, n_clicks=0),
                    dcc.Download(id=ids.CHANNELS_DOWNLOAD),
                ]),
                html.Div(id=ids.ABLATION_RESULT, className="note"),
                html.Div(id=ids.REMOVAL_PROGRESS, className="note", hidden=True),
                html.Div(id=ids.REMOVAL_RESULT, className="note"),
                html.Div(id=ids.CHANNEL_TABLE, className="table-wrap"),
            ]),
            dcc.Tab(label="Separability by layer", value="separability", children=[
                graph(ids.SEPARABILITY, 380),
            ]),
        ]),
    ])
