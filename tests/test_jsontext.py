"""``inmail_guard.jsontext``: JSON whose meaning depends on the parser is refused, naming why."""

from __future__ import annotations

import contextlib
import json

import pytest

from inmail_guard.jsontext import (
    DuplicateKeyError,
    LoneSurrogateError,
    check_unique_keys,
    loads,
)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"a": 1, "a": 2}', "a"),
        ('{"message": {"body": "x", "subject": "s", "body": "y"}}', "message.body"),
        ('{"items": [{"id": 1}, {"id": 2, "id": 3}]}', "items[1].id"),
        ('{"a": {"b": 1}, "a": {"b": 2, "b": 3}}', "a"),  # the outer one, found first
    ],
)
def test_a_key_given_twice_is_refused_with_its_path(text: str, path: str) -> None:
    for check in (loads, check_unique_keys, lambda t: check_unique_keys(t.encode())):
        with pytest.raises(DuplicateKeyError) as raised:
            check(text)
        assert raised.value.msg == f"duplicate key {path!r}; give each key once"
        assert isinstance(raised.value, json.JSONDecodeError)  # callers' existing handling


def test_equal_keys_in_different_objects_are_fine() -> None:
    text = '{"a": {"id": 1}, "b": {"id": 1}, "c": [{"id": 1}, {"id": 2}]}'
    check_unique_keys(text)
    assert loads(text) == json.loads(text)


def test_malformed_json_is_left_to_the_real_parser() -> None:
    check_unique_keys(b'{"a": ')
    check_unique_keys(b"\xff\xfe")
    check_unique_keys(b"[" * 100_000)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\ud83d x", "x \\ude00"])
def test_a_lone_surrogate_is_refused(escape: str) -> None:
    with pytest.raises(LoneSurrogateError, match="lone UTF-16 surrogate"):
        loads(f'{{"body": "{escape}"}}')


def test_a_surrogate_pair_is_one_character() -> None:
    assert loads('{"body": "\\ud83d\\ude00"}') == {"body": "\U0001f600"}
    assert loads('{"body": "\\\\ud800"}') == {"body": "\\ud800"}  # an escaped backslash


def test_nesting_near_the_recursion_limit_is_never_a_crash() -> None:
    # Too deep for json, the check passes: orjson and the schema refuse such a document.
    import sys

    depth = sys.getrecursionlimit() - 60
    text = "[" * depth + '{"a": 1, "a": 2}' + "]" * depth

    def deep(n: int) -> None:  # the caller's own frames eat into the limit
        if n:
            return deep(n - 1)
        with contextlib.suppress(DuplicateKeyError):
            check_unique_keys(text)
        return None

    for frames in (0, 40, 200):
        deep(frames)
