"""The operator console at ``/console`` (docs/console.md): server-rendered pages over the same
keys, service and policy as the JSON API, with their templates and static files (a vendored
chart library, the Swagger UI and ReDoc bundles for ``/docs`` and ``/redoc``) in the package.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from inmail_guard.api.console import docs, pages
from inmail_guard.api.console.playground import PlaygroundEngines
from inmail_guard.api.console.recent import RecentDecisions
from inmail_guard.api.console.sessions import SessionSigner
from inmail_guard.api.console.web import STATIC_DIR, STATIC_URL, install_handlers

__all__ = ["RecentDecisions", "install", "recent_decisions"]


def recent_decisions() -> RecentDecisions:
    """The Traffic page's in-memory observer; it keeps message bodies only when this process
    records full bodies (``INMAIL_GUARD_RECORD_BODIES=full``)."""
    from inmail_guard.service.recording import RecordingSettings

    try:
        recording = RecordingSettings.from_env()
    except ValueError:  # reported by the service at start-up
        recording = None
    return RecentDecisions(keep_bodies=recording is not None and recording.bodies == "full")


def install(app: FastAPI, recent: RecentDecisions) -> None:
    """Mount the console, its static files and the offline API docs on ``app`` (built with
    ``docs_url=None, redoc_url=None``). Needs ``app.state.keys``, ``holder``, ``services``,
    ``metrics`` and ``settings``, as :func:`inmail_guard.api.app.create_app` sets them."""
    app.state.console_sessions = SessionSigner(app.state.keys)
    app.state.console_recent = recent
    app.state.console_engines = PlaygroundEngines()
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(pages.router)
    install_handlers(app)
    docs.install(app)
