"""The JSON edge is strict: every field of the wrong JSON type is refused, naming the field,
whether the request arrives as bytes (HTTP ``/v1/evaluate``) or decoded (``inmail-guard
evaluate``, replay, suites). Nothing is coerced: not "yes" to true, "5" or 5.0 to 5, true to 1,
nor a number to a date (253402300800 was read as milliseconds: 1978)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inmail_guard.engine.wire import RequestError, parse_request, parse_request_json

VALID: dict[str, Any] = {
    "message": {"sender_id": "a", "recipient_id": "b", "subject": "Hi", "body": "Hello",
                "attachments": [{"filename": "cv.pdf", "content_type": "application/pdf",
                                 "size_bytes": 5}],
                "tags": ["q4"], "crm": {"lead_id": "L-1"}, "idempotency_key": "k",
                "client": {"automated": False, "user_agent": "ua"}},
    "facts": {"sender": {"id": "a", "plan": "premium_business", "profile_public": True,
                         "accepts_inmail": True, "is_employee": False},
              "recipient": {"id": "b", "profile_public": True, "accepts_inmail": True,
                            "is_employee": False},
              "now": "2026-11-27T09:00:00Z", "connection_degree": 3,
              "blocked_by_recipient": False, "credits_used": 1,
              "recent_sends": ["2026-11-27T08:00:00Z"], "abuse_reports": 0,
              "restricted_until": "2026-11-28T09:00:00+01:00", "credits_extra": 0,
              "prior_restrictions": 0, "pending_to_recipient": False,
              "recent_bodies": [{"recipient_id": "c", "sent_at": "2026-11-27T08:00:00Z",
                                 "minhash": [1, 2]}]},
}

BOOLEAN = "Input should be a valid boolean"
INTEGER = "Input should be a valid integer"
DATETIME = ("Input should be an ISO 8601 date and time with a time zone, such as"
            " 2026-11-27T09:00:00Z")
DEGREE = "Input should be 1, 2 or 3"
FLAGS = ["message.client.automated", "facts.sender.profile_public",
         "facts.sender.accepts_inmail", "facts.sender.is_employee",
         "facts.recipient.profile_public", "facts.recipient.accepts_inmail",
         "facts.recipient.is_employee", "facts.blocked_by_recipient",
         "facts.pending_to_recipient"]
COUNTS = ["message.attachments[0].size_bytes", "facts.credits_used", "facts.abuse_reports",
          "facts.credits_extra", "facts.prior_restrictions",
          "facts.recent_bodies[0].minhash[0]"]
TIMES = ["facts.now", "facts.recent_sends[0]", "facts.restricted_until",
         "facts.recent_bodies[0].sent_at"]
#: Every coercion the edge used to make: (field, value sent, the problem now reported).
COERCIONS = (
    [(f, v, BOOLEAN) for f in FLAGS for v in ("yes", "true", 1, 0, 1.0)]
    + [(f, v, INTEGER) for f in COUNTS for v in ("5", 5.0, True)]
    + [(f, v, DATETIME) for f in TIMES for v in (253402300800, 1.7e9, "1700000000", True)]
    + [("facts.connection_degree", v, DEGREE) for v in ("2", 2.0, True)]
)


def with_value(field: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    keys: list[Any] = []
    for part in field.split("."):
        name, _, index = part.partition("[")
        keys.append(name)
        keys.extend(int(i) for i in index.rstrip("]").split("][") if index)
    target = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return data


def problems(data: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The errors of both ways in: decoded JSON, and raw bytes."""
    out = {}
    for name, parse, arg in (("decoded", parse_request, data),
                             ("bytes", parse_request_json, json.dumps(data).encode())):
        try:
            parse(arg)
            out[name] = []
        except RequestError as exc:
            out[name] = exc.errors
    return out


def test_the_valid_request_reads_the_same_both_ways() -> None:
    assert problems(VALID) == {"decoded": [], "bytes": []}
    message, facts = parse_request(VALID)
    assert (message, facts) == parse_request_json(json.dumps(VALID))
    assert message.tags == ("q4",) and facts.sender.is_employee is False
    assert facts.now == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert facts.recent_bodies[0].minhash == (1, 2)


@pytest.mark.parametrize(("field", "value", "problem"), COERCIONS,
                         ids=[f"{f}={v!r}" for f, v, _ in COERCIONS])
def test_a_value_of_the_wrong_type_is_refused_naming_its_field(field, value, problem) -> None:
    assert problems(with_value(field, value)) == {"decoded": [(field, problem)],
                                                  "bytes": [(field, problem)]}


def test_every_typed_field_is_covered() -> None:
    """20 fields coerced before: 9 flags, 6 counts, 4 times, the degree."""
    assert len({f for f, _, _ in COERCIONS}) == 20
