"""HTTP-level hygiene of the Flask server behind Dash."""

from __future__ import annotations


def install(server) -> None:
    """Requests for assets Dash does not serve (unknown package, ``..``, missing file)
    answer 404 instead of an error page with a traceback in the log (HTTP 500)."""
    from dash.exceptions import DependencyException

    def not_found(_error):
        return "Not found", 404

    server.register_error_handler(DependencyException, not_found)
    server.register_error_handler(FileNotFoundError, not_found)
