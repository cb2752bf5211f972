"""How one HTTP app is configured: from ``inmail-guard serve`` flags or the environment.

``uvicorn`` with ``--workers N`` imports the app in each worker process, so everything a
worker needs must be readable from the environment: :func:`Settings.from_env` is what the
import-string factory :func:`inmail_guard.api.app.app_from_env` uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "INMAIL_GUARD_"
DEFAULT_DB = "./inmail-guard.db"
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def db_url(value: str) -> str:
    """A path (``./inmail-guard.db``) or an SQLAlchemy URL -> an SQLAlchemy URL."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser()}"


@dataclass
class Settings:
    """Everything ``create_app`` needs. All optional: the defaults are a working local setup."""

    #: Policy file, ``builtin:default`` or None (the shipped policy).
    policy: str | None = None
    #: SQLAlchemy URL or a SQLite file path.
    db: str = DEFAULT_DB
    #: File of hashed API keys (JSON or YAML list of {name, role, sha256}).
    keys_file: str | None = None
    #: ``name:role:key,...`` (plain keys, hashed at load), as in INMAIL_GUARD_API_KEYS.
    keys_env: str | None = None
    #: Request bodies larger than this get 413.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Poll the policy file and reload it when it changes (seconds between polls; 0 = off).
    watch_policy: float = 0.0
    #: A file every worker watches: a successful ``POST /v1/policy/reload`` touches it so the
    #: other workers reload too (``serve --workers N`` makes one).
    reload_marker: str | None = None
    #: Where a worker of ``serve --workers N`` says it is ready to serve (a file named after
    #: its pid, removed at shutdown), so the supervisor knows when none is
    #: (:mod:`inmail_guard.api.workers`).
    ready_dir: str | None = None
    #: Install a SIGHUP handler that reloads the policy (only in a server process).
    sighup: bool = False
    #: After start-up, move everything loaded (engine, model, app) out of the cyclic garbage
    #: collector's sight with ``gc.freeze()`` (the server): its full collections then skip the
    #: model's objects (130 ms each in a server, 0.4 ms frozen) instead of pausing a request.
    freeze_gc: bool = False
    #: Log JSON lines to stderr (the server); tests leave logging alone.
    configure_logging: bool = False
    #: FastAPI's native OpenTelemetry (tracing, metrics, logs through the configured OTel
    #: providers). Off by default: /metrics is Prometheus, and the checks cost per request.
    otel: bool = False
    #: One JSON line per request (``inmail_guard.api.access``).
    access_log: bool = True
    #: Run the outbox dispatcher (and expiry) in this process. Several processes may: claims
    #: use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (docs/deploy.md). Off by default: with no
    #: sink configured, dispatching would mark events delivered to nobody.
    dispatch_events: bool = False
    #: A ready-made service object (tests); None builds one from ``db``.
    service: Any = None
    #: The service's clock (aware UTC datetimes); tests and the demo pass a ManualClock.
    clock: Any = None

    @property
    def db_url(self) -> str:
        return db_url(self.db)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value not in (None, "") else None

        return cls(
            policy=get("POLICY"),
            db=get("DB") or DEFAULT_DB,
            keys_file=get("API_KEYS_FILE"),
            keys_env=get("API_KEYS"),
            max_body_bytes=int(get("MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES),
            watch_policy=float(get("WATCH_POLICY") or 0),
            reload_marker=get("RELOAD_MARKER"),
            ready_dir=get("READY_DIR"),
            sighup=(get("SIGHUP") or "1") == "1",
            freeze_gc=(get("FREEZE_GC") or "1") == "1",
            configure_logging=(get("LOG_JSON") or "1") == "1",
            access_log=(get("ACCESS_LOG") or "1") == "1",
            otel=(get("OTEL") or "0") == "1",
            dispatch_events=(get("DISPATCH_EVENTS") or "0") == "1",
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` return these settings (for workers)."""
        out = {
            "DB": self.db,
            "MAX_BODY_BYTES": str(self.max_body_bytes),
            "WATCH_POLICY": str(self.watch_policy),
            "SIGHUP": "1" if self.sighup else "0",
            "FREEZE_GC": "1" if self.freeze_gc else "0",
            "LOG_JSON": "1" if self.configure_logging else "0",
            "ACCESS_LOG": "1" if self.access_log else "0",
            "OTEL": "1" if self.otel else "0",
            "DISPATCH_EVENTS": "1" if self.dispatch_events else "0",
        }
        if self.policy:
            out["POLICY"] = self.policy
        if self.keys_file:
            out["API_KEYS_FILE"] = self.keys_file
        if self.keys_env:
            out["API_KEYS"] = self.keys_env
        if self.reload_marker:
            out["RELOAD_MARKER"] = self.reload_marker
        if self.ready_dir:
            out["READY_DIR"] = self.ready_dir
        return {ENV_PREFIX + k: v for k, v in out.items()}
