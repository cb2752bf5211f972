"""The console on a real ``inmail-guard serve``: no key in any logged line or URL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .support import ADMIN_KEY, SERVICE_KEY, Server, seed, start

WRONG_KEY = "wrong-console-key-5555555555"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match
    return match.group(1)


@pytest.mark.slow
def test_no_key_appears_in_any_logged_line_or_url(server: Server):
    seed(server.base)
    urls: list[str] = []

    def record(response: httpx.Response) -> None:
        urls.append(str(response.request.url))
        urls.append(response.headers.get("location", ""))

    for key in (WRONG_KEY, SERVICE_KEY, ADMIN_KEY):
        with httpx.Client(base_url=server.base, event_hooks={"response": [record]},
                          headers={"Origin": server.base}) as client:
            r = client.post("/console/login", data={"key": key, "next": "/console/traffic"},
                            follow_redirects=True)
            if key == WRONG_KEY:
                assert r.status_code == 401
                continue
            for page in ("/console/playground", "/console/traffic", "/console/traffic.json",
                         "/console/restrictions?member=spammy", "/console/analytics",
                         "/console/analytics.csv", "/console/policy"):
                assert client.get(page).status_code == 200, page
            token = _csrf(client.get("/console/policy"))
            client.post("/console/playground", data={"csrf": token, "facts": "{}"})
            client.post("/console/restrictions/spammy/lift",
                        data={"csrf": token, "reason": "checked"}, follow_redirects=True)
            client.post("/console/policy/reload", data={"csrf": token})
            client.post("/console/logout", data={"csrf": token})
    server.stop()
    log = server.log_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    console_lines = [x for x in lines if str(x.get("path", "")).startswith("/console")]
    assert len(console_lines) > 20
    assert {"svc", "ops"} <= {x.get("key_name") for x in console_lines}
    assert any(x.get("msg") == "console sign-in refused: invalid key" for x in lines)
    assert any(x.get("msg") == "restriction lifted" and x.get("key_name") == "ops"
               for x in lines)
    for key in (SERVICE_KEY, ADMIN_KEY, WRONG_KEY):
        assert key not in log
        assert not [u for u in urls if key in u]


@pytest.mark.slow
@pytest.mark.parametrize("ci, expected", [("", "1 skipped"), ("true", "1 error")])
def test_without_chromium_the_browser_tests_skip_saying_how_but_fail_under_ci(
        tmp_path: Path, ci: str, expected: str):
    import os
    import subprocess
    import sys

    here = Path(__file__).parent
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--run-slow",
         str(here / "test_console_browser.py"), "-k", "keyboard"],
        capture_output=True, text=True, cwd=here.parents[2], timeout=120,
        env={**os.environ, "CI": ci, "INMAIL_GUARD_TEST_CHROMIUM": str(tmp_path / "none")})
    assert expected in done.stdout, done.stdout[-2000:]
    assert f"no chromium at {tmp_path / 'none'}: apt-get install chromium" in done.stdout
    if ci:
        assert "CI=true: the console's browser tests must run" in done.stdout
