"""A policy reload is one assignment: the engine and the terms compiled from it (lifecycle,
credits, what the detectors keep and read back) are one immutable object, replaced whole, so
no reader ever pairs the engine of one policy with the terms of another."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

import inmail_guard as ig
from inmail_guard.policies.loader import load_policy_text
from inmail_guard.service.context import ActivePolicy, Terms

from .cast import msg

EXPIRY = {"short": timedelta(days=2), "long": timedelta(days=20)}


def policy(name: str) -> ig.Policy:
    days = EXPIRY[name].days
    return load_policy_text(f"name: {name}\nextends: builtin:default\n"
                            f"lifecycle: {{expire_unopened_after: {days}d,"
                            f" retract_within: {days}d}}\n")


@pytest.fixture
def engines() -> dict[str, ig.Engine]:
    return {name: ig.Engine(policy(name)) for name in EXPIRY}


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows: more interleavings to catch a mix."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def swapping(svc: object, engines: dict[str, ig.Engine]) -> tuple[threading.Event,
                                                                   threading.Thread]:
    svc.swap_engine(engines["short"])  # type: ignore[attr-defined]
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            for engine in engines.values():
                svc.swap_engine(engine)  # type: ignore[attr-defined]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return stop, thread


def test_the_active_policy_is_one_frozen_object_with_terms_compiled_from_its_engine(engines):
    active = ActivePolicy.of(engines["short"])
    assert active.terms == Terms.of(engines["short"])
    assert active.terms.expire_after == active.terms.retract_within == timedelta(days=2)
    with pytest.raises(AttributeError):
        active.engine = engines["long"]  # type: ignore[misc]


def test_a_concurrent_reader_never_sees_the_engine_of_one_policy_with_the_terms_of_another(
        service, engines, fast_switching):
    stop, thread = swapping(service, engines)
    seen: Counter[str] = Counter()
    mixed = []
    deadline = time.monotonic() + 20
    try:
        while min(seen[name] for name in EXPIRY) < 1_000 and time.monotonic() < deadline:
            active = service.active
            name = active.engine.policy.name
            seen[name] += 1
            if active.terms.expire_after != EXPIRY[name] or active.policy.name != name:
                mixed.append((name, active.terms.expire_after))
    finally:
        stop.set()
        thread.join()
    assert mixed == []
    assert min(seen.values()) >= 1_000  # the reader saw each policy, many times


def test_sends_during_reloads_each_use_one_policy_whole(svc, engines, clock, fast_switching):
    """Each accepted InMail expires as the policy that decided it says, whichever policy was
    swapped in while the send ran."""
    stop, thread = swapping(svc, engines)
    by_policy: Counter[str] = Counter()
    try:
        for i in range(30):  # rita's plan has 50 credits a month
            clock.advance(timedelta(minutes=17 + 11 * (i % 4)))  # no volume, not machine-regular
            result = svc.send(msg("rita", "bob", body=f"Hello Bob, message {i} about a role"))
            assert result.accepted, result.decision.codes
            name = result.decision.policy.name
            by_policy[name] += 1
            inmail = result.inmail
            assert inmail.expires_at - inmail.sent_at == EXPIRY[name], name
            assert inmail.retract_until - inmail.sent_at == EXPIRY[name], name
    finally:
        stop.set()
        thread.join()
    assert sum(by_policy.values()) == 30


def test_a_refused_swap_keeps_the_active_policy_object(svc):
    before = svc.active
    shadow = load_policy_text("name: t\nextends: builtin:default\n"
                              "rules_mode: {credits: shadow}\n")
    with pytest.raises(ValueError, match=r"^rules_mode\.credits: expected enforce"):
        svc.swap_engine(ig.Engine(shadow))
    assert svc.active is before
