"""Helpers for detector and advisor tests: a Message, Facts and the parsed Content of a body."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from inmail_guard.engine.content import Content, parse_body
from inmail_guard.engine.types import Facts, Member, Message, Signal
from inmail_guard.plugins.base import Detector

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

BODY = (
    "Hi Dana, I noticed your work on distributed systems at Acme and wanted to reach out. "
    "We are building a small platform team in Berlin and your experience with Kafka and "
    "Kubernetes looks like a great fit. Would you be open to a short call next week? "
    "Best regards, Sam"
)


def message(**overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "sender_id": "s1",
        "recipient_id": "r1",
        "subject": "Platform engineer role at Acme Berlin",
        "body": BODY,
    }
    fields.update(overrides)
    return Message(**fields)


def facts(**overrides: Any) -> Facts:
    fields: dict[str, Any] = {
        "sender": Member("s1", plan="premium_business", name="Sam Lee"),
        "recipient": Member("r1", plan="basic", name="Dana Smith"),
        "now": NOW,
        "connection_degree": 2,
    }
    fields.update(overrides)
    return Facts(**fields)


def content(body: str) -> Content:
    return parse_body(body, max_source_chars=12000)


RunDetector = Callable[..., Signal | None]


@pytest.fixture
def run() -> RunDetector:
    """``run(detector_or_class, settings=None, message=..., facts=...)`` -> its signal."""

    def call(
        detector: Detector | type[Detector],
        settings: dict[str, Any] | None = None,
        *,
        msg: Message | None = None,
        fct: Facts | None = None,
        **message_fields: Any,
    ) -> Signal | None:
        if isinstance(detector, type):
            detector = detector.from_settings(settings or {})
        msg = msg or message(**message_fields)
        return detector.check(msg, fct or facts(), content(msg.body))

    return call


@pytest.fixture
def make_message() -> Callable[..., Message]:
    return message


@pytest.fixture
def make_facts() -> Callable[..., Facts]:
    return facts
