"""``inmail-guard evaluate``: input that is not UTF-8 or not readable JSON is an error record
for its line; the records around it are still evaluated (exit 1, never a traceback). An error
record's ``code`` is the one ``POST /v1/evaluate`` answers for the same input
(``tests/api/test_error_paths.py`` holds the two side by side)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main

RECORD = {
    "message": {"sender_id": "a", "recipient_id": "b", "subject": "Hi", "body": "Hello"},
    "facts": {"sender": {"id": "a", "plan": "premium_business"}, "recipient": {"id": "b"},
              "now": "2026-11-27T09:00:00Z"},
}
LINE = json.dumps(RECORD).encode() + b"\n"
DEEP = "not valid JSON: nested too deeply"


def error(line: int, message: str, code: str = "malformed_json") -> dict:
    """An error record: ``malformed_json`` (HTTP 400's code) for a line that cannot be read."""
    return {"line": line, "error": {"code": code, "message": message}}


def evaluate(tmp_path: Path, content: bytes) -> tuple[int, list[dict]]:
    path = tmp_path / "input.jsonl"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["evaluate", "--no-progress", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{\"message\": \"caf\u00e9\"}\n".encode("latin-1"),
         "not valid UTF-8: byte 0xe9 at column 17; save the input as UTF-8"),
        (b"\xff\xfe{\x00}\x00\n",
         "not valid UTF-8: byte 0xff at column 1; save the input as UTF-8"),
        (b"\x00\x9f\x92\x96garbage\n",
         "not valid UTF-8: byte 0x9f at column 2; save the input as UTF-8"),
        (b"[" * 100_000 + b"\n", DEEP),
        (b'{"a": ' + b"[" * 100_000 + b"\n", DEEP),
    ],
)
def test_a_bad_line_between_good_records(tmp_path: Path, bad: bytes, message: str) -> None:
    code, out = evaluate(tmp_path, LINE + bad + LINE)
    assert code == 1
    assert [o.get("outcome") for o in out] == ["accepted", None, "accepted"]
    assert out[1] == error(2, message)


def test_a_bad_first_line(tmp_path: Path) -> None:
    code, out = evaluate(tmp_path, b"\xe9\n" + LINE)
    assert code == 1
    assert out[0] == error(1, "not valid UTF-8: byte 0xe9 at column 1; save the input as UTF-8")
    assert out[1]["outcome"] == "accepted"


def test_a_document_nested_100k_deep(tmp_path: Path) -> None:
    assert evaluate(tmp_path, b"[" * 100_000) == (1, [error(1, DEEP)])


def test_an_array_with_a_bad_byte_names_its_line(tmp_path: Path) -> None:
    content = b"[\n" + LINE.rstrip() + b",\n" + b'{"message": "\xe9"}\n]\n'
    assert evaluate(tmp_path, content) == (1, [error(
        3, "not valid UTF-8: byte 0xe9 at column 14; save the input as UTF-8")])


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    code, out = evaluate(tmp_path, b"\xef\xbb\xbf" + LINE + LINE)
    assert code == 0
    assert [o["outcome"] for o in out] == ["accepted", "accepted"]


def test_good_input_still_reads_all_three_shapes(tmp_path: Path) -> None:
    pretty = json.dumps(RECORD, indent=2).encode()
    array = json.dumps([RECORD, RECORD], indent=1).encode()
    for content, count in ((LINE * 3, 3), (pretty, 1), (array, 2)):
        code, out = evaluate(tmp_path, content)
        assert (code, [o["outcome"] for o in out]) == (0, ["accepted"] * count)


def test_a_wrongly_typed_field_is_an_error_record_naming_it(tmp_path: Path) -> None:
    bad = json.loads(LINE)
    bad["facts"]["recipient"]["is_employee"] = "yes"
    bad["facts"]["now"] = 253402300800
    code, out = evaluate(tmp_path, LINE + json.dumps(bad).encode() + b"\n")
    assert code == 1
    assert out[1] == {"line": 2, "error": {
        "code": "validation_error",
        "message": "facts.recipient.is_employee: Input should be a valid boolean;"
                   " facts.now: Input should be an ISO 8601 date and time with a time zone,"
                   " such as 2026-11-27T09:00:00Z",
        "fields": [{"field": "facts.recipient.is_employee",
                    "problem": "Input should be a valid boolean"},
                   {"field": "facts.now",
                    "problem": "Input should be an ISO 8601 date and time with a time zone,"
                               " such as 2026-11-27T09:00:00Z"}]}}
    assert out[0]["outcome"] == "accepted"


def test_an_unknown_plan_is_an_unknown_plan_error_record(tmp_path: Path) -> None:
    bad = json.loads(LINE)
    bad["facts"]["sender"]["plan"] = "platinum"
    code, out = evaluate(tmp_path, LINE + json.dumps(bad).encode() + b"\n" + LINE)
    assert code == 1
    problem = ("sender plan 'platinum' is not declared in policy 'inmail-default' (plans:"
               " basic, job_seeker, premium_business, recruiter_corporate, recruiter_lite,"
               " sales_navigator_team, sales_navigator_team_advanced); add it under plans: or"
               " fix the member's plan")
    assert out[1] == {"line": 2, "error": {
        "code": "unknown_plan", "message": problem,
        "fields": [{"field": "facts.sender.plan", "problem": problem}]}}
    assert type(out[1]["line"]) is int
    assert [o.get("outcome") for o in out] == ["accepted", None, "accepted"]


