"""How one HTTP app is configured: from ``inmail-guard serve`` flags or the environment.

:class:`ServerSettings` is the one model of the server's configuration: every
``INMAIL_GUARD_*`` variable ``serve`` and its workers read, its type, default and meaning
(docs/deploy.md#environment-variables lists them all). ``serve`` builds each flag from it
(``envvar=``, default, help) and validates it, and :func:`check_environment` the variables other
modules read, before it binds a socket or prints anything. ``uvicorn --workers N`` imports the
app in each worker process, so a worker reads the same model from the environment:
:meth:`Settings.from_env` is what the import-string factory
:func:`inmail_guard.api.app.app_from_env` uses.

:class:`Settings` is what ``create_app`` takes: plain values, with defaults for an app embedded
in a program or a test (no signal handler, no logging set-up, no ``gc.freeze()``).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

ENV_PREFIX = "INMAIL_GUARD_"
DEFAULT_DB = "./inmail-guard.db"
DEFAULT_MAX_BODY_BYTES = 64 * 1024

_SIZE = re.compile(r"(\d+)\s*(|b|k|kb|kib|m|mb|mib)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024,
          "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2}


def parse_size(value: Any) -> int:
    """A size in bytes: ``65536``, ``64k`` / ``64KiB`` / ``64kb`` (x1024) or ``1m`` (x1024²)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"expected a size in bytes such as 65536, 64k or 1m; found {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


Size = Annotated[int, BeforeValidator(parse_size)]


def db_url(value: str) -> str:
    """A path (``./inmail-guard.db``) or a database URL -> an SQLAlchemy URL (see
    :func:`inmail_guard.store.to_url` for the spellings accepted)."""
    from inmail_guard.store import to_url

    return to_url(value if "://" in value else str(Path(value).expanduser()))


#: The environment :meth:`ServerSettings.from_environ` reads instead of ``os.environ``.
_ENVIRON: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "inmail_guard_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {(k if self.case_sensitive else k.lower()): v for k, v in self._environ.items()
                if not (self.env_ignore_empty and v == "")}


class ServerSettings(BaseSettings):
    """Every ``INMAIL_GUARD_<NAME>`` variable of the server (``<NAME>`` = the field, upper-cased).

    Booleans accept ``1/0``, ``true/false``, ``yes/no``, ``on/off``; an empty variable counts as
    unset. The field descriptions are the flags' help and the docs' table.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      extra="forbid", validate_default=True)

    policy: str | None = Field(
        None, description="Policy file (default: the shipped policy, builtin:default).")
    db: str = Field(
        DEFAULT_DB, min_length=1,
        description="SQLite file or database URL (postgresql://user@host/db).")
    api_keys_file: str | None = Field(
        None, description="API keys file: JSON/YAML list of {name, role, sha256}.")
    api_keys: str | None = Field(
        None, description="Plain API keys, name:role:key,... (hashed at load).")
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on.")
    workers: int = Field(
        1, ge=1, le=64,
        description="Worker processes (each loads the policy and opens the database).")
    watch_policy: float | None = Field(
        None, ge=0,
        description="Poll the policy file every this many seconds and reload it when it"
                    " changes; 0 = off (default: off with one worker, 2 with several).")
    max_body_bytes: Size = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1024,
        description="Largest request body (else 413): bytes, or 64k, 1m.")
    graceful_timeout: int = Field(
        30, ge=1, description="Seconds in-flight requests get to finish on shutdown.")
    access_log: bool = Field(True, description="One JSON line per request on stderr.")
    dispatch_events: bool = Field(
        False, description="Deliver outbox events to the configured sinks from each worker.")
    log_json: bool = Field(True, description="Log JSON lines to stderr.")
    sighup: bool = Field(True, description="Reload the policy on SIGHUP.")
    freeze_gc: bool = Field(
        True, description="gc.freeze() after start-up, so full collections skip the model.")
    otel: bool = Field(False, description="FastAPI's native OpenTelemetry instrumentation.")
    reload_marker: str | None = Field(
        None, description="Set by serve for its workers: a file whose change makes every"
                          " worker reload the policy.")
    ready_dir: str | None = Field(
        None, description="Set by serve for its workers: the folder where each worker that is"
        " ready to serve marks itself, so the supervisor answers 503 while none is.")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any,
                                   env_settings: Any, dotenv_settings: Any,
                                   file_secret_settings: Any) -> tuple[Any, ...]:
        environ = _ENVIRON.get()
        env = env_settings if environ is None else _MappingEnvSource(settings_cls, environ)
        return init_settings, env

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None,
                     **values: Any) -> ServerSettings:
        """``values`` (flags) over ``environ`` (default ``os.environ``) over the defaults;
        :class:`SettingsError` naming each bad variable."""
        try:
            with _environ(environ):
                return cls(**values)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

    @staticmethod
    def env_name(field: str) -> str:
        return ENV_PREFIX + field.upper()

    @property
    def db_url(self) -> str:
        return db_url(self.db)

    def app_settings(self) -> Settings:
        return Settings(
            policy=self.policy, db=self.db, keys_file=self.api_keys_file,
            keys_env=self.api_keys, max_body_bytes=self.max_body_bytes,
            watch_policy=(self.watch_policy if self.watch_policy is not None
                          else (2.0 if self.workers > 1 else 0.0)),
            reload_marker=self.reload_marker, ready_dir=self.ready_dir, sighup=self.sighup,
            freeze_gc=self.freeze_gc,
            configure_logging=self.log_json, access_log=self.access_log, otel=self.otel,
            dispatch_events=self.dispatch_events)


@contextmanager
def _environ(environ: Mapping[str, str] | None) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


class SettingsError(ValueError):
    """Bad configuration: one line per problem, each naming its variable."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


