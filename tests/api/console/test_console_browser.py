"""Each console page's main task, end to end in chromium against a real seeded ``serve``.

Run alone: ``.venv/bin/python -m pytest tests/api/console/test_console_browser.py``. A failing
test leaves a screenshot (see conftest.py for where)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .support import ADMIN_KEY, SERVICE_KEY, Server, call, seed, start

pytestmark = pytest.mark.slow

DEFAULT = resources.files("inmail_guard.policies").joinpath("default.yaml").read_text("utf-8")
PAGES = ("/console/playground", "/console/traffic", "/console/restrictions?member=spammy",
         "/console/analytics", "/console/policy")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start(tmp_path_factory.mktemp("console"), policy=DEFAULT)
    try:
        seed(srv.base)
        yield srv
    finally:
        srv.stop()


def sign_in(page: Any, server: Server, key: str, then: str = "/console/playground") -> None:
    page.goto(f"{server.base}{then}")
    assert urlsplit(page.url).path == "/console/login"  # redirected to sign in first
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.base}{then}")


def test_playground_shows_a_decision_as_a_person_reads_it(page: Any, server: Server):
    sign_in(page, server, SERVICE_KEY)
    page.get_by_label("Start from").select_option("spammy")
    page.get_by_role("link", name="Load example").click()
    page.wait_for_url(re.compile(r"example=spammy"))
    assert "guaranteed" in page.get_by_label("Subject").input_value()
    page.get_by_role("button", name="Evaluate").click()
    outcome = page.locator("#outcome")
    assert outcome.inner_text().startswith("✗ Rejected")
    reasons = page.locator("table.reasons tbody tr")
    assert reasons.count() == 1
    assert "spam_detected" in reasons.inner_text()
    assert "This message looks like spam and wasn't sent." in reasons.inner_text()
    signals = page.locator("table.signals tbody tr")
    detectors = {signals.nth(i).locator("td").first.inner_text()
                 for i in range(signals.count())}
    assert {"keywords", "volume"} <= detectors
    bar = page.locator("table.signals tbody tr", has_text="keywords").locator(".fill")
    assert bar.get_attribute("style") == "width: 66.7%"  # 10 of restrict_at 15
    assert "reject at 10.0 (marker) · restrict at 15.0" in page.locator(".legend").inner_text()
    assert "21 left" in page.locator(".decision").inner_text()  # credits: 4 of 25 used
    assert page.js_errors == []


def test_a_candidate_policy_changes_the_decision(page: Any, server: Server):
    sign_in(page, server, SERVICE_KEY)
    page.get_by_label("Candidate (paste YAML below)").check()
    page.get_by_label("Candidate policy YAML").fill(
        "extends: builtin:default\nname: strict-credits\nplans:\n"
        "  recruiter_lite: {monthly_credits: 4}\n")
    page.get_by_role("button", name="Evaluate").click()
    assert page.locator("#outcome").inner_text().startswith("✗ Rejected")
    assert "credits_exhausted" in page.locator("table.reasons").inner_text()
    assert "strict-credits" in page.locator(".result").inner_text()
    # the live policy still accepts the same message
    page.get_by_label("Live policy").check()
    page.get_by_role("button", name="Evaluate").click()
    assert page.locator("#outcome").inner_text().startswith("✓ Accepted")


def test_a_candidate_policy_error_is_shown_at_its_line(page: Any, server: Server):
    sign_in(page, server, SERVICE_KEY)
    page.get_by_label("Candidate (paste YAML below)").check()
    page.get_by_label("Candidate policy YAML").fill(
        "extends: builtin:default\nname: broken\nspam:\n  reject_at: lots\n")
    page.get_by_role("button", name="Evaluate").click()
    issues = page.locator("#policy-issues")
    assert "line 4, column 14" in issues.inner_text()
    assert "spam.reject_at" in issues.inner_text()
    assert "expected a number" in issues.inner_text()
    marked = page.locator("ol.source li.bad")
    assert marked.count() == 1
    assert marked.get_attribute("id") == "cand-line-4"
    assert "reject_at: lots" in marked.inner_text()
    assert page.locator("#outcome").count() == 0
    issues.get_by_role("link").click()  # the issue links to its line
    assert page.url.endswith("#cand-line-4")


def test_traffic_charts_decisions_and_updates_live(page: Any, server: Server):
    sign_in(page, server, SERVICE_KEY, "/console/traffic")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-outcomes')")
    total = page.evaluate("""() => Chart.getChart('chart-outcomes').data.datasets
        .reduce((n, d) => n + d.data.reduce((a, b) => a + b, 0), 0)""")
    assert total >= 15  # the seeded sends and evaluations
    latest = page.locator("#latest tbody")
    assert "plan_has_no_credits" in latest.inner_text()
    status, decision = call(server.base, "POST", "/v1/evaluate", {
        "message": {"sender_id": "live1", "recipient_id": "live2", "subject": "Hi",
                    "body": "Hello"},
        "facts": {"sender": {"id": "live1", "plan": "premium_business"},
                  "recipient": {"id": "live2"}, "now": "2026-11-27T09:00:00Z",
                  "connection_degree": 1}}, SERVICE_KEY)
    assert status == 200 and decision["reasons"][0]["code"] == "recipient_is_connection"
    first = latest.locator("tr").first
    first.get_by_text(decision["decision_id"][:12]).wait_for(timeout=12_000)  # live refresh
    assert "recipient_is_connection" in first.inner_text()
    first.get_by_role("link").click()
    assert page.get_by_role("heading", level=1).inner_text() == \
        f"Decision {decision['decision_id']}"
    assert page.locator("#body-hidden").inner_text() == \
        "Not recorded: this server keeps no message bodies."
    assert page.js_errors == []


def test_an_admin_reads_the_reports_and_lifts_a_restriction_with_a_reason(
        page: Any, server: Server):
    sign_in(page, server, ADMIN_KEY, "/console/restrictions")
    row = page.locator("#active tbody tr", has_text="spammy")
    assert "abuse_reports" in row.inner_text()
    row.get_by_role("link", name="Reports & history of spammy").click()
    assert page.locator("#reports tbody tr").count() == 3
    assert "unsolicited sales pitch" in page.locator("#reports").inner_text()
    page.get_by_label("Reason (kept in the history)").fill("appeal accepted by T&S")
    page.get_by_role("button", name="Lift restriction").click()
    assert page.locator("#lift-result").inner_text() == "Lifted 1 restriction of spammy."
    history = page.locator("#history tbody tr").first.inner_text()
    assert "console:ops" in history and "appeal accepted by T&S" in history
    assert "No member is restricted." in page.locator("#active").inner_text()
    assert call(server.base, "GET", "/v1/members/spammy/restriction",
                key=SERVICE_KEY)[1]["restriction"] is None


def test_a_service_key_sees_restrictions_but_no_lift_form(page: Any, server: Server):
    sign_in(page, server, SERVICE_KEY, "/console/restrictions?member=spammy")
    assert page.locator("#lift-needs-admin").inner_text() == \
        "Lifting a restriction needs an admin key."
    assert page.locator("#lift-form").count() == 0


def test_campaign_analytics_by_tag_with_chart_table_and_csv(page: Any, server: Server,
                                                            tmp_path: Path):
    sign_in(page, server, SERVICE_KEY, "/console/analytics")
    page.get_by_label("Group by").select_option("tag")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"group_by=tag"))
    keys = page.locator("#analytics-table tbody th").all_inner_texts()
    assert keys == ["blast", "enterprise-pilot", "platform-team", "q4-hiring"]
    pilot = page.locator("#analytics-table tbody tr", has_text="enterprise-pilot")
    assert pilot.locator("td").all_inner_texts()[:5] == ["5", "3", "2", "0", "1"]
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-rates')")
    labels = page.evaluate("() => Chart.getChart('chart-rates').data.labels")
    assert labels == keys
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("row,key,sent,delivered,opened,replied,expired,retracted")
    assert lines[2].startswith("group,enterprise-pilot,5,5,3,2,0,1,0.6,0.4,")
    assert page.js_errors == []


def test_policy_page_explains_the_policy_and_an_admin_reloads_it(page: Any, server: Server):
    sign_in(page, server, ADMIN_KEY, "/console/policy")
    version = page.locator("#policy-version").inner_text()
    assert version.startswith("sha256:")
    assert page.get_by_role("heading", name="Plans and credits").is_visible()
    assert page.locator("#disk-state").inner_text() == "unchanged since it was loaded"
    assert server.policy_path is not None
    try:
        server.policy_path.write_text(DEFAULT.replace("  reject_at: 10", "  reject_at: [10"))
        page.reload()
        assert page.locator("#disk-state").inner_text().startswith(
            "changed since it was loaded")
        page.get_by_role("button", name=re.compile("^Reload from")).click()
        result = page.locator("#reload-result")
        assert "The previous policy stays active." in result.inner_text()
        assert re.search(r"line \d+, column \d+", result.inner_text())
        assert page.locator("#policy-version").inner_text() == version
        assert page.locator("#reload-counts").inner_text() == "0 succeeded, 1 failed"
    finally:
        server.policy_path.write_text(DEFAULT)
    page.goto(f"{server.base}/console/policy")
    page.get_by_role("button", name=re.compile("^Reload from")).click()
    assert page.locator("#reload-result").inner_text() == "Reloaded: the policy is unchanged."
    assert page.locator("#reload-counts").inner_text() == "1 succeeded, 1 failed"


def test_keyboard_only_sign_in_and_visible_focus(page: Any, server: Server):
    page.goto(f"{server.base}/console/policy")
    page.wait_for_function("document.activeElement.id === 'key'")  # focused on arrival
    page.keyboard.type(SERVICE_KEY)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/console/policy")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => { const e = document.activeElement;
        const s = getComputedStyle(e); return [e.textContent, s.outlineStyle, s.outlineWidth]; }""")
    assert focused == ["Playground", "solid", "3px"]
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/console/playground")


def test_every_page_labels_its_inputs_fits_the_laptop_screen_and_loads_nothing_external(
        page: Any, server: Server):
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url)
            if urlsplit(r.url).hostname not in ("127.0.0.1", None) else None)
    sign_in(page, server, SERVICE_KEY)
    for path in PAGES:
        page.goto(f"{server.base}{path}")
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)""")
        assert unlabelled == [], path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, f"{path} scrolls sideways ({width}px)"
    assert external == []
    assert page.js_errors == []


def test_the_api_docs_work_offline(page: Any, server: Server):
    blocked: list[str] = []

    def offline(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(f"{server.base}/docs")
    page.locator(".swagger-ui .opblock-summary-path", has_text="/v1/evaluate").first.wait_for()
    assert blocked == []
    page.goto(f"{server.base}/redoc")
    page.locator("h2", has_text="Evaluate one send against the active policy").wait_for()
    # ReDoc's footer asks for the Redocly logo from its CDN and hides it when that fails.
    assert [u for u in blocked if not u.startswith("https://cdn.redoc.ly/")] == []
