from __future__ import annotations

from importlib import resources
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import SVC, evaluate_body

DEFAULT = resources.files("inmail_guard.policies").joinpath("default.yaml").read_text("utf-8")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_decisions_detectors_http_and_policy(client):
    client.post("/v1/evaluate", json=evaluate_body(), headers=SVC)
    rejected = evaluate_body(body="INMAIL-GUARD-TEST-SPAM-9F3A7C")
    client.post("/v1/evaluate", json=rejected, headers=SVC)
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    assert got[("inmail_guard_decisions_total", (("outcome", "accepted"),))] == 1
    assert got[("inmail_guard_decisions_total", (("outcome", "rejected"),))] == 1
    assert got[("inmail_guard_decision_reasons_total", (("code", "spam_detected"),))] == 1
    assert got[("inmail_guard_evaluation_seconds_count", ())] == 2
    assert got[("inmail_guard_detector_seconds_count", (("detector", "test_string"),))] == 2
    assert got[("inmail_guard_detector_signals_total", (("detector", "test_string"),))] == 1
    assert got[("inmail_guard_sender_restrictions_total", ())] == 1
    key = ("inmail_guard_http_requests_total",
           (("method", "POST"), ("route", "/v1/evaluate"), ("status", "200")))
    assert got[key] == 2
    assert got[("inmail_guard_http_request_seconds_count",
                (("method", "POST"), ("route", "/v1/evaluate")))] == 2
    policy = client.get("/v1/policy", headers=SVC).json()
    assert got[("inmail_guard_policy_info",
                (("name", policy["name"]), ("version", policy["version"])))] == 1


def test_unmatched_routes_do_not_explode_label_cardinality(client):
    for i in range(3):
        client.get(f"/nope/{i}")
    got = samples(client.get("/metrics").text)
    key = ("inmail_guard_http_requests_total",
           (("method", "GET"), ("route", "unmatched"), ("status", "404")))
    assert got[key] == 3


def test_shadow_would_reject_is_counted(make_client, tmp_path: Path):
    path = tmp_path / "shadow.yaml"
    path.write_text(DEFAULT.replace("rules_mode: {}", "rules_mode: {eligibility.honor_opt_out:"
                                                      " shadow}"))
    client = make_client(policy=str(path))
    body = evaluate_body()
    body["facts"]["recipient"]["accepts_inmail"] = False
    decision = client.post("/v1/evaluate", json=body, headers=SVC).json()
    assert decision["outcome"] == "accepted"
    assert decision["shadow"][0]["code"] == "recipient_opted_out"
    got = samples(client.get("/metrics").text)
    assert got[("inmail_guard_shadow_would_reject_total",
                (("code", "recipient_opted_out"), ("rule", "eligibility.honor_opt_out")))] == 1


def test_each_app_has_its_own_registry(make_client):
    one, two = make_client(), make_client()
    one.post("/v1/evaluate", json=evaluate_body(), headers=SVC)
    got = samples(two.get("/metrics").text)
    assert ("inmail_guard_decisions_total", (("outcome", "accepted"),)) not in got


def test_detector_errors_are_counted(make_client):
    from inmail_guard.plugins.teststring import MarkerDetector

    client = make_client()
    original = MarkerDetector.check

    def boom(self, message, facts, content):
        raise RuntimeError("detector down")

    MarkerDetector.check = boom
    try:
        decision = client.post("/v1/evaluate", json=evaluate_body(), headers=SVC).json()
    finally:
        MarkerDetector.check = original
    signal = next(s for s in decision["spam"]["signals"] if s["detector"] == "test_string")
    assert signal["error"].startswith("RuntimeError")
    got = samples(client.get("/metrics").text)
    assert got[("inmail_guard_detector_errors_total", (("detector", "test_string"),))] == 1


