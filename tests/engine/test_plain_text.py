"""Ordinary text people paste is never a formatting rejection and counts as typed (issue #15).

The bodies in ``tests/fixtures/bodies/plain_text.txt`` (written for these tests: forwarded
mail, signatures, quotes, addresses, code mentions, separators, tables typed as text) go
through the shipped default policy as sends from a clean sender.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

import inmail_guard as ig
from inmail_guard.engine.content import parse_body

BODIES_FILE = Path(__file__).parent.parent / "fixtures" / "bodies" / "plain_text.txt"
CONTENT_CODES = {"formatting_not_allowed", "image_not_allowed", "body_too_long", "body_missing"}
# A line that is a list item (the one construct in these bodies that drops characters).
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)


def _bodies() -> list[str]:
    chunks = BODIES_FILE.read_text(encoding="utf-8").split("\n%%\n")[1:]
    return [chunk.strip("\n") for chunk in chunks]


BODIES = _bodies()


def test_the_fixture_holds_the_bodies() -> None:
    assert len(BODIES) == 31


@pytest.fixture(scope="module")
def engine() -> ig.Engine:
    return ig.Engine(ig.default_policy())


@pytest.mark.parametrize("body", BODIES, ids=[f"body{i}" for i in range(len(BODIES))])
def test_plain_text_is_not_a_content_rejection(engine: ig.Engine, body: str) -> None:
    decision = engine.evaluate(
        ig.Message("s1", "r1", subject="Platform role at Northwind", body=body),
        ig.Facts(sender=ig.Member("s1", plan="premium_business"), recipient=ig.Member("r1"),
                 connection_degree=2, now=datetime(2026, 3, 10, 12, tzinfo=UTC)),
    )
    assert not CONTENT_CODES & set(decision.codes), decision.to_dict()["reasons"]


@pytest.mark.parametrize("body", [b for b in BODIES if not _LIST_ITEM.search(b)])
def test_plain_text_renders_and_counts_as_typed(body: str) -> None:
    content = parse_body(body, max_source_chars=12000)
    typed = "\n".join(line.rstrip(" \t") for line in body.split("\n")).strip()
    assert content.text == typed
    assert content.length == len(typed)
    assert content.formatting == frozenset()
