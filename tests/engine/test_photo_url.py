"""``photo_url``'s JSON schema says what the server accepts: a value the schema allows is
accepted and one it refuses is refused, so OpenAPI clients and schemathesis see the real rule
(it used to be a bare string: "" was schema-valid and got 422)."""

from __future__ import annotations

import jsonschema_rs
import pytest
from pydantic import TypeAdapter

from inmail_guard.engine.types import PHOTO_URL_MAX_CHARS, PhotoUrl, photo_url_problem

SCHEMA = TypeAdapter(PhotoUrl).json_schema()
VALIDATOR = jsonschema_rs.validator_for(SCHEMA)

VALUES = [
    "http://a", "https://img.example/alice.jpg", "HtTpS://x/y?z=1#f", "https://é.example/",
    "http://a\u00a0b", "http://a/" + "x" * (PHOTO_URL_MAX_CHARS - 9),
    "http://a/" + "x" * (PHOTO_URL_MAX_CHARS - 8),
    "", "http://", "http:///x", "http://@x", "http://?x", "http://#x", "ftp://x",
    "javascript:alert(1)", "data:image/png;base64,AA", " http://a", "http://a ", "http://a\n",
    "http://a\tb", "http://a\x00", "http://a\x7f", "http://a\x85", "http://a\\b", "\\\\x/y",
    "http:/a", "https//a",
]


def test_the_schema_is_the_one_every_member_field_uses() -> None:
    assert SCHEMA["maxLength"] == PHOTO_URL_MAX_CHARS
    assert SCHEMA["type"] == "string" and "pattern" in SCHEMA


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_schema_and_the_server_agree_on(value: str) -> None:
    assert VALIDATOR.is_valid(value) == (photo_url_problem(value) is None)
