"""Unimportant channels: table with one explanation line per reason, map scan, ablation check,
removal of every flagged channel at once, CSV export."""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, html, no_update

from analysis import findings, pipeline
from analysis import session as sessions
from analysis.errors import UserError
from analysis.selection import Selection
from layouts import ids

REASON_TEXT = {"dead": "dead", "weak": "weak", "always_on": "always on", "border": "border-attending",
               "redundant": "redundant", "low_contribution": "low contribution", "removable": "removable"}


# Said above the table of a layer whose output can be negative (benchmarks/results_findings.md, runs 4 and 6).
SIGNED_NOTE = ("{layer}'s output can be negative (no ReLU-like activation in it or right after it, e.g. a "
               "batch normalization feeding a residual Add): 'dead', 'weak' and 'always on' assume ReLU "
               "outputs and are not judged here; redundancy, border attention and the contribution to the "
               "next layer are. 'Check removing every flagged channel' tests each flag by ablation first. ")

# Column headers with what each number means (shown on hover).
HEADERS = (("channel", ""), ("why", "the reasons it is flagged"),
           ("active share", "share of the inputs on which the channel fires at all (max > 0)"),
           ("CV", "coefficient of variation of the channel's mean over the inputs (SD / mean): "
                  "low = the same on every input"),
           ("border share", "share of its activation in the outer 15% band of the map "
                            "(after 'Scan maps')"),
           ("copy of", "the channel it nearly duplicates"), ("", ""))


def channel_table(cache, analysis, layer):
    session = sessions.require(cache, analysis)
    session.require_layer(layer)
    rows = session.unimportant_channels(layer)
    note = ("" if session.border_scanned(layer) else
            "Border attention, redundancy on full maps and the contribution to the next layer not scanned "
            "yet for this layer (redundancy below uses the stored means): press 'Scan maps'. ")
    info = next((i for i in session.meta.get("layer_info", []) if i["name"] == layer), {})
    if info.get("nonnegative") is False:
        note += SIGNED_NOTE.format(layer=layer)
    note += spread_text(findings.channel_spread(cache, session.meta, layer), layer)
    if not rows:
        return html.P(note + f"No dead, weak, always-on, redundant, border or low-contribution channel flagged in {layer}.",
                      className="note")
    header = html.Tr([html.Th(text, title=tip) for text, tip in HEADERS])
    body = [html.Tr([
        html.Td(row["channel"]),
        html.Td([html.Div(line) for line in row.get("explanation") or
                 [REASON_TEXT.get(r, r) for r in row["reasons"]]]),
        html.Td(_fmt(row["active_share"])), html.Td(_fmt(row["cv"])),
        html.Td(_fmt(row["border_share"])),
        html.Td("" if row["partner"] in (None, -1) else f"ch {row['partner']}"),
        html.Td(html.Button("details", n_clicks=0, className="link",
                            id={"type": ids.CHANNEL_OPEN, "index": int(row["channel"])})),
    ]) for row in rows]
    return [html.P(note + f"{len(rows)} channels flagged in {layer}.", className="note"),
            html.Table(className="table", children=[html.Thead(header), html.Tbody(body)])]


def spread_text(spread, layer: str) -> str:
    """One sentence on how alike the layer's channels are (``findings.channel_spread``), or ''."""
    if spread is None:
        return ""
    return (f"In {layer} the 10% weakest channels contribute {spread:.0%} as much as the median channel "
            f"(activation x outgoing weights; near 100%: the channels are alike and none stands out, so "
            f"removing some costs about what removing random ones does; near 0%: some barely contribute). ")


def _fmt(value):
    return "" if value is None else f"{value:.3g}"


def border_job(config, analysis, layer):
    """Background job: full maps of 64 inputs, border share per channel, cached."""
    try:
        with sessions.job(config) as cache:
            session = sessions.require(cache, analysis)
            maps = pipeline.sample_maps(session.meta, layer, 64, config.job_threads)
            session.store_border_scan(layer, maps)
            findings.ensure_outgoing(cache, session.meta, config.job_threads)  # for the contribution test
            return channel_table(cache, analysis, layer), ""
    except UserError as error:  # background errors reach on_error without their type
        return no_update, str(error)


def ablation_job(config, analysis, layer):
    """Background job: zero the flagged channels in a copy of the model, measure accuracy."""
    try:
        with sessions.job(config) as cache:
            session = sessions.require(cache, analysis)
            flagged = [row["channel"] for row in session.unimportant_channels(layer)]
            if not flagged:
                return f"No channel is flagged in {layer}: nothing to ablate."
            ranked = session.discriminative_channels(layer)
            result = pipeline.ablation(session.meta, layer, flagged, ranked, config.job_threads)
    except UserError as error:  # background errors reach on_error without their type
        return str(error)
    return ablation_text(result)


#: Shown when the user cancels the removal check.
REMOVAL_CANCELLED = ("Removal check cancelled. The model itself is never changed (the check works on a copy); "
                     "the table shows the check's verdicts only if every layer had been checked before the cancel.")


def removal_progress_text(done: int, total: int, text: str) -> str:
    """The removal job's progress line: the step and how far the job is."""
    return f"{text}… (step {done + 1} of {total})"


