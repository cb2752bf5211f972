from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from datetime import timedelta
from importlib import resources
from itertools import pairwise
from pathlib import Path

import pytest
from rich.console import Console

from inmail_guard.workflow.suite import SuiteError, load_suite, run_suite
from inmail_guard.workflow.suite_report import print_report, write_junit

from .policies import controlled_data, write_policy

SHIPPED = Path(str(resources.files("inmail_guard.policies").joinpath("tests/default.yaml")))

SUITE = """\
policy: controlled.policy
now: 2026-03-10T12:00:00Z
defaults:
  message: {sender_id: alice, recipient_id: bob, subject: Hi, body: Hello Bob}
  facts: {sender: {plan: premium_business}, connection_degree: 2}
cases:
  - name: accepted
    expect: {outcome: accepted, codes: [], spam_score: {max: 0}}
  - name: wrongly expects acceptance
    facts: {recipient: {accepts_inmail: false}}
    expect: {outcome: accepted}
  - name: wrong codes
    facts: {connection_degree: 1}
    message: {subject: ""}
    expect: {outcome: rejected, codes: [recipient_is_connection]}
  - name: sender message
    facts: {blocked_by_recipient: true}
    expect: {outcome: rejected, sender_message: "This member isn't accepting InMail right now."}
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    write_policy(tmp_path / "controlled.policy", controlled_data())  # not *.yaml: not a suite
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def report_text(results) -> str:
    console = Console(record=True, soft_wrap=True, width=200)
    print_report(results, console)
    return console.export_text()


def test_shipped_default_suite_passes_with_complete_coverage() -> None:
    result = run_suite(load_suite(SHIPPED))
    failures = [(r.case.name, r.mismatches, r.error) for r in result.results if not r.passed]
    assert failures == []
    assert result.coverage is not None
    assert result.coverage.complete, result.coverage.line()


def test_shipped_suite_has_the_boundaries() -> None:
    names = {c.name for c in load_suite(SHIPPED).cases}
    assert "body of exactly 3,000 characters is accepted" in names
    assert "body of 3,001 characters is too long" in names
    assert "premium_business last credit (9 of 10 used) can be spent" in names
    assert "markup is not counted (3,000 characters in bold)" in names


def test_pass_and_fail_report_shows_expected_vs_actual(tmp_path: Path) -> None:
    result = run_suite(load_suite(write(tmp_path, SUITE)))
    assert [r.passed for r in result.results] == [True, False, False, True]
    text = report_text([result])
    assert "PASS accepted" in text
    assert "FAIL wrongly expects acceptance" in text
    assert "outcome: expected accepted, got rejected" in text
    assert "reason recipient_opted_out (eligibility.honor_opt_out)" in text
    assert ("codes: expected [recipient_is_connection], got [recipient_is_connection,"
            " subject_missing]") in text
    assert "2 passed, 2 failed" in text
    assert f"{tmp_path / 'suite.yaml'}:9" in text  # the failing case's line


def test_codes_are_an_order_insensitive_exact_set(tmp_path: Path) -> None:
    suite = SUITE.replace("codes: [recipient_is_connection]",
                          "codes: [subject_missing, recipient_is_connection]")
    result = run_suite(load_suite(write(tmp_path, suite)))
    assert result.results[2].passed


def test_coverage_line_names_what_no_case_exercises(tmp_path: Path) -> None:
    coverage = run_suite(load_suite(write(tmp_path, SUITE))).coverage
    assert coverage is not None
    line = coverage.line()
    assert line.startswith("coverage: 4/13 rules, 4/16 reason codes; rules not exercised: ")
    assert "credits" in coverage.rules_missed
    assert "spam.detectors.test_string" in coverage.rules_missed
    assert "body_too_long" in coverage.codes_missed
    assert "recipient_opted_out" not in coverage.codes_missed
    # banned_senders ships empty: it cannot fire, so it is not counted as missing.
    assert "blocklists.banned_senders" not in coverage.rules
    assert "sender_banned" not in coverage.codes


def test_spam_score_bounds_and_shadow(tmp_path: Path) -> None:
    data = controlled_data()
    data["rules_mode"] = {"content.attachments": "shadow"}
    write_policy(tmp_path / "p.yaml", data)
    suite = write(tmp_path, """\
        policy: p.yaml
        defaults:
          message: {subject: Hi, body: Hello}
          facts: {sender: {plan: premium_business}}
        cases:
          - name: marker
            message: {body: "INMAIL-GUARD-TEST-SPAM-9F3A7C"}
            expect: {outcome: rejected, spam_score: {min: 1000, max: 2000}}
          - name: marker too low a bound
            message: {body: "INMAIL-GUARD-TEST-SPAM-9F3A7C"}
            expect: {spam_score: {max: 10}}
          - name: attachment only shadowed
            message: {attachments: [{filename: a.pdf}]}
            expect: {outcome: accepted, codes: [], shadow: [attachment_not_allowed]}
        """)
    result = run_suite(load_suite(suite))
    assert [r.passed for r in result.results] == [True, False, True]
    assert "spam_score: expected <= 10, got 1000" in report_text([result])


def test_junit_output(tmp_path: Path) -> None:
    result = run_suite(load_suite(write(tmp_path, SUITE)))
    out = tmp_path / "junit.xml"
    write_junit([result], out)
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "0")
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases][:2] == ["accepted", "wrongly expects acceptance"]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "outcome: expected accepted, got rejected"
    assert "coverage:" in (root.findtext("testsuite/system-out") or "")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("cases: []", "cases: expected a non-empty list"),
        ("cases:\n  - {name: x, expect: {outcome: maybe}}",
         "case 'x': expect.outcome: expected accepted or rejected, found 'maybe'"),
        ("cases:\n  - {name: x, facts: {credits_used: lots}, expect: {outcome: accepted}}",
         "case 'x': facts.credits_used: Input should be a valid integer"),
        ("cases:\n  - {name: x, colour: red, expect: {outcome: accepted}}",
         "case 'x': unknown key(s) colour"),
        ("cases:\n  - {name: x, expect: {outcome: accepted}}\n"
         "  - {name: x, expect: {outcome: accepted}}", ":3: case 'x': duplicate case name"),
        ("cases:\n  - {expect: {outcome: accepted}}", "case #1: name: expected a non-empty"),
        ("cases:\n  - {name: x, expect: {outcome: accepted, codez: []}}",
         "case 'x': expect: unknown key(s) codez"),
        ("cases:\n  - {name: x, message: {body: {repeat: a}}, expect: {outcome: accepted}}",
         "case 'x': message.body: expected a string or {repeat: TEXT, times: N"),
        ("policy: missing.yaml\ncases:\n  - {name: x, expect: {outcome: accepted}}",
         "policy 'missing.yaml'"),
        ("cases: [\n", "invalid YAML"),
    ],
)
def test_suite_errors_name_file_and_case(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_ids_are_shared_between_message_and_facts(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, """\
        cases:
          - name: ids
            message: {sender_id: s1, subject: Hi, body: Hello}
            facts: {recipient: {id: r1}}
            expect: {outcome: accepted}
        """))
    case = suite.cases[0]
    assert (case.message.sender_id, case.message.recipient_id) == ("s1", "r1")
    assert (case.facts.sender.id, case.facts.recipient.id) == ("s1", "r1")
    assert case.facts.now.isoformat() == "2026-01-15T12:00:00+00:00"


def test_cli_test_command(tmp_path: Path, runner, policy_cli) -> None:
    ok = runner.invoke(policy_cli, ["test", str(SHIPPED)])
    assert ok.exit_code == 0, ok.output
    assert "37 passed, 0 failed" in ok.output or " passed, 0 failed" in ok.output
    assert "(complete)" in ok.output

    junit = tmp_path / "j.xml"
    bad = runner.invoke(policy_cli, ["test", str(write(tmp_path, SUITE)), "--junit", str(junit)])
    assert bad.exit_code == 1
    assert "FAIL wrongly expects acceptance" in bad.output
    assert junit.exists()

    quiet = runner.invoke(policy_cli, ["test", "-q", str(tmp_path / "suite.yaml")])
    assert "PASS" not in quiet.output and "FAIL" in quiet.output

    broken = write(tmp_path, "cases: 3", "broken.yaml")
    err = runner.invoke(policy_cli, ["test", str(broken)])
    assert err.exit_code == 2
    assert "broken.yaml: cases: expected a non-empty list" in err.output


def test_cli_require_coverage_and_policy_override(tmp_path: Path, runner, policy_cli) -> None:
    suite = write(tmp_path, SUITE.replace(
        "  - name: wrongly expects acceptance\n    facts: {recipient: {accepts_inmail: false}}\n"
        "    expect: {outcome: accepted}\n", ""))
    result = runner.invoke(policy_cli, ["test", str(suite)])
    assert result.exit_code == 1  # "wrong codes" still fails
    overlay = tmp_path / "five.yaml"
    text = (resources.files("inmail_guard.policies") / "default.yaml").read_text()
    overlay.write_text(text.replace("premium_business:              {monthly_credits: 10}",
                                    "premium_business:              {monthly_credits: 9}"))
    result = runner.invoke(policy_cli, ["test", str(SHIPPED), "--policy", str(overlay), "-q"])
    assert result.exit_code == 1
    assert "FAIL premium_business last credit (9 of 10 used) can be spent" in result.output
    assert "outcome: expected accepted, got rejected" in result.output


def test_cli_require_coverage(tmp_path: Path, runner, policy_cli) -> None:
    suite = write(tmp_path, """\
        defaults:
          message: {subject: Hi, body: Hello}
          facts: {sender: {plan: premium_business}}
        cases:
          - {name: fine, expect: {outcome: accepted}}
        """)
    assert runner.invoke(policy_cli, ["test", str(suite)]).exit_code == 0
    strict = runner.invoke(policy_cli, ["test", str(suite), "--require-coverage"])
    assert strict.exit_code == 1
    assert "codes not exercised:" in strict.output


def test_directory_of_suites(tmp_path: Path, runner, policy_cli) -> None:
    write(tmp_path, SUITE, "a.yaml")
    write(tmp_path, SUITE.replace("wrong codes", "wrong codes 2"), "b.yml")
    result = runner.invoke(policy_cli, ["test", str(tmp_path), "-q"])
    assert result.exit_code == 1
    assert "total: 4 passed, 4 failed in 2 suites" in result.output


def test_recent_sends_and_bodies_shorthands(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, """\
        now: 2026-03-10T12:00:00Z
        cases:
          - name: spread
            facts: {recent_sends: {count: 25, within: 1h}}
            expect: {outcome: accepted}
          - name: regular
            facts: {recent_sends: {count: 3, every: 30s}}
            expect: {outcome: accepted}
          - name: bodies
            facts: {recent_bodies: {count: 4, within: 2h, body: "Hello there Bob, how are you"}}
            expect: {outcome: accepted}
          - name: one body
            facts:
              recent_bodies: [{recipient_id: x, sent_at: 2026-03-10T11:00:00Z, body: Hi}]
            expect: {outcome: accepted}
        """))
    spread, regular, bodies, one = (c.facts for c in suite.cases)
    now = spread.now
    assert len(spread.recent_sends) == 25
    assert all(now - timedelta(hours=1) < t < now for t in spread.recent_sends)
    gaps = sorted(spread.recent_sends)
    intervals = {(b - a).total_seconds() for a, b in pairwise(gaps)}
    assert len(intervals) > 1  # irregular: not machine-like
    assert [(now - t).total_seconds() for t in regular.recent_sends] == [30, 60, 90]
    assert len(bodies.recent_bodies) == 4
    assert {len(b.minhash) for b in bodies.recent_bodies} == {64}
    assert len({b.recipient_id for b in bodies.recent_bodies}) == 4
    assert one.recent_bodies[0].recipient_id == "x"
    assert len(one.recent_bodies[0].minhash) == 64


@pytest.mark.parametrize(
    ("facts", "error"),
    [
        ("{recent_sends: {count: 3}}", "facts.recent_sends: expected a list or {count: N and"),
        ("{recent_sends: {count: 3, within: 1h, every: 1m}}", "facts.recent_sends: expected"),
        ("{recent_sends: {count: 3, within: soon}}", "expected a duration such as 7d"),
        ("{recent_bodies: {count: 3, within: 1h}}", "facts.recent_bodies.body: expected"),
    ],
)
def test_shorthand_errors(tmp_path: Path, facts: str, error: str) -> None:
    case = f"{{name: x, facts: {facts}, expect: {{outcome: accepted}}}}"
    path = write(tmp_path, f"cases:\n  - {case}\n")
    with pytest.raises(SuiteError, match="case 'x'") as info:
        load_suite(path)
    assert error in str(info.value)


def test_a_case_that_cannot_be_evaluated_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = run_suite(load_suite(write(tmp_path, """\
        policy: controlled.policy
        defaults: {message: {subject: Hi, body: Hello}}
        cases:
          - {name: unknown plan, facts: {sender: {plan: platinum}}, expect: {outcome: accepted}}
          - {name: fine, facts: {sender: {plan: job_seeker}}, expect: {outcome: accepted}}
        """)))
    broken, fine = result.results
    assert broken.error is not None and "platinum" in broken.error
    assert fine.passed
    assert "error: UnknownPlanError: sender plan 'platinum'" in report_text([result])


ORDER_SUITE = """\
policy: controlled.policy
now: 2026-03-10T12:00:00Z
defaults:
  message: {recipient_id: bob, subject: Hi, body: Hello Bob}
  facts: {sender: {plan: premium_business}, connection_degree: 2}
