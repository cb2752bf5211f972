"""``inmail-guard serve``: the HTTP API on uvicorn.

With no flags it serves the shipped policy over ``./inmail-guard.db`` on 127.0.0.1:8000 and,
when no API keys are configured, makes a local admin key and prints it. ``--workers N`` runs N
processes from the import-string factory ``inmail_guard.api.app:app_from_env``, configured
through INMAIL_GUARD_* variables. SIGTERM/Ctrl-C stop accepting connections and let in-flight
requests finish (up to ``--graceful-timeout`` seconds).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from inmail_guard.api.settings import DEFAULT_DB, DEFAULT_MAX_BODY_BYTES, ENV_PREFIX, Settings

KEYS_ENV = ENV_PREFIX + "API_KEYS"


def _check_policy(policy: str | None) -> str:
    """Load and compile the policy once before starting, so a broken one fails here, clearly."""
    from inmail_guard.api.policy_state import PolicyHolder, PolicyReloadError
    from inmail_guard.engine.evaluator import Engine
    from inmail_guard.policies.schema import Policy
    from inmail_guard.service_types import check_service_policy

    def make_engine(loaded: Policy) -> Engine:
        check_service_policy(loaded)
        return Engine(loaded)

    try:
        holder = PolicyHolder(policy, make_engine)
    except PolicyReloadError as exc:
        lines = [exc.message] + [
            "  " + " ".join(f"{k}={v}" for k, v in issue.items()) for issue in exc.issues]
        raise click.ClickException("\n".join(lines)) from None
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
            " (docs/security.md).",
        ]
    return "\n".join(lines)


def _check_event_settings(dispatch_events: bool) -> None:
    """Refuse a bad events variable now, naming it, rather than in every worker's log later."""
    from inmail_guard.plugins import sinks
    from inmail_guard.store import outbox

    try:
        outbox.retention_from_env()
        if dispatch_events:
            sinks.configured_sinks()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _check_db(db: str) -> None:
    """Refuse a database inmail-guard cannot use at all (a server that is down is fine: the
    service waits for it, and /readyz says so meanwhile)."""
    from inmail_guard.api.settings import db_url
    from inmail_guard.store import StoreError, check_url

    try:
        check_url(db_url(db))
    except StoreError as exc:
        raise click.ClickException(f"--db {db}: {exc}") from None


@click.command()
@click.option("--policy", metavar="FILE", default=None,
              help="Policy YAML (default: the shipped policy, builtin:default).")
@click.option("--db", default=DEFAULT_DB, show_default=True,
              help="SQLite file or SQLAlchemy URL (postgresql+psycopg://...).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (each loads the policy and opens the database).")
@click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="API keys file: JSON/YAML list of {name, role, sha256}.")
@click.option("--watch", "watch", type=float, default=None, metavar="SECONDS",
              help="Poll the policy file and reload it when it changes (default: off with one"
                   " worker, 2s with several).")
@click.option("--max-body", default=DEFAULT_MAX_BODY_BYTES, show_default=True,
              type=click.IntRange(1024), help="Largest request body in bytes (else 413).")
@click.option("--graceful-timeout", default=30, show_default=True, type=click.IntRange(1),
              help="Seconds in-flight requests get to finish on shutdown.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One JSON line per request on stderr.")
@click.option("--dispatch-events/--no-dispatch-events", default=False, show_default=True,
              help="Deliver outbox events to the configured sinks from each worker"
                   " (docs/deploy.md).")
def serve(policy: str | None, db: str, host: str, port: int, workers: int,
          keys_file: str | None, watch: float | None, max_body: int, graceful_timeout: int,
          access_log: bool, dispatch_events: bool) -> None:
    """Serve the HTTP API (docs/http.md)."""
    import uvicorn

    from inmail_guard.api.auth import KeyConfigError, KeyStore, generate_key
    from inmail_guard.api.logs import configure

    if policy is not None and policy != "builtin:default":
        policy = str(Path(policy).resolve())
    described = _check_policy(policy)
    keys_env = os.environ.get(KEYS_ENV) or None
    try:
        configured = len(KeyStore.from_sources(keys_file, keys_env))
    except (KeyConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    _check_event_settings(dispatch_events)
    _check_db(db)
    generated = None
    if not configured:
        generated = generate_key()
        keys_env = f"local-admin:admin:{generated}"
    settings = Settings(
        policy=policy, db=db, keys_file=keys_file and str(Path(keys_file).resolve()),
        keys_env=keys_env, max_body_bytes=max_body,
        watch_policy=watch if watch is not None else (2.0 if workers > 1 else 0.0),
        sighup=True, freeze_gc=True, configure_logging=True, access_log=access_log,
        dispatch_events=dispatch_events,
    )
    configure()
    common = dict(host=host, port=port, log_config=None, access_log=False,
                  timeout_graceful_shutdown=graceful_timeout, proxy_headers=False,
                  server_header=False)
    click.echo(_banner(host, port, generated, workers, described, db), err=True)
    if workers == 1:
        from inmail_guard.api.app import create_app

        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
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
