from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

import inmail_guard as ig
from inmail_guard import default_policy, load_policy
from inmail_guard.cli.replay import replay as replay_command
from inmail_guard.workflow.records import parse_facts, parse_message
from inmail_guard.workflow.replay import (
    ACCEPTED_TO_REJECTED,
    REJECTED_TO_ACCEPTED,
    Engine,
    replay,
)

from .policies import controlled_data, controlled_policy, write_policy

NOW = "2026-03-10T12:00:00Z"
BODY = "Hi, open to a short call about a data role next week?"  # 54 characters
SHORT = "Short hello"


def send(sender: str, plan: str, used: int, body: str = SHORT, **facts) -> dict:
    return {
        "message": {"sender_id": sender, "recipient_id": "r-" + sender, "subject": "Role",
                    "body": body},
        "facts": {"sender": {"id": sender, "plan": plan},
                  "recipient": {"id": "r-" + sender, **facts.pop("recipient", {})},
                  "connection_degree": 2, "credits_used": used, "now": NOW, **facts},
    }


def recorded(record: dict) -> dict:
    """The record as the service logs it: with the default policy's decision."""
    engine = Engine(controlled_policy())
    decision = engine.evaluate(parse_message(record["message"]), parse_facts(record["facts"]))
    return {**record, "decision": decision.to_dict()}


def hashed(record: dict) -> dict:
    message = dict(record["message"])
    body = message.pop("body")
    message["body_sha256"] = hashlib.sha256(body.encode()).hexdigest()
    message["body_length"] = len(body)
    return {**record, "message": message}


def new_policy(tmp_path: Path):
    data = controlled_data()
    data["plans"]["premium_business"]["monthly_credits"] = 5
    data["plans"]["job_seeker"]["monthly_credits"] = 10
    data["plans"]["sales_navigator_team"]["monthly_credits"] = 5
    data["content"]["body"]["max_chars"] = 40
    return load_policy(write_policy(tmp_path / "new.yaml", data))


def traffic(tmp_path: Path) -> Path:
    long_body = "x" * 3001
    records = [
        recorded(send("a1", "premium_business", 7)),       # 1 accepted -> credits_exhausted
        recorded(send("a2", "premium_business", 2)),        # 2 unchanged
        recorded(send("a3", "job_seeker", 5)),              # 3 credits_exhausted -> accepted
        recorded(send("a4", "premium_business", 1, BODY)),  # 4 accepted -> body_too_long (40)
        # 5 hashed, recorded rejected for body_too_long only: the rule is skipped, no flip
        hashed(recorded(send("a5", "premium_business", 1, body=long_body))),
        # 6 hashed, credits: accepted -> rejected even without the body
        hashed(recorded(send("a6", "sales_navigator_team", 9))),
        recorded(send("a7", "premium_business", 2, recipient={"accepts_inmail": False})),
        {"message": {"sender_id": "x"}},                    # 8 invalid
        "not json",                                         # 9 invalid
    ]
    path = tmp_path / "traffic.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records) + "\n")
    return path


def test_flip_counts_against_recorded_decisions(tmp_path: Path) -> None:
    flips = io.StringIO()
    with traffic(tmp_path).open("rb") as stream:
        report = replay(stream, new_policy(tmp_path), flips=flips, chunk_size=3)
    assert report.lines == 9
    assert report.evaluated == 7
    assert report.invalid == 2
    assert [n for n, _ in report.invalid_shown] == [8, 9]
    assert "facts: required field is missing" in report.invalid_shown[0][1]
    assert dict(report.flips) == {ACCEPTED_TO_REJECTED: 3, REJECTED_TO_ACCEPTED: 1}
    assert dict(report.by_code[ACCEPTED_TO_REJECTED]) == {"credits_exhausted": 2,
                                                          "body_too_long": 1}
    assert dict(report.by_code[REJECTED_TO_ACCEPTED]) == {"credits_exhausted": 1}
    assert dict(report.by_plan[ACCEPTED_TO_REJECTED]) == {"premium_business": 2,
                                                          "sales_navigator_team": 1}
    assert dict(report.by_plan[REJECTED_TO_ACCEPTED]) == {"job_seeker": 1}
    assert report.hashed == 2
    assert report.skipped_rules == ("content.body", "content.formatting", "content.images",
                                    "spam.detectors.test_string")
    assert [e.line for e in report.examples[ACCEPTED_TO_REJECTED]] == [1, 4, 6]

    lines = [json.loads(line) for line in flips.getvalue().splitlines()]
    assert [(f["line"], f["flip"]) for f in lines] == [
        (1, ACCEPTED_TO_REJECTED), (3, REJECTED_TO_ACCEPTED), (4, ACCEPTED_TO_REJECTED),
        (6, ACCEPTED_TO_REJECTED)]
    first = lines[0]
    assert first["baseline"] == {"outcome": "accepted", "codes": []}
    assert first["new"]["codes"] == ["credits_exhausted"]
    assert first["new"]["reasons"][0]["rule"] == "credits"
    assert first["record"]["facts"]["credits_used"] == 7
    assert lines[3]["body_hashed"] is True
    assert "body_sha256" in lines[3]["record"]["message"]


