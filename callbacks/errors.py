"""The one error path of every callback (Dash's app-wide ``on_error``).

A ``UserError`` (analysis.errors) raised anywhere in a callback is shown in
the panel whose callback failed: each figure output becomes a blank figure
carrying the message (so no stale figure stays next to a new analysis), the
first text output carries the message and the other text outputs are
emptied.  Any other exception is a bug: it is logged with its traceback and
a short id, and the panel shows "internal error (id ...)" instead.
Outputs that are not panel content (stores, dropdown values, flags) are
left as they are, except the stores saying what a figure was drawn from
(``layouts.ids.DRAWN_STORES``): the figure was replaced, so they are cleared, and the
next update redraws it instead of patching the blank one.
"""

from __future__ import annotations

import logging
import secrets

from dash import ctx, no_update

from analysis.errors import UserError
from figures.style import empty_figure
from layouts import ids

log = logging.getLogger("channelexplorer.callbacks")

TEXT_PROPERTIES = ("children",)


def message_of(error: BaseException, where: str = "") -> str:
    """The text the page shows for ``error``; a non-user error is logged with an id."""
    if isinstance(error, UserError):
        return str(error)
    error_id = secrets.token_hex(4)
    log.error("internal error (id %s) in %s", error_id, where or "a callback",
              exc_info=(type(error), error, error.__traceback__))
    return f"Internal error (id {error_id}); the details are in the server log."


def panel_outputs(outputs, message: str):
    """What each output of a failed callback receives.

    ``outputs`` is ``dash.ctx.outputs_list``: one ``{"id", "property"}`` dict
    (single output), or a list of them (pattern-matching outputs are lists).
    """
    if isinstance(outputs, dict):
        return panel_outputs([outputs], message)[0]
    values, told = [], False
    for spec in outputs:
        if isinstance(spec, list):  # a pattern-matching output: leave its components alone
            values.append([no_update] * len(spec))
        elif spec.get("property") == "figure":
            values.append(empty_figure(message))
            told = True
        elif spec.get("property") in TEXT_PROPERTIES:
            values.append(None if told else message)
            told = True
        elif spec.get("property") == "data" and spec.get("id") in ids.DRAWN_STORES:
            values.append(None)
        else:
            values.append(no_update)
    return values


def on_error(error: Exception):
    """Dash ``on_error`` handler: the failed panel's outputs (see the module docstring)."""
    outputs = ctx.outputs_list
    where = ", ".join(f"{spec['id']}.{spec['property']}" for spec in
                      (outputs if isinstance(outputs, list) else [outputs]) if isinstance(spec, dict))
    message = message_of(error, where)
    if not outputs:
        return None
    return panel_outputs(outputs, message)
