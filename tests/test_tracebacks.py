"""``inmail_guard.tracebacks``: a traceback for the log with every frame and no message."""

from __future__ import annotations

import traceback

from inmail_guard.tracebacks import HIDDEN, redacted

QUOTED = "quoted-" + "request-text"  # never in a source line the traceback shows


class Custom(Exception):
    pass


def fail(text: str) -> None:
    int(text)


def test_frames_and_types_are_kept_and_every_message_in_the_chain_is_hidden() -> None:
    try:
        try:
            fail(QUOTED)
        except ValueError as exc:
            raise KeyError(QUOTED) from exc
    except KeyError as exc:
        text = redacted(exc)
        full = "".join(traceback.format_exception(exc))
    assert QUOTED in full and QUOTED not in text
    assert "in fail\n" in text and "int(text)" in text
    assert f"ValueError: {HIDDEN}\n" in text and f"KeyError: {HIDDEN}\n" in text
    assert "The above exception was the direct cause of the following exception" in text
    assert text.index("ValueError") < text.index("KeyError")


def test_an_exception_raised_while_handling_another_keeps_both() -> None:
    try:
        try:
            fail(QUOTED)
        except ValueError:
            raise Custom(QUOTED)  # noqa: B904 - the implicit chain is the case
    except Custom as exc:
        text = redacted(exc)
    assert "During handling of the above exception" in text and QUOTED not in text
    assert f"test_tracebacks.Custom: {HIDDEN}" in text


def test_a_cycle_in_the_chain_ends() -> None:
    a, b = ValueError(QUOTED), ValueError(QUOTED)
    a.__context__, b.__context__ = b, a
    assert redacted(a).count(HIDDEN) == 2
