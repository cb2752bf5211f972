"""The FastAPI application: ``create_app(settings)``; ``app_from_env()`` for uvicorn workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from inmail_guard.api import console, errors, openapi
from inmail_guard.api.auth import KeyStore
from inmail_guard.api.logs import configure as configure_logging
from inmail_guard.api.metrics import MeteredPlugins, Metrics
from inmail_guard.api.middleware import EdgeMiddleware
from inmail_guard.api.policy_state import ActivePolicy, PolicyHolder, PolicyReloadError
from inmail_guard.api.responses import JSONBytesResponse
from inmail_guard.api.sendthreads import SendThreads
from inmail_guard.api.settings import Settings
from inmail_guard.api.workers import WorkerRegistry
from inmail_guard.engine.evaluator import Engine
from inmail_guard.policies.schema import Policy
from inmail_guard.service.errors import check_service_policy
from inmail_guard.store.settings import StoreSettings

log = logging.getLogger("inmail_guard.api")

DESCRIPTION = """\
Decides whether each paid direct message (InMail) may be sent, and runs the InMail system
around that decision.

**Auth**: `Authorization: Bearer <key>`; roles `service` (everything but policy reload and
lifting restrictions) and `admin` (everything). **Errors**:
`{"error": {"code", "message", "field"?}}` with a stable `code`.
"""


class ServiceSlot:
    """The InMailService, built on first use (so the app starts even if the database is down,
    and /readyz says so) and kept on the active engine across policy reloads."""

    def __init__(self, settings: Settings, holder: PolicyHolder) -> None:
        self.settings = settings
        self.holder = holder
        self._service: Any = settings.service
        self._send_threads: SendThreads | None = None
        self._lock = threading.Lock()
        self._threads_lock = threading.Lock()

    def get(self) -> Any:
        service = self._service
        if service is not None:
            return service
        with self._lock:
            if self._service is None:
                self._service = self._build()
            return self._service

    def built(self) -> Any:
        """The service if it is built already, else None (never builds: that may wait)."""
        return self._service

    def _build(self) -> Any:
        from inmail_guard.service import InMailService

        active = self.holder.active
        kwargs = {"clock": self.settings.clock} if self.settings.clock else {}
        service = InMailService(active.policy, self.settings.db_url, engine=active.engine,
                                **kwargs)
        if self.holder.active is not active:  # a reload landed while we were building
            service.swap_engine(self.holder.active.engine)
        if self.settings.dispatch_events:
            service.start_dispatcher()
        return service

    def swap(self, active: ActivePolicy) -> None:
        service = self._service
        if service is None:
            return
        service.swap_engine(active.engine)

    def send_threads(self) -> SendThreads:
        """The threads blocking sends run on (``api/sendthreads.py``), sized by the service's
        store settings (``INMAIL_GUARD_DB_SEND_THREADS``); made on the first such send."""
        threads = self._send_threads
        if threads is None:
            # Not self._lock: a build holds that while it connects, and this runs on the
            # event loop, which must never wait for the database.
            with self._threads_lock:
                if self._send_threads is None:
                    service = self._service
                    store = (service.store.settings if service is not None
                             else StoreSettings.from_env())
                    self._send_threads = SendThreads(store.send_threads, store.pool_timeout)
                threads = self._send_threads
        return threads

    def close(self) -> None:
        threads, self._send_threads = self._send_threads, None
        if threads is not None:
            threads.close()  # the sends still running end before their store closes
        service = self._service
        if service is not None and self.settings.service is None:
            with contextlib.suppress(Exception):
                service.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.configure_logging:
        configure_logging()
    if not settings.access_log:
        logging.getLogger("inmail_guard.api.access").setLevel(logging.WARNING)
    keys = KeyStore.from_sources(settings.keys_file, settings.keys_env)
    metrics = Metrics()
    recent = console.recent_decisions()  # the console's Traffic page observes every decision

    def make_engine(policy: Policy) -> Engine:
        check_service_policy(policy)  # a reload the InMail routes could not run is refused
        return Engine(policy, MeteredPlugins(metrics, extra=(recent,)))

    holder = PolicyHolder(settings.policy, make_engine)
    holder.marker = settings.reload_marker
    holder._stat = holder._file_stat()
    holder.subscribe(lambda a: metrics.set_policy(a.policy.name, a.policy.version,
                                                  a.loaded_at.timestamp()))
    slot = ServiceSlot(settings, holder)
    holder.subscribe(slot.swap)
    metrics.outbox.source = slot.built
    if not len(keys):
        log.warning("no API keys configured: every /v1 request will get 401")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # open (and migrate) the database now rather than on the first request
            await asyncio.to_thread(slot.get)
        except ValueError as exc:  # a bad setting, e.g. INMAIL_GUARD_EVENTS_RETENTION
            log.error("configuration error at start-up (/readyz will say so): %s", exc)
        except Exception as exc:
            log.error("database unavailable at start-up (/readyz will say so): %s",
                      type(exc).__name__)
        if settings.freeze_gc:
            # Everything alive now lives as long as the process: keep full collections off it.
            gc.collect()
            gc.freeze()
        stop_flush = metrics.start_flusher()
        stop_watch = None
        if settings.watch_policy > 0 or settings.reload_marker:
            stop_watch = holder.watch(settings.watch_policy or 1.0, _watch_result(metrics))
        hup_installed = False
        if settings.sighup and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGHUP, _on_sighup, holder, metrics)
                hup_installed = True
        workers = WorkerRegistry(settings.ready_dir) if settings.ready_dir else None
        if workers is not None:
            workers.mark_ready()  # the supervisor stops answering 503 for us
        try:
            yield
        finally:
            if workers is not None:
                workers.mark_gone()
            stop_flush.set()
            if stop_watch is not None:
                stop_watch.set()
            if hup_installed:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            slot.close()

    app = FastAPI(
        title="inmail-guard",
        version=_version(),
        description=DESCRIPTION,
        default_response_class=JSONBytesResponse,
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # served from the package by console.install
        **({} if settings.otel else
           {"telemetry": {"tracing": False, "metrics": False, "logs": False}}),
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.metrics = metrics
    app.state.holder = holder
    app.state.services = slot
    probe = DatabaseProbe(slot, _ready_timeout())
    app.state.readiness = lambda: readiness(holder, probe)
    errors.install(app)

    from inmail_guard.api.routes import analytics, evaluate, inmails, members, ops

    # Routes are matched in order: the hot and the trivial ones first.
    app.include_router(ops.router)
    app.include_router(ops.policy_router)
    app.include_router(evaluate.router)
    app.include_router(inmails.router)
    app.include_router(members.router)
    app.include_router(analytics.router)
    console.install(app, recent)
    app.add_middleware(EdgeMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
                       fast_routes={("POST", "/v1/evaluate"): evaluate.asgi_evaluate,
                                    ("POST", "/v1/inmails"): inmails.asgi_send})
    openapi.install(app, {evaluate.REQUEST_SCHEMA: evaluate.request_adapter()},
                    plans=lambda: tuple(holder.active.policy.plans))
    return app


class DatabaseProbe:
    """The database check of ``/readyz``, with its own deadline: it runs in a thread and, if
    that has not answered within ``timeout`` seconds, ``/readyz`` says so at once (503) rather
    than hang with the database (a silent partition). One check at a time: while one is still
    stuck, the next probe reports it without starting another."""

    def __init__(self, slot: ServiceSlot, timeout: float) -> None:
        self.slot = slot
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None
        self._result = ""

    def __call__(self) -> str:
        with self._lock:
            thread = self._running
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._check, name="readyz-db", daemon=True)
                self._running = thread
                thread.start()
        thread.join(self.timeout or None)
        if thread.is_alive():
            return f"unavailable (no answer within {self.timeout:g} s)"
        return self._result

    def _check(self) -> None:
        try:
            service = self.slot.get()
            ping = getattr(service, "ping", None)
            if callable(ping):
                ping()
            else:
                with service.store.read() as conn:
                    conn.exec_driver_sql("SELECT 1")
            self._result = "ok"
        except Exception as exc:
            self._result = f"unavailable ({type(exc).__name__})"


def _ready_timeout() -> float:
    try:
        return StoreSettings.from_env().ready_timeout
    except ValueError:  # reported at start-up (and by /readyz) with the store's settings
        return StoreSettings().ready_timeout


def readiness(holder: PolicyHolder, database: Callable[[], str]) -> dict[str, str]:
    checks: dict[str, str] = {}
    active = holder.active
    checks["policy"] = "ok" if active is not None else "no policy loaded"
    # Model-backed detectors load and verify their model when the engine is compiled; one
    # may also say it is not ready (``ready = False``), e.g. while a model warms up.
    not_ready = [s.detector.name for s in active.engine.detectors
                 if getattr(s.detector, "ready", True) is False
                 or (hasattr(s.detector, "model") and s.detector.model is None)]
    checks["model"] = "ok" if not not_ready else f"not loaded: {', '.join(not_ready)}"
    checks["database"] = database()
    return checks


def _on_sighup(holder: PolicyHolder, metrics: Metrics) -> None:
    # Runs on the event loop; compile in a thread so requests keep flowing.
    threading.Thread(target=_reload_logged, args=(holder, metrics, "SIGHUP"),
                     name="policy-reload", daemon=True).start()


def _reload_logged(holder: PolicyHolder, metrics: Metrics, why: str) -> None:
    try:
        active = holder.reload()
    except PolicyReloadError as exc:
        _watch_result(metrics)(None, exc)
        return
    _watch_result(metrics)(active, None)


def _watch_result(metrics: Metrics):
    def report(active: ActivePolicy | None, error: PolicyReloadError | None) -> None:
        if error is not None:
            metrics.reloads.labels("failed").inc()
            log.error("policy reload failed; the old policy stays active",
                      extra={"issues": error.issues})
        elif active is not None:
            metrics.reloads.labels("ok").inc()
            log.info("policy reloaded", extra={"policy_name": active.policy.name,
                                                 "policy_version": active.policy.version})

    return report


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("inmail-guard")
    except Exception:
        return "0"


def app_from_env() -> FastAPI:
    """The factory ``uvicorn --factory inmail_guard.api.app:app_from_env`` calls in each
    worker: settings come from INMAIL_GUARD_* variables (see :class:`Settings`)."""
    return create_app(Settings.from_env())