def removal_job(config, analysis, layer=None, set_progress=None):
    """Background job: scan maps where missing, check each layer's flags by ablation, then remove
    every kept channel of every layer at once; (text, the layer's table with the check's verdicts).
    ``set_progress`` (Dash's) receives one line per step."""
    def progress(done, total, text):
        if set_progress is not None:
            set_progress(removal_progress_text(done, total, text))

    try:
        with sessions.job(config) as cache:
            session = sessions.require(cache, analysis)
            result = findings.removal_job(cache, session.meta, config.job_threads, progress=progress)
            table = channel_table(cache, analysis, layer) if layer else no_update
    except UserError as error:  # background errors reach on_error without their type
        return str(error), no_update
    return findings.removal_text(result), table


def export_csv(cache, analysis) -> dict:
    """dcc.Download payload: every flagged channel of every layer with its figures."""
    session = sessions.require(cache, analysis)
    return {"content": findings.unimportant_csv(cache, session.meta), "filename": "unimportant_channels.csv",
            "type": "text/csv"}


def ablation_text(result: dict) -> str:
    n = result["n_ablated"]
    parts = [f"Zeroing the {n} flagged channels of {result['layer']} (a copy of the model): "
             f"accuracy {result['baseline']:.1%} → {result['flagged_accuracy']:.1%} "
             f"(drop {result['drop_flagged']:+.1%});",
             f"{n} random channels: drop {result['drop_random']:+.1%} "
             f"(mean of {len(result['random_accuracies'])})"]
    if result.get("drop_discriminative") is not None:
        parts.append(f"; the {n} most class-discriminative: drop "
                     f"{result['drop_discriminative']:+.1%}")
    return " ".join(parts) + "."


def register(app, config) -> None:
    cache = app.results

    @app.callback(Output(ids.CHANNEL_TABLE, "children"), Input(ids.ANALYSIS, "data"),
                  Input(ids.LAYER, "value"))
    def update_table(analysis, layer):
        return channel_table(cache, analysis, layer)

    @app.callback(Output(ids.CHANNEL_TABLE, "children", allow_duplicate=True),
                  Output(ids.ABLATION_RESULT, "children", allow_duplicate=True),
                  Input(ids.BORDER_SCAN, "n_clicks"), State(ids.ANALYSIS, "data"),
                  State(ids.LAYER, "value"), background=True, prevent_initial_call=True,
                  running=[(Output(ids.BORDER_SCAN, "disabled"), True, False)])
    def scan_borders(_n, analysis, layer):
        if not analysis or not layer:
            return no_update, "Run an analysis first."
        return border_job(config, analysis, layer)

    @app.callback(Output(ids.ABLATION_RESULT, "children", allow_duplicate=True),
                  Input(ids.ABLATION_RUN, "n_clicks"),
                  State(ids.ANALYSIS, "data"), State(ids.LAYER, "value"), background=True,
                  prevent_initial_call=True,
                  running=[(Output(ids.ABLATION_RUN, "disabled"), True, False)])
    def run_ablation(_n, analysis, layer):
        if not analysis or not layer:
            return "Run an analysis first."
        return ablation_job(config, analysis, layer)

    @app.callback(Output(ids.REMOVAL_RESULT, "children"),
                  Output(ids.CHANNEL_TABLE, "children", allow_duplicate=True),
                  Input(ids.REMOVAL_RUN, "n_clicks"), State(ids.ANALYSIS, "data"), State(ids.LAYER, "value"),
                  background=True, prevent_initial_call=True,
                  progress=[Output(ids.REMOVAL_PROGRESS, "children")],
                  cancel=[Input(ids.REMOVAL_CANCEL, "n_clicks")],
                  running=[(Output(ids.REMOVAL_RUN, "disabled"), True, False),
                           (Output(ids.REMOVAL_CANCEL, "disabled"), False, True),
                           (Output(ids.REMOVAL_PROGRESS, "hidden"), False, True)])
    def run_removal(set_progress, _n, analysis, layer):
        if not analysis:
            return "Run an analysis first.", no_update
        set_progress("Starting the removal check…")
        return removal_job(config, analysis, layer, set_progress)

    @app.callback(Output(ids.REMOVAL_RESULT, "children", allow_duplicate=True),
                  Input(ids.REMOVAL_CANCEL, "n_clicks"), prevent_initial_call=True)
    def removal_cancelled(_n):
        return REMOVAL_CANCELLED

    @app.callback(Output(ids.CHANNELS_DOWNLOAD, "data"), Input(ids.CHANNELS_EXPORT, "n_clicks"),
                  State(ids.ANALYSIS, "data"), prevent_initial_call=True)
    def download(_n, analysis):
        if not analysis:
            return no_update
        return export_csv(cache, analysis)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True),
                  Input({"type": ids.CHANNEL_OPEN, "index": ALL}, "n_clicks"),
                  State(ids.LAYER, "value"), State(ids.SELECTION, "data"),
                  prevent_initial_call=True)
    def open_channel(clicks, layer, current):
        if not ctx.triggered_id or not any(clicks):
            return no_update
        return Selection.from_store(current).with_channel(
            layer, int(ctx.triggered_id["index"]), source="channels").to_store()
