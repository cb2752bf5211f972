"""HTTP API (FastAPI): ``create_app(settings)``. See docs/http.md and docs/security.md."""

from __future__ import annotations

from inmail_guard.api.app import app_from_env, create_app
from inmail_guard.api.settings import Settings

__all__ = ["Settings", "app_from_env", "create_app"]
