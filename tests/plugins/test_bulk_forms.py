"""The bulk detector decides the same on either form of a fingerprint, as it did before the
store handed on the text it keeps (``engine.history.stored_fingerprint``).

``reference_check`` is the detector's comparison as it was (main at 6f3191b): decode every
fingerprint into ints, pack them, compare with numpy. Every case runs it and today's detector
on the callers' form (tuples of ints), the store's form (hex text) and a mix of both.
"""

from __future__ import annotations

import math
import random
import struct
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fingerprint_helpers import decoded
from inmail_guard.engine.content import Content, parse_body
from inmail_guard.engine.history import stored_fingerprint
from inmail_guard.engine.types import BodyFingerprint, Facts, Member, Message, Signal
from inmail_guard.plugins import bulk
from inmail_guard.plugins.bulk import PERMUTATIONS, BulkDetector, fingerprint
from inmail_guard.policies.schema import format_duration

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
_OLD_PACK = struct.Struct(f"={PERMUTATIONS}I").pack
WORDS = ("hiring", "staff", "engineer", "ledger", "team", "remote", "Berlin", "Lisbon", "call",
         "next", "week", "salary", "band", "Go", "PostgreSQL", "Kafka", "Kubernetes", "payments",
         "settlement", "small", "businesses", "open", "chat")


def reference_check(detector: BulkDetector, msg: Message, fct: Facts) -> Signal | None:
    """BulkDetector.check as it was before the stored form (tuples packed per body)."""
    cfg = detector.config
    since = fct.now - cfg.window
    candidates = [b for b in fct.recent_bodies
                  if b.sent_at > since and b.recipient_id != msg.recipient_id
                  and len(b.minhash) == PERMUTATIONS]
    if len({b.recipient_id for b in candidates}) < cfg.max_similar:
        return None
    mine = fingerprint(msg.body)
    if not mine:
        return None
    stored = np.frombuffer(b"".join([_OLD_PACK(*b.minhash) for b in candidates]),
                           dtype=np.uint32).reshape(len(candidates), PERMUTATIONS)
    agree = (stored == np.frombuffer(_OLD_PACK(*mine), dtype=np.uint32)).sum(axis=1)
    needed = math.ceil(cfg.similarity * PERMUTATIONS - 1e-9)
    similar = {b.recipient_id for b, n in zip(candidates, agree.tolist(), strict=True)
               if n >= needed}
    if len(similar) < cfg.max_similar:
        return None
    window = format_duration(cfg.window)
    return detector.signal(
        cfg.score,
        f"a similar body went to {len(similar)} other recipients in the last {window}"
        f" (limit {cfg.max_similar}, similarity >= {cfg.similarity:g})",
        similar_recipients=len(similar), max_similar=cfg.max_similar,
        similarity=cfg.similarity, window=window, compared=len(candidates),
    )


def message(recipient_id: str = "r1", body: str = "Hi Dana, a role at Acme") -> Message:
    return Message("s1", recipient_id, "A role", body)


def facts(recent_bodies: tuple[BodyFingerprint, ...]) -> Facts:
    return Facts(Member("s1"), Member("r1"), NOW, recent_bodies=recent_bodies)


def content(body: str) -> Content:
    return parse_body(body, max_source_chars=12000)


def as_stored(b: BodyFingerprint) -> BodyFingerprint:
    return stored_fingerprint(b.recipient_id, b.sent_at, b.minhash_hex)


def history(rng: random.Random, base: list[str], n: int) -> tuple[BodyFingerprint, ...]:
    """``n`` recent bodies: edits of ``base`` (0 to 12 words changed: some near-duplicates,
    some not), to a few recipients (repeats included), some older than the 24h window."""
    out = []
    for _ in range(n):
        words = list(base)
        for _ in range(rng.randrange(13)):
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        out.append(BodyFingerprint(f"r{rng.randrange(n // 2 + 2)}",
                                   NOW - timedelta(minutes=rng.randrange(1, 30 * 60)),
                                   fingerprint(" ".join(words))))
    return tuple(out)


