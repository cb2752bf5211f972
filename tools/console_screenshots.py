"""Take the screenshots of docs/console.md from a seeded demo server.

    .venv/bin/python tools/console_screenshots.py [OUT_DIR]    # default docs/img/console

Starts ``inmail-guard serve`` on a free loopback port over a temporary database, puts demo data
in through the HTTP API (tests/api/console/support.py), and drives Debian's chromium with
Playwright at 1366x768. Each PNG is reduced to a 256-colour palette (Pillow) to stay small.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "api" / "console"))

import support  # noqa: E402  (tests/api/console/support.py)

CHROMIUM = "/usr/bin/chromium"
SHOTS = (  # (file, path, what to do before the shot, full page?)
    ("playground.png", "/console/playground?example=spammy", "evaluate", False),
    ("playground-candidate-error.png", "/console/playground", "candidate_error", False),
    ("traffic.png", "/console/traffic", "charts", False),
    ("restrictions.png", "/console/restrictions?member=spammy", None, False),
    ("analytics.png", "/console/analytics?group_by=tag", "charts", False),
    ("policy.png", "/console/policy", None, False),
)


def main(out: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = support.start(Path(tmp))
        try:
            support.seed(server.base)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.goto(f"{server.base}/console/login")
                page.get_by_label("API key").fill(support.ADMIN_KEY)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url("**/console/playground")
                for name, path, action, full in SHOTS:
                    page.goto(server.base + path)
                    if action == "evaluate":
                        page.get_by_role("button", name="Evaluate").click()
                        page.locator("#outcome").wait_for()
                        page.locator("#result-title").scroll_into_view_if_needed()
                    elif action == "candidate_error":
                        page.get_by_label("Candidate (paste YAML below)").check()
                        page.get_by_label("Candidate policy YAML").fill(
                            "extends: builtin:default\nname: stricter\nspam:\n"
                            "  reject_at: 8\n  restrict_at: lots\n")
                        page.get_by_role("button", name="Evaluate").click()
                        page.locator("#policy-issues").wait_for()
                    elif action == "charts":
                        page.wait_for_timeout(500)
                    target = out / name
                    page.screenshot(path=str(target), full_page=full)
                    Image.open(target).convert("RGB").quantize(colors=256).save(
                        target, optimize=True)
                    print(f"{target} {target.stat().st_size // 1024} KiB")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "console")
