"""Stored bulk fingerprints: the compact form written today, the decimal form of earlier rows,
and the recent sends and bodies read back in one statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

import inmail_guard as ig
from inmail_guard.plugins.bulk import FINGERPRINT_VERSION, fingerprint
from inmail_guard.store import tables as t
from inmail_guard.store.facts import decode_fingerprint, encode_fingerprint

from .cast import cast, msg

VALUES = (0, 1, 2**32 - 1, 123456789) * 16


def test_fingerprints_round_trip_in_the_compact_form() -> None:
    text = encode_fingerprint(1, VALUES)
    assert text.startswith("1x:") and len(text) == 3 + 8 * len(VALUES)
    assert decode_fingerprint(text, 1) == VALUES
    assert decode_fingerprint(encode_fingerprint(1, ()), 1) == ()
    body = fingerprint("We are hiring data engineers in Lisbon")
    assert decode_fingerprint(encode_fingerprint(FINGERPRINT_VERSION, body),
                              FINGERPRINT_VERSION) == body


def test_decimal_fingerprints_of_earlier_releases_are_still_read() -> None:
    old = "1:" + ",".join(map(str, VALUES))
    assert decode_fingerprint(old, 1) == VALUES
    assert decode_fingerprint("1:", 1) == ()


def test_other_versions_are_ignored_in_either_form() -> None:
    assert decode_fingerprint(encode_fingerprint(1, VALUES), 2) is None
    assert decode_fingerprint("1:" + ",".join(map(str, VALUES)), 2) is None
    assert decode_fingerprint("2x:" + "00" * 4, 1) is None


def _bulk(decision: ig.Decision) -> ig.Signal | None:
    return next((s for s in decision.spam.signals if s.detector == "bulk" and s.score > 0), None)


def _one_body_to_the_limit(service, clock) -> tuple[int, str, str]:
    """rita sends one body to as many recipients as the bulk detector allows (all accepted);
    returns that limit, the body and its fingerprint in the decimal form of earlier releases."""
    cast(service)
    limit = service.policy.spam.detectors["bulk"]["max_similar"]
    for i in range(limit):
        service.put_member(ig.Member(f"p{i}"))
    body = "Hi there, we are hiring senior data engineers in Lisbon, fully remote, great team."
    for i in range(limit):
        clock.advance(timedelta(minutes=5))
        assert service.send(msg("rita", f"p{i}", body=body)).accepted
    return limit, body, f"{FINGERPRINT_VERSION}:" + ",".join(map(str, fingerprint(body)))


def test_bulk_detector_counts_rows_stored_in_the_decimal_form(service, clock) -> None:
    """A database written by an earlier release keeps working: its fingerprints count."""
    limit, body, old = _one_body_to_the_limit(service, clock)
    with service.store.write() as conn:
        conn.execute(update(t.inmails).values(fingerprint=old))
    clock.advance(timedelta(minutes=5))
    again = service.send(msg("rita", "bob", body=body))
    assert _bulk(again.decision) is not None
    assert _bulk(again.decision).data["similar_recipients"] == limit


def test_recent_sends_and_bodies_keep_their_own_windows(service, clock) -> None:
    """One statement reads both; each keeps its window, and bodies come newest first."""
    cast(service)
    for i in range(3):
        service.put_member(ig.Member(f"p{i}"))
    seen = []
    service.engine.evaluate, evaluate = (
        lambda m, f, **kw: seen.append(f) or evaluate(m, f, **kw)), service.engine.evaluate
    for i in range(3):
        clock.advance(timedelta(minutes=10))
        assert service.send(msg("rita", f"p{i}", body=f"Hello number {i}, about a role")).accepted
    with service.store.write() as conn:  # the oldest one sent without a fingerprint
        conn.execute(update(t.inmails).where(t.inmails.c.recipient_id == "p0")
                     .values(fingerprint=None))
    clock.advance(timedelta(minutes=10))
    service.send(msg("rita", "bob", body="And one more"))
    facts = seen[-1]
    assert len(facts.recent_sends) == 3
    assert list(facts.recent_sends) == sorted(facts.recent_sends)
    assert [b.recipient_id for b in facts.recent_bodies] == ["p2", "p1"]
    assert facts.recent_bodies[0].minhash == fingerprint("Hello number 2, about a role")


def _decoded(b: ig.BodyFingerprint) -> bool:
    try:
        ig.BodyFingerprint.__dict__["minhash"].__get__(b)
    except AttributeError:
        return False
    return True


def test_the_store_hands_on_the_text_it_keeps_and_the_detector_never_decodes_it(
        service, clock) -> None:
    """A send reads the sender's fingerprints as the stored hex (no decoding per body): the
    bulk detector compares them as they are, and ``minhash`` still gives the ints."""
    cast(service)
    limit = service.policy.spam.detectors["bulk"]["max_similar"]
    for i in range(limit):
        service.put_member(ig.Member(f"p{i}"))
    body = "Hi there, we are hiring senior data engineers in Lisbon, fully remote, great team."
    seen = []
    service.engine.evaluate, evaluate = (
        lambda m, f, **kw: seen.append(f) or evaluate(m, f, **kw)), service.engine.evaluate
    for i in range(limit):
        clock.advance(timedelta(minutes=5))
        assert service.send(msg("rita", f"p{i}", body=body)).accepted
    clock.advance(timedelta(minutes=5))
    again = service.send(msg("rita", "bob", body=body))
    assert again.decision.codes == ("spam_detected",)
    assert _bulk(again.decision).data["similar_recipients"] == limit
    bodies = seen[-1].recent_bodies
    assert len(bodies) == limit and not any(_decoded(b) for b in bodies)
    assert {b.minhash_hex for b in bodies} == {
        encode_fingerprint(FINGERPRINT_VERSION, fingerprint(body)).partition(":")[2]}
    assert bodies[0] == ig.BodyFingerprint("p9", bodies[0].sent_at, fingerprint(body))
    assert all(b.minhash == fingerprint(body) for b in bodies)


def test_rows_in_both_forms_count_together(service, clock) -> None:
    """Half the rows written by an earlier release (decimal), half today (hex): the bulk
    detector counts every one, and each reads back as the same values."""
    limit, body, old = _one_body_to_the_limit(service, clock)
    with service.store.write() as conn:
        conn.execute(update(t.inmails).where(t.inmails.c.recipient_id.in_(["p0", "p2", "p4"]))
                     .values(fingerprint=old))
    seen = []
    service.engine.evaluate, evaluate = (
        lambda m, f, **kw: seen.append(f) or evaluate(m, f, **kw)), service.engine.evaluate
    clock.advance(timedelta(minutes=5))
    again = service.send(msg("rita", "bob", body=body))
    assert _bulk(again.decision).data["similar_recipients"] == limit
    bodies = seen[-1].recent_bodies
    assert [b.recipient_id for b in bodies] == [f"p{i}" for i in reversed(range(limit))]
    assert all(b.minhash == fingerprint(body) and b.size == 64 for b in bodies)


def test_the_arrays_of_a_postgresql_read_give_each_form() -> None:
    """bodies_from_arrays (PostgreSQL's one-row read): today's rows as the stored text, earlier
    releases' decimal rows decoded, other versions left out; a stored text whose length is
    not 8 digits a value fails the read, as decoding it always did."""
    from datetime import UTC, datetime

    from inmail_guard.store.sendquery import bodies_from_arrays

    at = [datetime(2026, 11, 27, h, tzinfo=UTC) for h in (9, 8, 7, 6)]
    texts = [encode_fingerprint(1, VALUES), "1:" + ",".join(map(str, VALUES)),
             encode_fingerprint(2, VALUES), "2:1,2"]
    bodies = bodies_from_arrays(at, ["a", "b", "c", "d"], texts, 1)
    assert not _decoded(bodies[0]) and _decoded(bodies[1])
    assert bodies[0].minhash_hex == texts[0][3:]
    assert bodies == (ig.BodyFingerprint("a", at[0], VALUES),
                      ig.BodyFingerprint("b", at[1], VALUES))
    with pytest.raises(ValueError) as error:
        bodies_from_arrays(at[:1], ["a"], ["1x:0000000a00"], 1)
    assert str(error.value) == "minhash_hex: expected 8 hex digits per value, found 10 characters"
