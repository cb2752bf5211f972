from __future__ import annotations

import json
from pathlib import Path

from inmail_guard import load_policy
from inmail_guard.workflow.diff import diff_policies

from .policies import default_data, write_policy


def pair(tmp_path: Path, edit) -> tuple[Path, Path]:
    old = default_data()
    old["spam"]["detectors"]["keywords"] = {"phrases": ["act now", "free money"], "score": 2.5}
    old["spam"]["detectors"]["automation"] = {"score": 6}
    old["blocklists"][1]["ids"] = ["s1"]
    new = json.loads(json.dumps(old))
    edit(new)
    return (write_policy(tmp_path / "old.yaml", old), write_policy(tmp_path / "new.yaml", new))


def edit_everything(p: dict) -> None:
    p["plans"]["premium_business"]["monthly_credits"] = 15
    p["plans"]["team_trial"] = {"monthly_credits": 2}
    p["spam"]["detectors"]["keywords"]["phrases"] += ["guaranteed", "wire transfer", "crypto"]
    p["rules_mode"] = {"automation": "shadow"}
    p["blocklists"][1]["ids"] += ["s2", "s3"]
    p["content"]["body"]["max_chars"] = 2000
    p["lifecycle"]["expire_unopened_after"] = "14d"
    p["spam"]["reject_at"] = 8
    p["eligibility"]["honor_opt_out"] = False


def test_exact_change_lines(tmp_path: Path) -> None:
    old, new = pair(tmp_path, edit_everything)
    changes = diff_policies(load_policy(old), load_policy(new))
    assert [c.summary for c in changes] == [
        "premium_business credits 10 → 15",
        "plan team_trial added (2 credits)",
        "eligibility.honor_opt_out true → false",
        "blocklist banned_senders: 2 ids added",
        "content.body.max_chars 3000 → 2000",
        "lifecycle.expire_unopened_after 7d → 14d",
        "spam.reject_at 10 → 8",
        "keywords: 3 phrases added",
        "automation now shadow",
    ]
    keywords = changes[7]
    assert keywords.details == ("added: crypto", "added: guaranteed", "added: wire transfer")


def test_removals_and_detectors(tmp_path: Path) -> None:
    def edit(p: dict) -> None:
        p["spam"]["detectors"]["keywords"]["phrases"] = ["act now"]
        p["spam"]["detectors"]["keywords"]["score"] = 3
        del p["spam"]["detectors"]["automation"]
        p["spam"]["detectors"]["test_string"]["enabled"] = False
        p["blocklists"][1]["ids"] = []
        p["blocklists"].append({"name": "vips", "applies_to": "recipient", "ids": ["v1"]})
        p["content"]["formatting"].remove("link")

    old, new = pair(tmp_path, edit)
    summaries = [c.summary for c in diff_policies(load_policy(old), load_policy(new))]
    # Detector settings come in the order of the detector's Config fields.
    assert sorted(summaries) == sorted([
        "blocklist banned_senders: 1 ids removed",
        "blocklist vips added (recipient, 1 ids, recipient_protected)",
        "content.formatting: 1 formats removed",
        "test_string now disabled",
        "keywords: 1 phrases removed",
        "keywords score 2.5 → 3",
        "detector automation removed",
    ])


def test_equal_policies_and_spelled_out_defaults(tmp_path: Path) -> None:
    def edit(p: dict) -> None:
        p["spam"]["detectors"]["test_string"]["enabled"] = True  # the default, spelled out
        p["eligibility"]["honor_blocks"] = True

    old, new = pair(tmp_path, edit)
    assert diff_policies(load_policy(old), load_policy(new)) == []


def test_cli_diff_exit_codes(tmp_path: Path, runner, policy_cli) -> None:
    old, new = pair(tmp_path, edit_everything)
    same = runner.invoke(policy_cli, ["diff", str(old), str(old)])
    assert same.exit_code == 0
    assert "no meaningful differences" in same.output
    differ = runner.invoke(policy_cli, ["diff", str(old), str(new)])
    assert differ.exit_code == 1
    assert "premium_business credits 10 → 15" in differ.output
    assert "added: wire transfer" in differ.output
    md = runner.invoke(policy_cli, ["diff", str(old), str(new), "--format", "markdown"])
    assert "- keywords: 3 phrases added" in md.output
    assert "  - added: crypto" in md.output
    js = runner.invoke(policy_cli, ["diff", str(old), str(new), "--format", "json"])
    assert json.loads(js.output)[0] == {
        "path": "plans.premium_business.monthly_credits",
        "summary": "premium_business credits 10 → 15", "details": []}
    (tmp_path / "bad.yaml").write_text("name: x\nplans: {}\n")
    bad = runner.invoke(policy_cli, ["diff", str(old), str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 2
