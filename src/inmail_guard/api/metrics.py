"""Prometheus metrics of one app, in its own CollectorRegistry (tests build many apps).

Decisions are counted by a plugin (:class:`DecisionMetrics`) registered through the
``inmail_guard_decision`` hook like any other observer; detector latency is timed where the
engine calls detectors, in the plugin façade (:class:`MeteredPlugins`).

Event delivery is counted and timed in the same façade (:meth:`MeteredPlugins.event`, which
the outbox dispatcher calls); the outbox's backlog is read from the database at each scrape
(:class:`OutboxCollector`). The standard ``process_*``, ``python_info`` and ``python_gc_*``
metrics come from prometheus-client's own collectors.

Several workers: when ``PROMETHEUS_MULTIPROC_DIR`` is set (``inmail-guard serve --workers N``
sets it to a fresh directory) every worker writes its samples there and ``/metrics`` adds up
all workers with prometheus-client's MultiProcessCollector. Without it, each worker reports
its own numbers. The outbox backlog is the database's, so any worker reports it whole; the
``process_*`` metrics describe one process, so they are left out in multiprocess mode (a
scrape would report whichever worker answered).
"""

from __future__ import annotations

import logging
import os
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from inmail_guard.engine.types import Decision
from inmail_guard.plugins.base import Detector
from inmail_guard.plugins.hookspecs import hookimpl
from inmail_guard.plugins.manager import Plugins, build_plugin_manager

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger("inmail_guard.api.metrics")
#: Delivery lag: from an event's occurred_at to its delivery (retries wait up to an hour).
_LAG = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
        86400.0)