cases:
  - name: alice sends
    message: {sender_id: alice}
    expect: {outcome: accepted, codes: []}
  - name: mallory is banned
    message: {sender_id: mallory}
    facts: {sender: {is_employee: false}}
    expect: {outcome: rejected, codes: [sender_banned], rules: [blocklists.banned]}
  - name: a sender named only in the message
    message: {sender_id: carol}
    expect: {outcome: accepted, codes: []}
"""


def _outcomes(tmp_path: Path, text: str, name: str) -> dict[str, tuple[str, str, bool]]:
    (tmp_path / name).write_text(text)
    result = run_suite(load_suite(tmp_path / name))
    return {r.case.name: (r.case.facts.sender.id, r.decision.outcome, r.passed)
            for r in result.results}


def test_cases_are_independent_of_their_order(tmp_path: Path) -> None:
    data = controlled_data()
    data["blocklists"] = [{"name": "banned", "applies_to": "sender", "ids": ["mallory"],
                           "code": "sender_banned"}]
    write_policy(tmp_path / "controlled.policy", data)
    head, cases = ORDER_SUITE.split("cases:\n")
    blocks = ["  - name:" + b for b in cases.split("  - name:")[1:]]
    forward = _outcomes(tmp_path, ORDER_SUITE, "forward.yaml")
    backward = _outcomes(tmp_path, head + "cases:\n" + "".join(reversed(blocks)), "back.yaml")
    expected = {"alice sends": ("alice", "accepted", True),
                "mallory is banned": ("mallory", "rejected", True),
                "a sender named only in the message": ("carol", "accepted", True)}
    assert forward == backward == expected


def test_expect_rules_names_the_rule_that_decided(tmp_path: Path) -> None:
    suite = write(tmp_path, """\
        policy: controlled.policy
        now: 2026-03-10T12:00:00Z
        defaults:
          message: {sender_id: alice, recipient_id: bob, subject: Hi, body: Hello Bob}
          facts: {sender: {plan: premium_business}, connection_degree: 2}
        cases:
          - name: right rule
            facts: {recipient: {accepts_inmail: false}}
            expect: {codes: [recipient_opted_out], rules: [eligibility.honor_opt_out]}
          - name: wrong rule
            facts: {recipient: {accepts_inmail: false}}
            expect: {codes: [recipient_opted_out], rules: [blocklists.opted_out]}
        """)
    results = run_suite(load_suite(suite)).results
    assert results[0].passed
    assert not results[1].passed
    assert [(m.what, m.expected, m.actual) for m in results[1].mismatches] == [
        ("rules", "[blocklists.opted_out]", "[eligibility.honor_opt_out]")]