def test_a_year_http_refuses_is_an_error_record_not_a_crash(tmp_path: Path) -> None:
    # A restriction from 9999-12-31 ends past datetime's last year: it used to end the whole
    # run with an OverflowError. POST /v1/evaluate refuses such a facts.now (422) before it
    # evaluates; so does the command, for that record alone.
    bad = json.loads(LINE)
    bad["facts"].update(now="9999-12-31T23:59:59Z", abuse_reports=50)
    code, out = evaluate(tmp_path, LINE + json.dumps(bad).encode() + b"\n" + LINE)
    assert code == 1
    assert out[1] == {"line": 2, "error": {
        "code": "validation_error", "message": "facts.now: expected a year between 1900 and 9998",
        "fields": [{"field": "facts.now", "problem": "expected a year between 1900 and 9998"}]}}
    assert [o.get("outcome") for o in out] == ["accepted", None, "accepted"]


SHAPE = 'a JSON object {"message": {...}, "facts": {...}}'


def test_a_plain_text_message_says_what_a_record_is(tmp_path: Path) -> None:
    code, out = evaluate(tmp_path, LINE + b"Hi Dana, would you be open to a short call?\n" + LINE)
    assert code == 1
    assert out[1] == error(2, "not valid JSON: Expecting value at column 1; each record is"
                              f" {SHAPE}, one per line")
    assert [o.get("outcome") for o in out] == ["accepted", None, "accepted"]


@pytest.mark.parametrize(("line", "found"), [
    (b"[1, 2]", "an array"), (b'"hello"', "a string"), (b"3", "a number"),
    (b"null", "null"), (b"true", "true or false"),
])
def test_a_record_that_is_not_an_object_names_what_it_is(tmp_path: Path, line: bytes,
                                                         found: str) -> None:
    code, out = evaluate(tmp_path, LINE + line + b"\n")
    assert code == 1
    assert out[1] == error(2, f"expected {SHAPE}, found {found}", "validation_error")


HINT = ('reading records from the terminal: one JSON object per line, {"message": {...},'
        ' "facts": {...}}; end with Ctrl-D (or give a FILE)\n')


def test_records_typed_at_a_terminal_get_a_hint_on_stderr_and_a_pipe_gets_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import inmail_guard.cli.evaluate as module

    piped = CliRunner().invoke(main, ["evaluate", "--no-progress", "-"], input=LINE)
    assert piped.exit_code == 0 and piped.stderr == ""
    monkeypatch.setattr(module, "_is_terminal", lambda stream: True)
    typed = CliRunner().invoke(main, ["evaluate", "--no-progress", "-"], input=LINE)
    assert typed.exit_code == 0, typed.output
    assert typed.stderr == HINT
    assert json.loads(typed.stdout)["outcome"] == "accepted"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (LINE.replace(b'"subject": "Hi"', b'"subject": "Hi", "subject": ""'),
         "not valid JSON: duplicate key 'message.subject'; give each key once"),
        (LINE.replace(b'"body": "Hello"', b'"body": "Hello \\ud800"'),
         "not valid JSON: a string holds a lone UTF-16 surrogate (an escape such as \\ud800"
         " that is half of a pair); remove it"),
    ],
)
def test_json_the_http_api_refuses_is_an_error_record_not_read_silently(
        tmp_path: Path, bad: bytes, message: str) -> None:
    code, out = evaluate(tmp_path, LINE + bad + LINE)
    assert code == 1
    assert out[1] == error(2, message)
    assert "decision_id" in out[0] and "decision_id" in out[2]
    code, out = evaluate(tmp_path, b"[" + LINE + b"," + bad + b"]")  # an array: read whole
    assert (code, out) == (1, [error(1, message.replace("'message.", "'[1].message."))])


LONE = ("not valid JSON: a string holds a lone UTF-16 surrogate (an escape such as \\ud800"
        " that is half of a pair); remove it")


@pytest.mark.parametrize("subject", ["Role \ud800", "\udfff first", "pair reversed \ude00\ud83d"])
def test_a_lone_surrogate_escape_is_malformed_json_as_over_http(tmp_path: Path,
                                                                subject: str) -> None:
    record = json.loads(LINE)
    record["message"]["subject"] = subject
    bad = json.dumps(record).encode() + b"\n"  # ensure_ascii: the surrogate as a \u escape
    code, out = evaluate(tmp_path, LINE + bad + LINE)
    assert code == 1
    assert [o.get("outcome") for o in out] == ["accepted", None, "accepted"]
    assert out[1] == error(2, LONE)


def test_a_surrogate_pair_and_an_escaped_backslash_are_text(tmp_path: Path) -> None:
    record = json.loads(LINE)
    record["message"]["subject"] = "Hello \U0001f600 \\ud800"  # an emoji, then a backslash-u
    line = json.dumps(record).encode()
    assert b"\\ud83d\\ude00" in line and b"\\\\ud800" in line
    code, out = evaluate(tmp_path, line + b"\n")
    assert (code, [o.get("outcome") for o in out]) == (0, ["accepted"])
