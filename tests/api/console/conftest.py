"""Browser fixtures: Playwright driving Debian's chromium (never a browser Playwright downloads),
a seeded ``serve`` per module, and a screenshot of the page when a test fails.

Without playwright or chromium the browser tests skip, saying how to enable them; with
``CI=true`` they fail instead. Screenshots of failures go to ``INMAIL_GUARD_TEST_ARTIFACTS``
(default: ``<tmp>/inmail-guard-console-artifacts``), one PNG per test, named after it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unavailable import skip_or_fail

CHROMIUM = os.environ.get("INMAIL_GUARD_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("INMAIL_GUARD_TEST_ARTIFACTS")
                 or Path(tempfile.gettempdir()) / "inmail-guard-console-artifacts")
VIEWPORT = {"width": 1366, "height": 768}


def browser_unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[test]'"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no chromium at {CHROMIUM}: apt-get install chromium (or point"
                " INMAIL_GUARD_TEST_CHROMIUM at one); never `playwright install`")
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = browser_unavailable()
    if reason is not None:
        skip_or_fail(f"{reason}; then the console's browser tests run",
                     in_ci=f"{reason} (CI=true: the console's browser tests must run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
            path = ARTIFACTS / f"{name}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of the failed page: {path}")
            except Exception as exc:  # the page may be gone; the failure is what matters
                print(f"\nno screenshot ({type(exc).__name__}: {exc})")
        context.close()
