"""``inmail-guard serve``: the HTTP API on uvicorn.

With no flags it serves the shipped policy over ``./inmail-guard.db`` on 127.0.0.1:8000 and,
when no API keys are configured, makes a local admin key and prints it. ``--workers N`` runs N
processes from the import-string factory ``inmail_guard.api.app:app_from_env``, configured
through INMAIL_GUARD_* variables. SIGTERM/Ctrl-C stop accepting connections and let in-flight
requests finish (up to ``--graceful-timeout`` seconds).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from inmail_guard.api.settings import (
    ENV_PREFIX,
    ServerSettings,
    SettingsError,
    check_environment,
    parse_size,
)
from inmail_guard.cli import docs_dir

KEYS_ENV = ENV_PREFIX + "API_KEYS"


def _check_policy(policy: str | None) -> str:
    """Load and compile the policy once before starting, so a broken one fails here, clearly."""
    from inmail_guard.api.policy_state import PolicyHolder, PolicyReloadError
    from inmail_guard.engine.evaluator import Engine
    from inmail_guard.policies.schema import Policy
    from inmail_guard.service.errors import check_service_policy

    def make_engine(loaded: Policy) -> Engine:
        check_service_policy(loaded)
        return Engine(loaded)

    try:
        holder = PolicyHolder(policy, make_engine)
    except PolicyReloadError as exc:  # its message already lists every issue, once
        raise click.ClickException(exc.message) from None
    active = holder.active
    return f"{active.policy.name} {active.policy.version[:19]} from {active.source}"


def _banner(host: str, port: int, key: str | None, workers: int, policy: str, db: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    lines = [
        f"inmail-guard listening on {url} ({workers} worker{'s' if workers > 1 else ''})",
        f"  policy:  {policy}",
        f"  db:      {db}",
        f"  docs:    {url}/docs   metrics: {url}/metrics   health: {url}/healthz",
    ]
    if key is not None:
        lines += [
            "",
            "No API keys were configured, so this run made a local admin key (valid until it"
            " stops):",
            f"  {key}",
            "Try:",
            f"  curl -s {url}/v1/policy -H 'Authorization: Bearer {key}'",
            f"  curl -s {url}/v1/evaluate -H 'Authorization: Bearer {key}' \\",
            "    -H 'Content-Type: application/json' -d '{\"message\": {\"sender_id\": \"a\","
            " \"recipient_id\": \"b\", \"subject\": \"Hi\", \"body\": \"Hello\"}, \"facts\":"
            " {\"sender\": {\"id\": \"a\", \"plan\": \"premium_business\"}, \"recipient\":"
            " {\"id\": \"b\"}, \"now\": \"2026-11-27T09:00:00Z\"}}'",
            f"For real use, configure keys: --keys FILE or {KEYS_ENV}=name:role:key,..."
            f" ({docs_dir() / 'security.md'}).",
        ]
    return "\n".join(lines)


def _check_settings(**flags: Any) -> ServerSettings:
    """The flags over the environment, validated with every variable the service reads when it
    starts, so a bad one stops here, named, rather than in every worker's log later."""
    problems: list[str] = []
    settings = None
    try:
        settings = ServerSettings.from_environ(None, **flags)
    except SettingsError as exc:
        problems += exc.lines
    try:
        check_environment(flags["dispatch_events"])
    except SettingsError as exc:
        problems += exc.lines
    if settings is None or problems:
        raise click.ClickException("\n".join(problems))
    return settings


def _check_db(db: str) -> None:
    """Refuse a database inmail-guard cannot use at all (a server that is down is fine: the
    service waits for it, and /readyz says so meanwhile)."""
    from inmail_guard.api.settings import db_url
    from inmail_guard.store import StoreError, check_url

    try:
        url = check_url(db_url(db))
    except StoreError as exc:
        raise click.ClickException(f"--db {db}: {exc}") from None
    if url.get_backend_name() != "sqlite":
        try:
            url.get_dialect().import_dbapi()
        except ImportError:
            raise click.ClickException(
                f"--db {db}: the driver {url.get_driver_name()} is not installed; use"
                " postgresql:// (psycopg 3, which inmail-guard installs)") from None
        return
    path = Path(str(url.database))
    if path.is_dir():
        raise click.ClickException(f"--db {db}: {path} is a directory; name a file in it,"
                                   " e.g. --db " + str(path / "inmail-guard.db"))
    parent = path.parent
    if not parent.is_dir():
        raise click.ClickException(f"--db {db}: the directory {parent} does not exist;"
                                   " create it first or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise click.ClickException(f"--db {db}: the directory {parent} is not writable (SQLite"
                                   " keeps its -wal and -shm files next to the database)")


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds (SO_REUSEADDR), or a ClickException
    saying why not: the bind happens before anything is announced."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise click.ClickException(f"--host {host}: not an address of this machine"
                                   f" ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            why = (f"{where} is already in use; stop what listens there or choose another"
                   " --port")
        elif exc.errno == errno.EACCES:
            why = f"not allowed to listen on {where} (ports below 1024 need privileges)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = f"--host {host} is not an address of this machine"
        else:
            why = f"cannot listen on {where}: {exc.strerror or exc}"
        raise click.ClickException(why) from None
    sock.set_inheritable(True)
    return sock


