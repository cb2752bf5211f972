"""`inmail-guard demo` runs with the shipped policy and prints every rule's step."""

from __future__ import annotations

from click.testing import CliRunner

from inmail_guard.cli import main


def test_demo_walks_through_every_rule(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--db", str(tmp_path / "demo.db")])
    assert result.exit_code == 0, result.output
    out = result.output
    for code in ("plan_has_no_credits", "credits_exhausted", "recipient_is_connection",
                 "sender_blocked_by_recipient", "recipient_opted_out", "recipient_protected",
                 "recipient_profile_not_public", "self_message", "subject_missing",
                 "body_too_long", "image_not_allowed", "attachment_not_allowed",
                 "not_allowed", "sender.restricted",
                 "sender_restricted", "spam_detected", "inmail_expired",
                 "retract_window_passed"):
        assert code in out, code
    for text in ("Bob opens the InMail", "retract unopened", "retract opened",
                 "conversation continues", "are text as typed", "operator lifts the restriction",
                 "send after the lift", "Analytics by sender", "response rate"):
        assert text in out, text
    assert "inmail.expired event(s)" in out and "left the inbox" in out


def test_demo_refuses_an_existing_database(tmp_path):
    db = tmp_path / "demo.db"
    db.write_text("")
    result = CliRunner().invoke(main, ["demo", "--db", str(db)])
    assert result.exit_code != 0 and "exists" in result.output
