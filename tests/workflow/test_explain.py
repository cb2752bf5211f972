from __future__ import annotations

import json
from pathlib import Path

from inmail_guard import load_policy
from inmail_guard.workflow.explain import explain_policy
from inmail_guard.workflow.render import sections_markdown

from .policies import default_data, write_policy


def custom_policy(tmp_path: Path):
    data = default_data()
    data["blocklists"][1]["ids"] = ["spammer-1", "spammer-2"]
    data["spam"]["detectors"]["test_string"] = {"score": 50, "on_error": "fail_closed"}
    data["rules_mode"] = {"content.images": "shadow"}
    data["credits"]["rollover_cap"] = 5
    return load_policy(write_policy(tmp_path / "custom.yaml", data))


def test_markdown_has_the_key_lines(tmp_path: Path) -> None:
    md = sections_markdown(explain_policy(custom_policy(tmp_path)))
    for line in [
        "## Plans and credits",
        "| premium_business | 10 |  |",
        "| basic | 0 | cannot send InMail (plan_has_no_credits) |",
        "- Unused credits roll over: up to 5.",
        "| eligibility.honor_opt_out | on | members who opted out of InMail can't be contacted"
        " | recipient_opted_out | enforce |",
        "| banned_senders | sender | 2 ids |  | sender_banned | enforce |",
        "| platform_employees | recipient | 0 ids | is_employee=true | recipient_protected"
        " | enforce |",
        "| body | required, at most 3,000 characters of rendered text (markup not counted)"
        " | enforce |",
        "| images | not allowed | shadow |",
        "- Unopened InMail expires after 7 days.",
        "- A send whose spam score reaches 10 is rejected (spam_detected).",
        "- At 15 the sender is also restricted: 24 hours, then 3 days, then 30 days"
        " (the last repeats).",
        "| test_string | on | enforce | 50 | fail_closed | marker: INMAIL-GUARD-TEST-SPAM-9F3A7C |",
        "## Shadowed rules",
        "| content.images | rule |  |",
    ]:
        assert line in md.splitlines(), line


def test_long_lists_are_summarised(tmp_path: Path) -> None:
    data = default_data()
    data["spam"]["detectors"]["not_installed"] = {"phrases": [f"p{i}" for i in range(40)]}
    md = sections_markdown(explain_policy(load_policy(write_policy(tmp_path / "p.yaml", data))))
    assert "phrases: 40 phrases (detector not installed)" in md


def test_cli_explain(tmp_path: Path, runner, policy_cli) -> None:
    path = write_policy(tmp_path / "p.yaml", default_data())
    text = runner.invoke(policy_cli, ["explain", str(path)])
    assert text.exit_code == 0, text.output
    assert "Plans and credits" in text.output and "premium_business" in text.output
    md = runner.invoke(policy_cli, ["explain", "builtin:default", "--format", "markdown"])
    assert md.exit_code == 0
    assert "| recruiter_corporate | 50 |  |" in md.output
    js = runner.invoke(policy_cli, ["explain", "builtin:default", "--format", "json"])
    assert json.loads(js.output)[1]["title"] == "Plans and credits"
    bad = runner.invoke(policy_cli, ["explain", str(tmp_path / "missing.yaml")])
    assert bad.exit_code != 0
    assert "missing.yaml" in bad.output


def test_an_overlay_does_not_show_its_parents_description_as_its_own(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("name: acme\nextends: builtin:default\n"
                                        "plans: {premium_business: {monthly_credits: 15}}\n")
    overlay = load_policy(tmp_path / "mine.yaml")
    assert overlay.description == ""
    assert explain_policy(overlay)[0].notes[0] == "Policy acme"
    (tmp_path / "described.yaml").write_text(
        "name: acme\nextends: builtin:default\ndescription: Acme's rules.\n")
    assert load_policy(tmp_path / "described.yaml").description == "Acme's rules."