def _flag(field: str, *decls: str, **kwargs: Any) -> Callable[[Any], Any]:
    """A ``serve`` option for ServerSettings' ``field``: its variable, default and help."""
    info = ServerSettings.model_fields[field]
    kwargs.setdefault("default", info.default)
    kwargs.setdefault("help", info.description)
    return click.option(*decls, field, envvar=ServerSettings.env_name(field), show_envvar=True,
                        **kwargs)


class SizeType(click.ParamType):
    """A size in bytes: 65536, 64k, 1m (as INMAIL_GUARD_MAX_BODY_BYTES takes it)."""

    name = "bytes"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        try:
            size = parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if size < 1024:
            self.fail(f"expected at least 1024 bytes; found {value!r}", param, ctx)
        return size


@click.command(epilog=f"\b\nDocumentation (docs/http.md, docs/deploy.md):\n{docs_dir()}")
@_flag("policy", "--policy", metavar="FILE")
@_flag("db", "--db", show_default=True)
@_flag("host", "--host", show_default=True)
@_flag("port", "--port", show_default=True, type=click.IntRange(0, 65535))
@_flag("workers", "--workers", show_default=True, type=click.IntRange(1, 64))
@_flag("api_keys_file", "--keys", type=click.Path(exists=True, dir_okay=False))
@_flag("watch_policy", "--watch", type=click.FloatRange(0), metavar="SECONDS")
@_flag("max_body_bytes", "--max-body", show_default=True, type=SizeType())
@_flag("graceful_timeout", "--graceful-timeout", show_default=True, type=click.IntRange(1))
@_flag("access_log", "--access-log/--no-access-log", show_default=True)
@_flag("dispatch_events", "--dispatch-events/--no-dispatch-events", show_default=True)
def serve(policy: str | None, db: str, host: str, port: int, workers: int,
          api_keys_file: str | None, watch_policy: float | None, max_body_bytes: int,
          graceful_timeout: int, access_log: bool, dispatch_events: bool) -> None:
    """Serve the HTTP API (docs/http.md; every flag and variable: docs/deploy.md)."""
    import uvicorn

    from inmail_guard.api.auth import KeyConfigError, KeyStore, generate_key
    from inmail_guard.api.logs import configure

    if policy is not None and (not policy.startswith("builtin:") or Path(policy).exists()):
        policy = str(Path(policy).resolve())  # a builtin: name stays one, to be named back
    server = _check_settings(
        policy=policy, db=db, host=host, port=port, workers=workers,
        api_keys_file=api_keys_file and str(Path(api_keys_file).resolve()),
        watch_policy=watch_policy, max_body_bytes=max_body_bytes,
        graceful_timeout=graceful_timeout, access_log=access_log,
        dispatch_events=dispatch_events)
    described = _check_policy(policy)
    keys_env = server.api_keys
    try:
        configured = len(KeyStore.from_sources(server.api_keys_file, keys_env))
    except (KeyConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    _check_db(db)
    generated = None
    if not configured:
        generated = generate_key()
        keys_env = f"local-admin:admin:{generated}"
    settings = server.app_settings()
    settings.keys_env = keys_env
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    configure()
    common = dict(host=host, port=port, log_config=None, access_log=False,
                  timeout_graceful_shutdown=graceful_timeout, proxy_headers=False,
                  server_header=False,
                  # httptools, with a bound on the request line and headers (431 over it)
                  http="inmail_guard.api.protocol:BoundedHeadProtocol")
    if workers == 1:
        from inmail_guard.api.app import create_app

        config = uvicorn.Config(create_app(settings), **common)  # type: ignore[arg-type]
        click.echo(_banner(host, port, generated, workers, described, db), err=True)
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
        if not server.started:
            sys.exit(3)  # as uvicorn.run: the app failed to start
        return
    sock.close()  # uvicorn binds again (SO_REUSEADDR) and shares it with the workers
    click.echo(_banner(host, port, generated, workers, described, db), err=True)
    # Several workers: each imports the factory and reads its settings from the environment;
    # the supervisor answers 503 itself while none of them can serve (cli/supervise.py).
    from inmail_guard.api.workers import WorkerRegistry
    from inmail_guard.cli.supervise import run_workers

    run_dir = tempfile.mkdtemp(prefix="inmail-guard-")
    settings.reload_marker = os.path.join(run_dir, "policy-reload")
    Path(settings.reload_marker).touch()
    settings.ready_dir = os.path.join(run_dir, "ready")
    os.makedirs(settings.ready_dir)
    os.environ.update(settings.to_env())
    if not os.environ.get("INMAIL_GUARD_CONSOLE_SECRET"):
        # One console-session signing secret for all workers (api/console/sessions.py): a
        # session cookie one worker signed is good on the others.
        import secrets

        os.environ["INMAIL_GUARD_CONSOLE_SECRET"] = secrets.token_hex(32)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = os.path.join(run_dir, "metrics")
        os.makedirs(metrics_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        run_workers(uvicorn.Config("inmail_guard.api.app:app_from_env", factory=True,
                                   workers=workers, **common),  # type: ignore[arg-type]
                    WorkerRegistry(settings.ready_dir))
    finally:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
    sys.exit(0)
