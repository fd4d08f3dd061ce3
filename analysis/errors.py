"""Errors whose message is meant for the user.

``UserError`` is deliberately *not* a ``ValueError``: a numpy or programming
bug (ValueError, ZeroDivisionError, ...) must never reach the page as if the
user had asked for something wrong.  Callbacks let ``UserError`` propagate to
the one error handler, which shows its text in the panel that failed; any
other exception is logged with its traceback and shown as an internal-error
notice with an id.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user asked for cannot be done; ``str(error)`` is for the page."""


class NotEnoughData(UserError):
    """A statistic or finding cannot be computed on this (small or odd) data set."""


class ExtractionError(UserError):
    """A model or a request that extraction cannot serve; the message is for the user."""


class DatasetError(UserError):
    """A data folder that cannot be analysed; the message is for the user."""


class PathNotAllowed(DatasetError):
    """A path outside the configured data roots."""


class NotEnoughMemory(UserError):
    """An analysis whose results would not fit in this machine's memory."""
