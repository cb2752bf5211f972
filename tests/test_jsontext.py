"""``inmail_guard.jsontext``: JSON whose meaning depends on the parser is refused, naming why."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inmail_guard.jsontext import (
    _UNSET,
    DuplicateKeyError,
    LoneSurrogateError,
    _surely_unique,
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


# --- the fast path: counting keys must never let a repeated key through ------------------

_TRICKY = st.text(alphabet=st.sampled_from(['a', 'b', ':', '"', '\\', ' ', '\u00e9', 'x']),
                  max_size=4)
_SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | _TRICKY


def _members(draw: st.DrawFn, depth: int) -> list[tuple[str, object]]:
    keys = draw(st.lists(_TRICKY, max_size=4))
    if keys and draw(st.booleans()):
        keys.append(draw(st.sampled_from(keys)))  # repeat one
    return [(key, draw(_value(depth - 1))) for key in keys]


def _value(depth: int) -> st.SearchStrategy[object]:
    if depth <= 0:
        return _SCALARS

    @st.composite
    def build(draw: st.DrawFn) -> object:
        kind = draw(st.sampled_from(["scalar", "object", "array"]))
        if kind == "object":
            return ("obj", _members(draw, depth))
        if kind == "array":
            return ["arr", *draw(st.lists(_value(depth - 1), max_size=3))]
        return draw(_SCALARS)
    return build()


def _render(value: object, colon: str, comma: str) -> str:
    """JSON text of a tree whose objects may repeat keys (json.dumps cannot write those)."""
    if isinstance(value, tuple):
        return "{" + comma.join(json.dumps(k) + colon + _render(v, colon, comma)
                                for k, v in value[1]) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_render(v, colon, comma) for v in value[1:]) + "]"
    return json.dumps(value)


def _repeats(text: str) -> bool:
    seen = []

    def hook(pairs: list[tuple[str, object]]) -> dict:
        seen.append(len({k for k, _ in pairs}) != len(pairs))
        return dict(pairs)
    json.loads(text, object_pairs_hook=hook)
    return any(seen)


@settings(max_examples=2000, deadline=None)
@given(value=_value(3), colon=st.sampled_from([":", ": ", " : ", "\n:"]),
       comma=st.sampled_from([",", ", "]))
def test_the_key_count_agrees_with_a_hook_on_every_object(value: object, colon: str,
                                                          comma: str) -> None:
    text = _render(value, colon, comma)
    repeated = _repeats(text)
    for given_text in (text, text.encode()):
        if repeated:
            with pytest.raises(DuplicateKeyError):
                check_unique_keys(given_text)
        else:
            check_unique_keys(given_text)
    if repeated:  # the fast path answers "unique" only when it is
        assert not _surely_unique(text.encode(), _UNSET)


def test_the_fast_path_settles_an_ordinary_request() -> None:
    body = json.dumps({"message": {"sender_id": "a", "subject": "Role: staff engineer",
                                   "body": "Hello: a line\nand another"},
                       "facts": {"sender": {"id": "a"}, "now": "2026-11-27T09:00:00Z"}})
    assert _surely_unique(body.encode(), _UNSET)
    assert not _surely_unique(b'{"a": 1, "a": 2}', _UNSET)  # a repeat: counts differ
    assert _surely_unique(b'{"a": "say \\"hi\\""}', _UNSET)  # escaped quotes, no colon
    assert not _surely_unique(b'{"a": "say \\"hi\\": x"}', _UNSET)  # \": counted: unsure
    assert not _surely_unique(b'{"a": ":)"}', _UNSET)  # a string starting with a colon
    assert not _surely_unique(b'{"a" : 1}', _UNSET)  # a space before the colon: unsure
