"""The plugin contract: every hook inmail-guard calls, in one place.

Plugins implement these with ``@inmail_guard.hookimpl``. Hooks are always called with keyword
arguments, so an implementation may accept any subset of a spec's parameters, and specs can grow
new parameters without breaking existing plugins. inmail-guard never depends on the order in
which pluggy calls implementations: where order matters (detectors), the engine sorts by name.

Our own detectors, advisors and event sinks are registered through these same hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content
    from inmail_guard.engine.types import Advice, Decision, Facts, Message, Signal
    from inmail_guard.plugins.base import Detector

PROJECT = "inmail_guard"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def inmail_guard_detectors() -> list[type[Detector]]:  # type: ignore[empty-body]
    """Register detector classes.

    Called once when an :class:`~inmail_guard.Engine` is built (and by ``policy validate``).
    Return a list of :class:`~inmail_guard.Detector` subclasses. Each class's ``name`` is the key
    under ``spam.detectors`` in a policy; two classes with the same name are an error. Classes
    are only instantiated when a policy enables them.
    """


@hookspec
def inmail_guard_check(message: Message, facts: Facts, content: Content) -> Signal | None:  # type: ignore[empty-body]
    """Score one send. Implemented by each enabled detector *instance*, not by modules.

    Called once per evaluated send, only when no static rule has rejected it, by the engine's
    façade, one implementation at a time (so one detector's exception cannot stop another).

    :param message: the message being sent.
    :param facts: what the engine knows about sender, recipient and history; ``facts.now`` is
        the only clock a detector may use.
    :param content: the parsed body (rendered text, links, formatting), parsed once per send.
    :return: a :class:`~inmail_guard.Signal` whose ``score`` adds to the spam score, or ``None``
        to abstain (nothing to say about this message). Raising marks the detector failed: its
        ``on_error`` setting decides whether the send goes on (``fail_open``) or is rejected
        with ``detector_failed`` (``fail_closed``).
    """


@hookspec
def inmail_guard_decision(message: Message, facts: Facts, decision: Decision) -> None:
    """Observe every decision (metrics, audit, analytics). Called after evaluation.

    For a send, called once, with the decision the send stored: a send whose read went stale
    while it decided decides again, and only the decision written is observed (a decision on
    its own, ``evaluate``, is observed when it is made). The return value is ignored; an
    exception is logged and swallowed, never changing the decision.
    """


@hookspec
def inmail_guard_event(event: dict[str, Any]) -> None:
    """Receive one lifecycle event from the outbox (CRM, analytics, webhooks).

    ``event`` is a JSON-ready dict with ``event_id`` (unique; delivery is at-least-once, so
    de-duplicate on it), ``type`` (``inmail.sent``, ``inmail.opened``, ``inmail.replied``,
    ``inmail.expired``, ``inmail.retracted``, ``inmail.reported``, ``sender.restricted``),
    ``occurred_at`` and ids, tags and CRM references. Never the message body.
    Return normally when the event is durably handled; raise to have it retried later.
    """


@hookspec
def inmail_guard_advise(message: Message, facts: Facts, content: Content) -> list[Advice] | None:  # type: ignore[empty-body]
    """Give non-blocking best-practice advice on an accepted send.

    Called only for accepted decisions. Return a list of :class:`~inmail_guard.Advice`
    (possibly empty) or ``None``. Advice never changes the outcome; an advisor that raises is
    skipped.
    """