def test_batched_histogram_adds_up_like_observe():
    from prometheus_client import CollectorRegistry, Histogram

    from inmail_guard.api.metrics import BatchedHistogram

    registry = CollectorRegistry()
    buckets = (0.001, 0.01, 0.1)
    plain = Histogram("plain", "p", ["d"], buckets=buckets, registry=registry).labels("x")
    batched = BatchedHistogram(
        Histogram("batched", "b", ["d"], buckets=buckets, registry=registry).labels("x"))
    for value in (0.0005, 0.001, 0.002, 0.05, 0.1, 0.5, 3.0, 0.0):
        plain.observe(value)
        batched.observe(value)
    batched.flush()
    batched.flush()  # nothing left: a no-op
    got = samples(generate_latest(registry).decode())
    for suffix in ("_bucket", "_count", "_sum"):
        left = {k[1]: v for k, v in got.items() if k[0] == f"plain{suffix}"}
        right = {k[1]: v for k, v in got.items() if k[0] == f"batched{suffix}"}
        assert left == right and left, suffix


def _put_members(client):
    from .conftest import member_body

    for member_id, attrs in {"alice": {"plan": "premium_business"}, "bob": {}}.items():
        assert client.put(f"/v1/members/{member_id}", json=member_body(**attrs),
                          headers=SVC).status_code == 200


def test_outbox_backlog_lag_and_deliveries(make_client):
    from datetime import UTC, datetime, timedelta

    from inmail_guard import hookimpl
    from inmail_guard.service.results import ManualClock

    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    client = make_client(clock=clock)
    _put_members(client)
    got = samples(client.get("/metrics").text)
    assert got[("inmail_guard_outbox_pending_events", ())] == 0
    assert got[("inmail_guard_outbox_oldest_pending_age_seconds", ())] == 0
    message = {"sender_id": "alice", "recipient_id": "bob", "subject": "Hi", "body": "Hello"}
    assert client.post("/v1/inmails", json={"message": message},
                       headers=SVC).status_code == 201
    clock.advance(timedelta(seconds=90))
    got = samples(client.get("/metrics").text)
    assert got[("inmail_guard_outbox_pending_events", ())] == 1
    assert got[("inmail_guard_outbox_failing_events", ())] == 0
    assert got[("inmail_guard_outbox_oldest_pending_age_seconds", ())] == 90

    class Flaky:
        fail = True

        @hookimpl
        def inmail_guard_event(self, event):
            if self.fail:
                raise RuntimeError("CRM down")

    service = client.app.state.services.get()
    sink = Flaky()
    service.plugins.pm.register(sink, name="flaky")
    try:
        assert service.dispatch_events() == 0
        got = samples(client.get("/metrics").text)
        assert got[("inmail_guard_outbox_failing_events", ())] == 1
        assert got[("inmail_guard_event_delivery_failures_total",
                    (("type", "inmail.sent"),))] == 1
        sink.fail = False
        clock.advance(timedelta(seconds=5))
        assert service.dispatch_events() == 1
    finally:
        service.plugins.pm.unregister(sink)
    got = samples(client.get("/metrics").text)
    assert got[("inmail_guard_outbox_pending_events", ())] == 0
    assert got[("inmail_guard_outbox_oldest_pending_age_seconds", ())] == 0
    assert got[("inmail_guard_events_delivered_total", (("type", "inmail.sent"),))] == 1
    assert got[("inmail_guard_event_delivery_lag_seconds_count", ())] == 1


def test_outbox_metrics_never_build_the_service_nor_fail_the_scrape(make_client, monkeypatch):
    from inmail_guard.store import outbox

    client = make_client()
    slot = client.app.state.services
    built, slot._service = slot._service, None  # as before the first request built it
    try:
        assert "inmail_guard_outbox_pending_events" not in client.get("/metrics").text
        assert slot.built() is None
    finally:
        slot._service = built

    def down(store):
        raise OSError("database down")

    monkeypatch.setattr(outbox, "backlog", down)
    r = client.get("/metrics")
    assert r.status_code == 200 and "inmail_guard_decisions_total" in r.text
    assert "inmail_guard_outbox_pending_events" not in r.text


def test_standard_process_metrics(client):
    got = samples(client.get("/metrics").text)
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds"):
        assert (name, ()) in got, name
    assert any(name == "python_info" for name, _ in got)
    assert any(name.startswith("python_gc_") for name, _ in got)


def test_multiprocess_mode_has_the_backlog_but_not_one_process_metrics(make_client, tmp_path,
                                                                     monkeypatch):
    (tmp_path / "prom").mkdir()  # not tmp_path itself: it holds the SQLite api.db
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    text = make_client().get("/metrics").text
    assert "inmail_guard_outbox_pending_events 0.0" in text
    assert "process_cpu_seconds_total" not in text