#: pydantic error types -> what a person reads (else pydantic's own message).
_EXPECTED = {
    "bool_parsing": "expected a boolean: 1/0, true/false, yes/no or on/off",
    "int_parsing": "expected a whole number",
    "float_parsing": "expected a number",
}


def describe(exc: ValidationError) -> list[str]:
    """``INMAIL_GUARD_PORT: expected ...; found 'x'`` per error."""
    lines = []
    for error in exc.errors(include_url=False):
        name = ServerSettings.env_name(str(error["loc"][0])) if error["loc"] else ENV_PREFIX
        ctx = error.get("ctx") or {}
        if error["type"] in ("greater_than_equal", "less_than_equal"):
            message = (f"expected at least {ctx['ge']}" if "ge" in ctx
                       else f"expected at most {ctx['le']}")
        else:
            message = (_EXPECTED.get(error["type"])
                       or str(error["msg"]).removeprefix("Value error, "))
        if error["type"] == "extra_forbidden":
            lines.append(f"{name}: not a setting")
            continue
        found = error.get("input")
        if "found" not in message and isinstance(found, str | int | float):
            message = f"{message[0].lower()}{message[1:]}; found {found!r}"
        lines.append(f"{name}: {message}")
    return lines


def check_environment(dispatch_events: bool,
                      environ: Mapping[str, str] | None = None) -> None:
    """Validate the variables other modules read when the service starts (the store's pool
    and timeouts, event retention and sinks, decision recording), so a bad one stops
    ``serve`` now instead of leaving a server that never becomes ready."""
    import os

    from inmail_guard.plugins import sinks
    from inmail_guard.service.recording import RecordingSettings
    from inmail_guard.store import outbox
    from inmail_guard.store.settings import StoreSettings

    env = dict(os.environ if environ is None else environ)
    checks: list[Any] = [StoreSettings.from_env, outbox.retention_from_env,
                         RecordingSettings.from_env]
    if dispatch_events:
        checks.append(sinks.configured_sinks)
    problems = []
    for check in checks:
        try:
            check(env)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingsError(problems)


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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of a ``serve`` worker, from ``INMAIL_GUARD_*`` variables
        (:class:`ServerSettings`); :class:`SettingsError` naming each bad one."""
        return ServerSettings.from_environ(environ).app_settings()

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
