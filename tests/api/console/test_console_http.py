"""The console over HTTP (no browser): sessions, roles, CSRF, what is logged, what is shown,
and the files it serves."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inmail_guard.api.auth import KeyStore, parse_key_env
from inmail_guard.api.console.sessions import COOKIE, SessionSigner

from ..conftest import ADMIN, ADMIN_KEY, SERVICE_KEY, evaluate_body, member_body

PAGES = ("/console/playground", "/console/traffic", "/console/restrictions",
         "/console/analytics", "/console/policy", "/console/analytics.csv",
         "/console/traffic.json")
VENDOR = Path(__file__).parents[3] / "src/inmail_guard/api/console/static/vendor"


def login(client: TestClient, key: str) -> None:
    r = client.post("/console/login", data={"key": key, "next": "/console/policy"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/policy"


def csrf(client: TestClient, page: str = "/console/policy") -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(page).text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def restrict(client: TestClient, sender: str = "spammer") -> None:
    """Three abuse reports against ``sender``: restricted (cause abuse_reports)."""
    assert client.put(f"/v1/members/{sender}", json=member_body(plan="recruiter_lite"),
                      headers=ADMIN).status_code == 200
    for i in range(3):
        rid = f"victim{i}"
        assert client.put(f"/v1/members/{rid}", json=member_body(),
                          headers=ADMIN).status_code == 200
        sent = client.post("/v1/inmails", headers=ADMIN, json={"message": {
            "sender_id": sender, "recipient_id": rid, "subject": "Hi",
            "body": "Would you be open to a chat?"}})
        assert sent.status_code == 201, sent.text
        report = client.post(f"/v1/inmails/{sent.json()['inmail']['id']}/report",
                             headers=ADMIN, json={"member_id": rid, "reason": "spam"})
        assert report.status_code == 201, report.text
    state = client.get(f"/v1/members/{sender}/restriction", headers=ADMIN).json()
    assert state["restriction"]["cause"] == "abuse_reports"


@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_a_session_redirects_to_the_login_form(client: TestClient, path: str):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/login?next={path}"


def test_a_wrong_key_is_refused_with_a_clear_message_and_no_session(client: TestClient):
    r = client.post("/console/login", data={"key": "not-a-key"}, follow_redirects=False)
    assert r.status_code == 401
    assert "That key is not valid. Check it and try again" in r.text
    assert "not-a-key" not in r.text
    assert COOKIE not in r.headers.get("set-cookie", "")
    assert client.get("/console/policy", follow_redirects=False).status_code == 303


def test_an_empty_key_is_refused_with_a_clear_message(client: TestClient):
    r = client.post("/console/login", data={"key": " "}, follow_redirects=False)
    assert r.status_code == 422
    assert "Enter an API key (admin or service)." in r.text


def test_the_session_cookie_is_httponly_samesite_strict_and_does_not_hold_the_key(
        client: TestClient):
    r = client.post("/console/login", data={"key": SERVICE_KEY}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert SERVICE_KEY not in cookie
    assert hashlib.sha256(SERVICE_KEY.encode()).hexdigest() not in cookie
    page = client.get("/console/policy")
    assert page.status_code == 200
    assert "Signed in as <strong>svc</strong>" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_login_only_redirects_to_console_pages(client: TestClient):
    for target in ("https://evil.example/", "//evil.example/console/x", "/v1/policy",
                   "/console/login"):
        r = client.post("/console/login", data={"key": SERVICE_KEY, "next": target},
                        follow_redirects=False)
        assert r.headers["location"] == "/console/playground", target


def test_a_login_posted_from_another_site_is_refused(client: TestClient):
    r = client.post("/console/login", data={"key": ADMIN_KEY},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


def test_a_service_key_cannot_lift_and_the_restriction_stays(client: TestClient):
    restrict(client)
    login(client, SERVICE_KEY)
    page = client.get("/console/restrictions?member=spammer").text
    assert "Lifting a restriction needs an admin key." in page
    token = csrf(client)
    r = client.post("/console/restrictions/spammer/lift",
                    data={"csrf": token, "reason": "appeal accepted"})
    assert r.status_code == 403
    assert "This needs an admin key: you are signed in with &#39;svc&#39; (service)." in r.text
    state = client.get("/v1/members/spammer/restriction", headers=ADMIN).json()
    assert state["restriction"] is not None


def test_an_admin_lifts_with_a_reason_and_the_history_keeps_who_and_why(client: TestClient):
    restrict(client)
    login(client, ADMIN_KEY)
    assert "spammer" in client.get("/console/restrictions").text
    r = client.post("/console/restrictions/spammer/lift",
                    data={"csrf": csrf(client), "reason": "appeal accepted"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/restrictions?member=spammer&lifted=1"
    page = client.get(r.headers["location"]).text
    assert "Lifted 1 restriction of <code>spammer</code>." in page
    assert "console:ops" in page and "appeal accepted" in page
    assert client.get("/v1/members/spammer/restriction",
                      headers=ADMIN).json()["restriction"] is None


def test_a_lift_without_a_reason_is_refused_and_changes_nothing(client: TestClient):
    restrict(client)
    login(client, ADMIN_KEY)
    r = client.post("/console/restrictions/spammer/lift",
                    data={"csrf": csrf(client), "reason": "  "})
    assert r.status_code == 422
    assert "Say why the restriction is lifted" in r.text
    assert client.get("/v1/members/spammer/restriction",
                      headers=ADMIN).json()["restriction"] is not None


@pytest.mark.parametrize("token, origin", [("", None), ("0" * 64, None),
                                            (None, "https://evil.example")])
def test_a_post_without_the_session_csrf_token_or_from_another_site_changes_nothing(
        client: TestClient, token: str | None, origin: str | None):
    restrict(client)
    login(client, ADMIN_KEY)
    headers = {"Origin": origin} if origin else {}
    r = client.post("/console/restrictions/spammer/lift", headers=headers,
                    data={"csrf": csrf(client) if token is None else token, "reason": "x"})
    assert r.status_code == 403
    assert client.get("/v1/members/spammer/restriction",
                      headers=ADMIN).json()["restriction"] is not None


def test_a_session_ends_when_its_key_is_removed_or_its_cookie_is_altered():
    keys = KeyStore(parse_key_env(f"svc:service:{SERVICE_KEY}"))
    signer = SessionSigner(keys, secret=b"s" * 32)
    token, session = signer.issue(SERVICE_KEY)  # type: ignore[misc]
    assert signer.verify(token) == session
    payload, signature = token.split(".")
    assert signer.verify(f"{payload}.{'0' * len(signature)}") is None
    assert signer.verify(token + "x") is None
    rotated = KeyStore(parse_key_env("svc:service:a-new-key-0123456789"))
    assert SessionSigner(rotated, secret=b"s" * 32).verify(token) is None
    promoted = KeyStore(parse_key_env(f"svc:admin:{SERVICE_KEY}"))
    assert SessionSigner(promoted, secret=b"s" * 32).verify(token) is None
    assert SessionSigner(keys, secret=b"t" * 32).verify(token) is None
    assert signer.issue("wrong") is None


def test_sign_out_ends_the_session_in_the_browser(client: TestClient):
    login(client, SERVICE_KEY)
    r = client.post("/console/logout", data={"csrf": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    assert f'{COOKIE}=""' in r.headers["set-cookie"]
    assert client.get("/console/policy", follow_redirects=False).status_code == 303


def test_the_playground_counts_in_no_metric_and_no_traffic(client: TestClient):
    login(client, SERVICE_KEY)
    before = client.get("/metrics").text
    r = client.post("/console/playground", data={
        "csrf": csrf(client, "/console/playground"), "sender_id": "a", "recipient_id": "b",
        "subject": "Hi", "body": "Hello", "tags": "",
        "facts": '{"sender": {"id": "a", "plan": "basic"}, "recipient": {"id": "b"},'
                 ' "now": "2026-11-27T09:00:00Z", "connection_degree": 2}',
        "policy_mode": "live"})
    assert r.status_code == 200
    assert "✗ Rejected" in r.text and "plan_has_no_credits" in r.text
    assert 'inmail_guard_decisions_total{outcome="rejected"}' not in before
    assert 'inmail_guard_decisions_total{outcome="rejected"}' not in client.get("/metrics").text
    assert "No decisions yet" in client.get("/console/traffic").text


def test_a_bad_facts_field_is_named_and_no_decision_is_shown(client: TestClient):
    login(client, SERVICE_KEY)
    r = client.post("/console/playground", data={
        "csrf": csrf(client, "/console/playground"), "sender_id": "a", "recipient_id": "b",
        "subject": "Hi", "body": "Hello", "facts": '{"sender": {"id": "a"}, "now": 5}'})
    assert r.status_code == 422
    assert "<code>facts.recipient</code>: is required" in r.text
    assert 'id="outcome"' not in r.text


def test_traffic_lists_api_decisions_with_codes_and_counts_them(client: TestClient):
    login(client, SERVICE_KEY)
    ok = client.post("/v1/evaluate", json=evaluate_body(), headers=ADMIN)
    body = evaluate_body()
    body["facts"]["sender"]["plan"] = "basic"
    rejected = client.post("/v1/evaluate", json=body, headers=ADMIN)
    assert (ok.json()["outcome"], rejected.json()["outcome"]) == ("accepted", "rejected")
    data = client.get("/console/traffic.json").json()
    assert [r["outcome"] for r in data["rows"]] == ["rejected", "accepted"]
    assert data["rows"][0]["codes"] == ["plan_has_no_credits"]
    assert data["series"]["totals"]["outcomes"] == [["accepted", 1], ["rejected", 1]]
    assert data["series"]["totals"]["codes"] == [["plan_has_no_credits", 1]]
    only = client.get("/console/traffic.json?outcome=accepted").json()["rows"]
    assert [r["decision_id"] for r in only] == [ok.json()["decision_id"]]


@pytest.mark.parametrize("bodies, role, shown", [
    ("full", ADMIN_KEY, True), ("full", SERVICE_KEY, False), ("hash", ADMIN_KEY, False)])
def test_a_message_body_is_shown_only_to_admins_and_only_when_full_bodies_are_recorded(
        make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, bodies: str, role: str, shown: bool):
    monkeypatch.setenv("INMAIL_GUARD_RECORD_DIR", str(tmp_path / "rec"))
    monkeypatch.setenv("INMAIL_GUARD_RECORD_BODIES", bodies)
    client = make_client()
    login(client, role)
    body = evaluate_body(body="A very particular body text 4711")
    decision = client.post("/v1/evaluate", json=body, headers=ADMIN).json()
    page = client.get(f"/console/traffic/{decision['decision_id']}").text
    assert ("A very particular body text 4711" in page) is shown
    assert "4711" not in client.get("/console/traffic").text
    assert "4711" not in client.get("/console/traffic.json").text


def test_analytics_csv_export_is_the_api_csv(client: TestClient):
    restrict(client)
    login(client, SERVICE_KEY)
    r = client.get("/console/analytics.csv?group_by=sender")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="inmail-analytics.csv"'
    api = client.get("/v1/analytics?group_by=sender&format=csv", headers=ADMIN)
    assert r.text == api.text
    assert r.text.splitlines()[1].startswith("group,spammer,3,3,")


def test_analytics_refuses_a_reversed_range_and_says_so(client: TestClient):
    login(client, SERVICE_KEY)
    r = client.get("/console/analytics?since=2026-12-01&until=2026-11-01")
    assert r.status_code == 422
    assert "To: is before From." in r.text


def test_a_service_key_cannot_reload_the_policy(client: TestClient):
    login(client, SERVICE_KEY)
    assert "Reloading needs an admin key." in client.get("/console/policy").text
    r = client.post("/console/policy/reload", data={"csrf": csrf(client)})
    assert r.status_code == 403


def test_the_api_docs_load_their_assets_from_the_package(client: TestClient):
    for page, assets in (("/docs", ("swagger-ui/swagger-ui-bundle.js",
                                    "swagger-ui/swagger-ui.css")),
                         ("/redoc", ("redoc/redoc.standalone.js",))):
        html = client.get(page).text
        assert "https://" not in html, page
        for asset in assets:
            url = f"/console/static/vendor/{asset}"
            assert url in html
            r = client.get(url)
            assert r.status_code == 200
            assert r.content == (VENDOR / asset).read_bytes()
    assert "/console" not in client.get("/openapi.json").text


def test_the_vendored_files_are_the_ones_the_readme_names():
    table = (VENDOR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"`([\w./-]+)`[^|]*\| `([0-9a-f]{64})`", table)
    assert len(rows) == 5
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    for licence in ("chart.js/LICENSE.md", "swagger-ui/LICENSE", "redoc/LICENSE"):
        assert (VENDOR / licence).stat().st_size > 500