_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
         0.5, 1.0, 2.5)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "inmail_guard_decisions", "Decisions made, by outcome.", ["outcome"], registry=r)
        self.reasons = Counter(
            "inmail_guard_decision_reasons",
            "Reasons given in rejected decisions, by reason code.", ["code"], registry=r)
        self.evaluation = Histogram(
            "inmail_guard_evaluation_seconds", "Engine time per decision (Decision.duration_ms).",
            buckets=_FAST, registry=r)
        self.detector_seconds = Histogram(
            "inmail_guard_detector_seconds", "Time in one detector's check, by detector.",
            ["detector"], buckets=_FAST, registry=r)
        self.detector_errors = Counter(
            "inmail_guard_detector_errors", "Detector checks that raised, by detector.",
            ["detector"], registry=r)
        self.detector_hits = Counter(
            "inmail_guard_detector_signals",
            "Signals with a positive score, by detector (shadow ones included).",
            ["detector"], registry=r)
        self.shadow = Counter(
            "inmail_guard_shadow_would_reject",
            "Shadow-mode rules or detectors that would have rejected, by reason code and rule.",
            ["code", "rule"], registry=r)
        self.restrictions = Counter(
            "inmail_guard_sender_restrictions", "Decisions that restrict the sender.",
            registry=r)
        self.http_requests = Counter(
            "inmail_guard_http_requests", "HTTP requests, by method, route template and status.",
            ["method", "route", "status"], registry=r)
        self.http_seconds = Histogram(
            "inmail_guard_http_request_seconds", "HTTP request time, by method and route.",
            ["method", "route"], buckets=_FAST, registry=r)
        self.policy = Gauge(
            "inmail_guard_policy_info",
            "1 for the active policy (name, version); 0 for one this process replaced.",
            ["name", "version"], registry=r, multiprocess_mode="liveall")
        self.policy_loaded = Gauge(
            "inmail_guard_policy_loaded_timestamp_seconds",
            "When the active policy was loaded (Unix time).", registry=r,
            multiprocess_mode="livemax")
        self.reloads = Counter(
            "inmail_guard_policy_reloads", "Policy reload attempts, by result.", ["result"],
            registry=r)
        self.events_delivered = Counter(
            "inmail_guard_events_delivered",
            "Outbox events delivered to every sink, by event type.", ["type"], registry=r)
        self.event_failures = Counter(
            "inmail_guard_event_delivery_failures",
            "Delivery attempts a sink failed (the event is retried), by event type.",
            ["type"], registry=r)
        self.event_lag = Histogram(
            "inmail_guard_event_delivery_lag_seconds",
            "From an event's occurred_at to its delivery to every sink (retries included).",
            buckets=_LAG, registry=r)
        if not multiprocess():
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                r.register(_Shared(collector))
        self.outbox = OutboxCollector()
        r.register(self.outbox)
        self._active: tuple[str, str] | None = None
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._batched: dict[str, BatchedHistogram] = {}

    def detector_observer(self, detector: str) -> BatchedHistogram:
        found = self._batched.get(detector)
        if found is None:
            found = self._batched[detector] = BatchedHistogram(
                self.detector_seconds.labels(detector))
        return found

    def flush(self) -> None:
        for batched in list(self._batched.values()):
            batched.flush()

    def start_flusher(self, interval: float = 1.0) -> threading.Event:
        """Flush batched observations every ``interval`` s (other workers' scrapes see them)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                self.flush()
            self.flush()

        threading.Thread(target=loop, name="metrics-flush", daemon=True).start()
        return stop

    # --- policy ---------------------------------------------------------------------------

    def set_policy(self, name: str, version: str, loaded_at: float) -> None:
        if self._active is not None and self._active != (name, version):
            self.policy.labels(*self._active).set(0)
        self.policy.labels(name, version).set(1)
        self.policy_loaded.set(loaded_at)
        self._active = (name, version)

    # --- decisions ------------------------------------------------------------------------

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: ``labels()`` costs as much as the increment."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe_decision(self, decision: Decision) -> None:
        child = self.child
        child(self.decisions, decision.outcome).inc()
        for reason in decision.reasons:
            child(self.reasons, reason.code).inc()
        self.evaluation.observe(decision.duration_ms / 1000.0)
        for signal in decision.spam.signals:
            if signal.error is not None:
                child(self.detector_errors, signal.detector).inc()
            elif signal.score > 0:
                child(self.detector_hits, signal.detector).inc()
        for hit in decision.shadow:
            child(self.shadow, hit.code, hit.rule).inc()
        if decision.restrict_sender_until is not None:
            self.restrictions.inc()

    # --- events -----------------------------------------------------------------------------

    def observe_delivery(self, event: dict[str, Any], error: BaseException | None) -> None:
        type_ = str(event.get("type", ""))
        if error is not None:
            self.child(self.event_failures, type_).inc()
            return
        self.child(self.events_delivered, type_).inc()
        occurred = _parse_time(event.get("occurred_at"))
        if occurred is not None:
            self.event_lag.observe(max((datetime.now(UTC) - occurred).total_seconds(), 0.0))

    # --- exposition -----------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The exposition. Blocking (the outbox backlog is a database query): call it from a
        thread, not the event loop."""
        self.flush()
        if multiprocess():
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            registry.register(self.outbox)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _parse_time(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


class _Shared:
    """Another collector (or registry) as one of a registry's collectors, described by name
    only at collection: the process-wide default collectors are registered in every app's
    registry, and a registry refuses a collector whose metric names it already holds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def collect(self) -> Any:
        return self.inner.collect()

    def describe(self) -> list[Any]:
        return []


class OutboxCollector(Collector):
    """The outbox backlog, read from the database at each scrape: how many events wait,
    how many of those failed at least once, and the age of the oldest (the delivery lag of
    the events still queued). ``source`` returns the service, or None while there is none
    (it is never built by a scrape); a database that does not answer leaves the three out of
    that scrape, rather than failing it."""

    def __init__(self) -> None:
        self.source: Callable[[], Any] = lambda: None

    def collect(self) -> Iterator[Any]:
        from inmail_guard.store import outbox

        service = self.source()
        if service is None:
            return
        try:
            backlog = outbox.backlog(service.store)
        except Exception as exc:
            log.warning("outbox backlog not measured: %s", type(exc).__name__)
            return
        age = 0.0
        if backlog.oldest_created_at is not None:
            age = max((service.clock() - backlog.oldest_created_at).total_seconds(), 0.0)
        yield GaugeMetricFamily("inmail_guard_outbox_pending_events",
                                "Outbox events not delivered yet (the backlog).",
                                value=backlog.pending)
        yield GaugeMetricFamily("inmail_guard_outbox_failing_events",
                                "Undelivered outbox events whose delivery failed at least once.",
                                value=backlog.failing)
        yield GaugeMetricFamily("inmail_guard_outbox_oldest_pending_age_seconds",
                                "Age of the oldest undelivered event (0 when none waits).",
                                value=age)

    def describe(self) -> list[Any]:
        return []


class BatchedHistogram:
    """Observations for one labelled prometheus Histogram, counted locally and added to it in
    batches (:meth:`flush`: before each scrape and once a second).

    A detector histogram is observed once per detector per decision; prometheus-client's
    ``observe`` costs ~9k instructions (~17k in multiprocess mode, where every value lives in
    an mmap file) against ~1.5k here. The flush adds the counts to the child's per-bucket
    values (``_buckets``, ``_sum``: the same non-cumulative buckets ``observe`` increments).
    """

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds = [b for b in child._upper_bounds if b != float("inf")]
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = bisect_left(self.bounds, value)
        with self.lock:
            self.counts[i] += 1
            self.total += value

    def flush(self) -> None:
        with self.lock:
            counts, total = self.counts, self.total
            if not any(counts):
                return
            self.counts, self.total = [0] * len(counts), 0.0
        for i, n in enumerate(counts):
            if n:
                self.child._buckets[i].inc(n)
        self.child._sum.inc(total)


class DecisionMetrics:
    """The built-in metrics observer: an ordinary ``inmail_guard_decision`` plugin."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    @hookimpl
    def inmail_guard_decision(self, decision: Decision) -> None:
        self.metrics.observe_decision(decision)


class MeteredPlugins(Plugins):
    """The engine's plugin façade, timing each detector call into the app's metrics, and
    counting each event delivery (the outbox dispatcher delivers through it)."""

    def __init__(self, metrics: Metrics, extra: tuple[Any, ...] = ()) -> None:
        super().__init__(pm=build_plugin_manager(extra=(DecisionMetrics(metrics), *extra)))
        self._metrics = metrics
        self._observers: dict[Detector, BatchedHistogram] = {}

    def check(
        self, detector: Detector, message: Any, facts: Any, content: Any
    ) -> tuple[Any, BaseException | None, float]:
        signal, error, seconds = super().check(detector, message, facts, content)
        observer = self._observers.get(detector)
        if observer is None:
            observer = self._observers[detector] = self._metrics.detector_observer(
                detector.name)
        observer.observe(seconds)
        return signal, error, seconds

    def event(self, event: dict[str, Any]) -> None:
        try:
            super().event(event)
        except Exception as exc:
            self._metrics.observe_delivery(event, exc)
            raise
        self._metrics.observe_delivery(event, None)