def test_hashed_body_skips_content_rules(tmp_path: Path) -> None:
    """Record 5's body is too long for both policies, but only its hash was stored."""
    with traffic(tmp_path).open("rb") as stream:
        report = replay(stream, controlled_policy())
    # Same policy as recorded: nothing flips, the hashed too-long body included.
    assert report.flipped == 0
    assert report.codes_changed == 0


def test_against_a_baseline_policy(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_text("".join(json.dumps(send(f"s{i}", "premium_business", i, BODY)) + "\n"
                            for i in range(12)))
    with path.open("rb") as stream:
        report = replay(stream, new_policy(tmp_path), controlled_policy(), chunk_size=5)
    # The body is over the new 40 characters: all flip but 10 and 11 (already out of credits).
    assert dict(report.flips) == {ACCEPTED_TO_REJECTED: 10}
    assert dict(report.by_code[ACCEPTED_TO_REJECTED]) == {"body_too_long": 10,
                                                          "credits_exhausted": 5}
    assert report.outcomes == {"accepted": 10, "rejected": 2}
    assert report.codes_changed == 2  # credits_exhausted -> + body_too_long
    assert report.baseline.startswith("inmail-default")


def test_no_decision_and_no_baseline_is_an_invalid_line(tmp_path: Path) -> None:
    stream = io.BytesIO((json.dumps(send("s", "premium_business", 0)) + "\n").encode())
    report = replay(stream, default_policy())
    assert report.invalid == 1
    assert "pass --baseline" in report.invalid_shown[0][1]


def test_a_plan_the_new_policy_lacks_is_a_flip_to_rejected_not_an_invalid_line(
        tmp_path: Path, runner) -> None:
    data = controlled_data()
    del data["plans"]["job_seeker"]
    write_policy(tmp_path / "no-job-seeker.yaml", data)
    records = [recorded(send("a", "premium_business", 0)), recorded(send("b", "job_seeker", 0)),
               recorded(send("c", "job_seeker", 1))]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    flips = tmp_path / "flips.jsonl"
    result = runner.invoke(replay_command, [str(path), "--policy",
                                            str(tmp_path / "no-job-seeker.yaml"),
                                            "--flips", str(flips), "--format", "json"])
    assert result.exit_code == 1, result.output  # flips, no invalid line
    report = json.loads(result.output)
    assert report["flips"] == {ACCEPTED_TO_REJECTED: 2, REJECTED_TO_ACCEPTED: 0}
    assert report["invalid"] == 0
    lines = [json.loads(line) for line in flips.read_text().splitlines()]
    assert [(f["sender_id"], f["new"]["codes"]) for f in lines] == [
        ("b", ["unknown_plan"]), ("c", ["unknown_plan"])]
    assert "'job_seeker' is not declared" in lines[0]["new"]["reasons"][0]["detail"]


def test_a_plan_only_the_new_policy_has_flips_to_accepted(tmp_path: Path) -> None:
    data = controlled_data()
    data["plans"]["platinum"] = {"monthly_credits": 5}
    lines = [send("a", "premium_business", 0), send("b", "platinum", 0)]
    stream = io.BytesIO("".join(json.dumps(r) + "\n" for r in lines).encode())
    report = replay(stream, load_policy(write_policy(tmp_path / "p.yaml", data)),
                    controlled_policy())
    assert (report.evaluated, report.invalid) == (2, 0)
    assert dict(report.flips) == {REJECTED_TO_ACCEPTED: 1}
    assert dict(report.by_code[REJECTED_TO_ACCEPTED]) == {"unknown_plan": 1}


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_cli_replay(tmp_path: Path, runner, fmt: str) -> None:
    path = traffic(tmp_path)
    new_policy(tmp_path)
    flips = tmp_path / "flips.jsonl"
    result = runner.invoke(replay_command, [str(path), "--policy", str(tmp_path / "new.yaml"),
                                            "--flips", str(flips), "--format", fmt])
    assert result.exit_code == 2, result.output  # two invalid lines
    assert len(flips.read_text().splitlines()) == 4
    if fmt == "json":
        data = json.loads(result.output)
        assert data["flips"] == {ACCEPTED_TO_REJECTED: 3, REJECTED_TO_ACCEPTED: 1}
        assert data["hashed_bodies"] == 2
    else:
        assert "flipped: 4; accepted→rejected: 3; rejected→accepted: 1" in result.output
        assert "2 records stored the body only as a hash" in result.output
        assert "line 8: " in result.output
        assert "lines/s" in result.output
        assert "credits_exhausted" in result.output


def test_cli_replay_exit_codes(tmp_path: Path, runner) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(recorded(send("a", "premium_business", 7))) + "\n")
    same = runner.invoke(replay_command, [str(path), "--policy", "builtin:default"])
    assert same.exit_code == 0, same.output
    assert "flipped: 0" in same.output
    new_policy(tmp_path)
    flipped = runner.invoke(replay_command, [str(path), "--policy", str(tmp_path / "new.yaml")])
    assert flipped.exit_code == 1
    missing = runner.invoke(replay_command, [str(tmp_path / "nope.jsonl"), "--policy",
                                             "builtin:default"])
    assert missing.exit_code == 2
    bad_policy = runner.invoke(replay_command, [str(path), "--policy", str(tmp_path / "x.yaml")])
    assert bad_policy.exit_code == 2