def _case(seed: int) -> tuple[BulkDetector, Message, tuple[BodyFingerprint, ...]]:
    """A seeded random case: a detector's settings, a message and its sender's history."""
    rng = random.Random(seed)
    base = [rng.choice(WORDS) for _ in range(rng.choice((5, 40, 100)))]
    detector = BulkDetector.from_settings(
        {"max_similar": rng.choice((1, 3, 10)), "similarity": rng.choice((0.5, 0.8, 1.0))})
    return (detector, message(recipient_id="r1", body=" ".join(base)),
            history(rng, base, rng.choice((5, 30, 200))))


@pytest.mark.parametrize("seed", range(40))
def test_either_form_decides_as_before(seed: int) -> None:
    detector, msg, recent = _case(seed)
    stored = tuple(as_stored(b) for b in recent)
    mixed = tuple(s if i % 2 else b for i, (b, s) in enumerate(zip(recent, stored,
                                                                    strict=True)))
    want = reference_check(detector, msg, facts(recent_bodies=recent))
    for form in (recent, stored, mixed):
        got = detector.check(msg, facts(recent_bodies=form), content(msg.body))
        assert got == want
    # The store's form was compared as text: nothing had to decode it.
    assert all(not decoded(b) for b in stored)


def test_the_cases_cover_both_outcomes() -> None:
    """The random cases above are worth something only if some fire and some do not."""
    fired = set()
    for seed in range(40):
        detector, msg, recent = _case(seed)
        fired.add(reference_check(detector, msg, facts(recent_bodies=recent)) is not None)
    assert fired == {True, False}


def test_the_numpy_comparison_counts_as_the_c_one() -> None:
    """Where the speedups are not built the numpy comparison runs: the same counts."""
    rng = random.Random(5)
    mine = tuple(rng.randrange(2**32) for _ in range(PERMUTATIONS))
    signatures = [tuple(v if rng.random() < share else rng.randrange(2**32) for v in mine)
                  for share in (0.0, 0.3, 0.8, 1.0) for _ in range(50)]
    texts = [bulk._hex(s) for s in signatures]
    want = [sum(a == b for a, b in zip(s, mine, strict=True)) for s in signatures]
    assert bulk._numpy_agreements(bulk._hex(mine), texts) == want
    if bulk.agreements is not None:
        assert bulk.agreements(bulk._hex(mine), texts) == want


def test_the_detector_without_the_c_comparison(monkeypatch) -> None:
    monkeypatch.setattr(bulk, "_agreements", bulk._numpy_agreements)
    rng = random.Random(11)
    base = [rng.choice(WORDS) for _ in range(40)]
    detector = BulkDetector.from_settings({"max_similar": 3})
    msg = message(recipient_id="r1", body=" ".join(base))
    same = tuple(BodyFingerprint(f"x{i}", NOW - timedelta(hours=i + 1), fingerprint(msg.body))
                 for i in range(4))
    recent = history(rng, base, 30) + same
    want = reference_check(detector, msg, facts(recent_bodies=recent))
    assert want is not None and want.data["similar_recipients"] >= 4
    for form in (recent, tuple(as_stored(b) for b in recent)):
        assert detector.check(msg, facts(recent_bodies=form), content(msg.body)) == want


def test_a_value_outside_32_bits_fails_as_before() -> None:
    """A caller's minhash of the right length with a value packing cannot hold: struct.error
    from the detector, as before (the engine reports a detector's error as its signal)."""
    detector = BulkDetector.from_settings({"max_similar": 1})
    msg = message(recipient_id="r1")
    bad = (BodyFingerprint("r2", NOW - timedelta(minutes=1), (2**32,) * PERMUTATIONS),)
    with pytest.raises(struct.error):
        reference_check(detector, msg, facts(recent_bodies=bad))
    with pytest.raises(struct.error):
        detector.check(msg, facts(recent_bodies=bad), content(msg.body))
