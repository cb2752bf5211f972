"""Statements in the docs a first-time reader acts on, checked against the code.

Each test pins one sentence or example that had drifted from what the product does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import inmail_guard as ig
from inmail_guard.policies.loader import load_policy_text
from inmail_guard.workflow.coverage import reachable_codes

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_cites_a_design_document_the_repository_does_not_have(page: Path) -> None:
    assert not (ROOT / "DESIGN.md").exists()
    assert "DESIGN" not in page.read_text(encoding="utf-8")


def test_no_source_file_cites_the_design_document_either() -> None:
    package = ROOT / "src" / "inmail_guard"
    citing = sorted(str(path.relative_to(package)) for path in package.rglob("*")
                    if path.suffix in {".py", ".yaml", ".md"}
                    and "DESIGN" in path.read_text(encoding="utf-8"))
    assert citing == []


def test_the_restricted_sender_message_is_documented_as_sent() -> None:
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    decision = ig.Engine(ig.default_policy()).evaluate(
        ig.Message("a", "b", subject="Staff engineer role", body="Hello"),
        ig.Facts(sender=ig.Member("a", plan="premium_business"), recipient=ig.Member("b"),
                 connection_degree=2, now=now, restricted_until=now + timedelta(hours=24)))
    sent = decision.reasons[0].sender_message
    assert sent == ("Your ability to send InMail is temporarily limited until"
                    " 2026-11-28 09:00 UTC.")
    row = next(line for line in read("docs/decisions.md").splitlines()
               if line.startswith("| `sender_restricted` |"))
    documented = row.rstrip(" |").rsplit(" | ", 1)[1]
    assert documented == ("Your ability to send InMail is temporarily limited until"
                          " {YYYY-MM-DD HH:MM} UTC.")


def test_workflow_lists_exactly_the_codes_the_shipped_policy_can_give() -> None:
    text = " ".join(read("docs/workflow.md").split())
    listed = re.search(r"The shipped suite covers, with the default policy: (.*?)\. ", text)
    assert listed is not None
    codes = set(re.findall(r"`([a-z_]+)`", listed.group(1)))
    policy = ig.default_policy()
    assert codes == reachable_codes(policy, ig.Engine(policy))
    assert "formatting_not_allowed" not in codes


def test_formatting_not_allowed_needs_a_policy_that_enables_it() -> None:
    policy = load_policy_text("name: x\nextends: builtin:default\ncontent: {raw_html: reject}\n")
    assert "formatting_not_allowed" in reachable_codes(policy, ig.Engine(policy))


def test_detectors_page_counts_the_shipped_detectors() -> None:
    policy = ig.default_policy()
    assert len(ig.Engine(policy).detectors) == 7
    assert "inmail-guard ships seven spam detectors" in read("docs/detectors.md")


def test_the_restrict_at_error_example_names_the_path_the_loader_gives() -> None:
    with pytest.raises(ig.PolicyError) as info:
        load_policy_text("name: x\nextends: builtin:default\n"
                         "spam:\n  reject_at: 20\n  restrict_at: 15\n", source="acme.yaml")
    message = str(info.value)
    assert message == ("acme.yaml:5:3: spam.restrict_at: expected restrict_at >= reject_at,"
                       " found restrict_at 15.0 < reject_at 20.0")
    assert message.split(":", 3)[3] in read("docs/policies.md")


def test_load_policy_text_is_documented_where_it_can_be_imported_from() -> None:
    assert not hasattr(ig, "load_policy_text")
    assert "(from\n`inmail_guard.policies.loader`" in read("docs/policies.md")


def test_readme_decision_json_is_the_default_policys() -> None:
    readme = read("README.md")
    assert '"credits": {"plan": "premium_business", "limit": 10' in readme
    assert ig.default_policy().plans["premium_business"].monthly_credits == 10
    assert "with the default policy (10 credits for `premium_business`" in " ".join(
        readme.split())


def test_deploy_gives_the_shipped_models_size() -> None:
    size = (ROOT / "src" / "inmail_guard" / "models" / "spam-v1.joblib").stat().st_size
    mb = round(size / 1_000_000)
    assert f"The package carries the shipped model ({mb} MB)" in read("docs/deploy.md")
