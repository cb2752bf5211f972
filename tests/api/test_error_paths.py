"""One spelling of a path into a document (``inmail_guard.fieldpath``), whichever channel
reports the error: the same bad input names the same field in ``inmail-guard evaluate``, an
HTTP 422, the replay/suite records, ``inmail-guard policy validate``, a policy reload's 422 and
the engine's own ``PolicyCompileError``. A list index is in brackets, never ``.0``."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main
from inmail_guard.engine.evaluator import Engine, PolicyCompileError
from inmail_guard.engine.wire import RequestError, parse_request
from inmail_guard.fieldpath import format_path
from inmail_guard.policies.loader import load_policy
from inmail_guard.workflow.records import RecordError, parse_message

from .conftest import ADMIN, SVC, evaluate_body

BAD_ATTACHMENT = "message.attachments[0].filename"
BAD_PHRASE = "spam.detectors.keywords.phrases[1]"
DEFAULT = resources.files("inmail_guard.policies").joinpath("default.yaml").read_text("utf-8")


def test_format_path_spells_keys_with_dots_and_indexes_in_brackets():
    assert format_path(("message", "attachments", 0, "filename")) == BAD_ATTACHMENT
    assert format_path(("blocklists", 1, "code")) == "blocklists[1].code"
    assert format_path((0, "x")) == "[0].x"
    assert format_path(("", "facts", "now")) == "facts.now"  # an empty prefix is skipped
    assert format_path(("flags", True)) == "flags.True"  # a bool is a key, not an index
    assert format_path(()) == ""


def test_one_bad_request_names_the_same_field_in_every_channel(client, tmp_path: Path):
    body = evaluate_body(attachments=[{"content_type": "text/plain", "size_bytes": 10}])

    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == BAD_ATTACHMENT
    assert [i["field"] for i in error["issues"]] == [BAD_ATTACHMENT]

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(body) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", "--no-progress", str(source)])
    assert result.exit_code == 1, result.output
    record = json.loads(result.output.splitlines()[0])
    assert [f["field"] for f in record["error"]["fields"]] == [BAD_ATTACHMENT]

    with pytest.raises(RequestError) as raised:
        parse_request(body)
    assert [path for path, _ in raised.value.errors] == [BAD_ATTACHMENT]

    with pytest.raises(RecordError, match=r"^message\.attachments\[0\]\.filename: "):
        parse_message(body["message"])


def test_one_bad_policy_names_the_same_path_in_every_channel(make_client, tmp_path: Path):
    good = tmp_path / "policy.yaml"
    good.write_text(DEFAULT, encoding="utf-8")
    client = make_client(policy=str(good))
    bad_text = DEFAULT.replace("{phrases: [],", "{phrases: [ok, [1]],")
    assert bad_text != DEFAULT
    at = bad_text.index("[1]]")  # where the bad phrase is written: line and column, 1-based
    line, column = bad_text.count("\n", 0, at) + 1, at - bad_text.rfind("\n", 0, at)
    good.write_text(bad_text, encoding="utf-8")

    with pytest.raises(PolicyCompileError) as raised:
        Engine(load_policy(good))
    assert [path for path, _ in raised.value.problems] == [BAD_PHRASE]

    r = client.post("/v1/policy/reload", headers=ADMIN)
    assert r.status_code == 422, r.text
    assert [i["path"] for i in r.json()["error"]["issues"]] == [BAD_PHRASE]

    result = CliRunner().invoke(main, ["policy", "validate", str(good)])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[0] == (
        f"{good}:{line}:{column}: {BAD_PHRASE}: expected a string, found a list")
    result = CliRunner().invoke(main, ["policy", "validate", "--format", "json", str(good)])
    issues = [i for doc in json.loads(result.output)["files"] for i in doc["issues"]]
    assert [(i["path"], i["line"], i["column"]) for i in issues] == [(BAD_PHRASE, line, column)]


def _fault(change) -> bytes:
    body = evaluate_body()
    change(body)
    return json.dumps(body).encode()


def _set(path: str, value) -> object:
    def change(body: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            body = body[key]
        if value is _DELETE:
            del body[last]
        else:
            body[last] = value
    return change


_DELETE = object()

#: (what is wrong, the request body, the code both channels give, the field they name)
FAULTS = [
    ("unknown plan", _fault(_set("facts.sender.plan", "platinum")), "unknown_plan",
     "facts.sender.plan"),
    ("missing field", _fault(_set("message.sender_id", _DELETE)), "validation_error",
     "message.sender_id"),
    ("unknown field", _fault(_set("message.colour", "red")), "validation_error",
     "message.colour"),
    ("wrong type", _fault(_set("facts.credits_used", "many")), "validation_error",
     "facts.credits_used"),
    ("naive time", _fault(_set("facts.now", "2026-11-27T09:00:00")), "validation_error",
     "facts.now"),
    ("count too large", _fault(_set("facts.abuse_reports", 10**20)), "validation_error",
     "facts.abuse_reports"),
    ("year out of range", _fault(_set("facts.now", "9999-12-31T23:59:59Z")),
     "validation_error", "facts.now"),
    ("not an object", b'"hello"', "validation_error", None),
    ("not JSON", b'{"message": ', "malformed_json", None),
    ("not UTF-8", '{"message": "caf\u00e9"}'.encode("latin-1"), "malformed_json", None),
    ("lone surrogate", _fault(_set("message.subject", "Role \ud800")), "malformed_json", None),
    ("NaN", _fault(_set("facts.credits_used", float("nan"))), "validation_error",
     "facts.credits_used"),
    ("Infinity", _fault(_set("facts.abuse_reports", float("inf"))), "validation_error",
     "facts.abuse_reports"),
]


@pytest.mark.parametrize(("raw", "code", "field"), [f[1:] for f in FAULTS],
                         ids=[f[0] for f in FAULTS])
def test_one_bad_request_gets_the_same_code_from_http_and_the_cli(client, tmp_path: Path,
                                                                  raw, code, field):
    r = client.post("/v1/evaluate", content=raw,
                    headers={**SVC, "Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    error = r.json()["error"]
    assert (error["code"], error.get("field")) == (code, field)

    source = tmp_path / "in.jsonl"
    source.write_bytes(raw + b"\n")
    result = CliRunner().invoke(main, ["evaluate", "--no-progress", str(source)])
    assert result.exit_code == 1, result.output
    record = json.loads(result.output.splitlines()[0])
    assert set(record) == {"line", "error"} and type(record["line"]) is int
    assert record["error"]["code"] == code
    named = [f["field"] for f in record["error"].get("fields", [])]
    assert named[:1] == ([field] if field else [])