def test_shipped_example_traffic_replays_cleanly() -> None:
    example = Path(__file__).parents[2] / "examples" / "traffic.jsonl"
    with example.open("rb") as stream:
        report = replay(stream, default_policy())
    assert (report.lines, report.invalid, report.flipped, report.hashed) == (16, 0, 0, 4)
    assert report.codes_changed == 0


def test_what_if_engines_call_no_observers_or_advisors() -> None:
    from inmail_guard import hookimpl
    from inmail_guard.plugins.manager import build_plugin_manager
    from inmail_guard.workflow.engines import QuietPlugins

    seen = []

    class Observer:
        @hookimpl
        def inmail_guard_decision(self, decision) -> None:
            seen.append(decision)

        @hookimpl
        def inmail_guard_advise(self, message) -> list:
            seen.append(message)
            return [ig.Advice("x", "y")]

    engine = Engine(controlled_policy(), QuietPlugins(build_plugin_manager(extra=[Observer()])))
    record = send("a", "premium_business", 0)
    decision = engine.evaluate(parse_message(record["message"]), parse_facts(record["facts"]))
    assert decision.outcome == "accepted"
    assert decision.advice == ()
    assert seen == []


def test_hashed_bodies_against_a_baseline_policy(tmp_path: Path) -> None:
    """Both sides skip the body rules: a body over the new limit cannot flip if only hashed."""
    plain = send("p", "premium_business", 1, BODY)
    lines = [plain, hashed(plain)]
    stream = io.BytesIO("".join(json.dumps(r) + "\n" for r in lines).encode())
    report = replay(stream, new_policy(tmp_path), controlled_policy())
    assert report.hashed == 1
    assert dict(report.flips) == {ACCEPTED_TO_REJECTED: 1}
    assert [e.line for e in report.examples[ACCEPTED_TO_REJECTED]] == [1]
