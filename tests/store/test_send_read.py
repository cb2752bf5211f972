"""A send's read without the lock (store/sendpath.py: on PostgreSQL one statement, its send
times and bodies as arrays) finds the same facts as the read under the lock (one row per send
time): every send time of the last 24 h up to the cap, oldest first, in UTC; the recent bodies
newest first, another fingerprint version left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import inmail_guard as ig
from inmail_guard.store import sendpath, sends
from inmail_guard.store import tables as t
from inmail_guard.store.db import raw_write
from inmail_guard.store.facts import RECENT_SENDS_CAP, encode_fingerprint

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
WINDOW, PREVIOUS = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
READS = sends.Reads(expire_after=timedelta(days=14), abuse_window=timedelta(days=30),
                    bodies_window=timedelta(hours=6), fingerprint_version=1, rollover_cap=0)


def _inmail(i: int, sender: str, sent_at: datetime, fingerprint: str | None = None) -> dict:
    return {"id": f"im_{sender}_{i}", "sender_id": sender, "recipient_id": f"r{i % 7}",
            "subject": "s", "body": "b", "tags": "[]", "crm": "{}",
            "decision_id": f"d_{sender}_{i}", "window_start": WINDOW, "sent_at": sent_at,
            "fingerprint": fingerprint}


@pytest.fixture
def history(store):
    """alice: more sends in the last 24 h than the cap (pairs of them at the same instant),
    a few older ones, bodies in the last 6 h (one of another fingerprint version); bob's
    sends, which are not hers."""
    members = [ig.Member("alice", plan="premium_business"), ig.Member("bob")]
    members += [ig.Member(f"r{i}") for i in range(7)]
    rows = []
    for i in range(RECENT_SENDS_CAP + 10):
        rows.append(_inmail(i, "alice", NOW - timedelta(seconds=60 + 30 * (i // 2))))
    for i in range(3):
        rows.append(_inmail(5000 + i, "alice", NOW - timedelta(hours=25 + i)))
    for i in range(12):
        version = 0 if i == 4 else 1
        fingerprint = encode_fingerprint(version, tuple(range(i, i + 8)))
        rows.append(_inmail(6000 + i, "alice", NOW - timedelta(seconds=45 + 600 * i),
                            fingerprint))
    rows += [_inmail(i, "bob", NOW - timedelta(minutes=i + 1)) for i in range(20)]
    from inmail_guard.service import InMailService

    svc = InMailService(ig.default_policy(), store)
    for member in members:
        svc.put_member(member)
    with store.write() as conn:
        conn.execute(t.inmails.insert(), rows)
    return rows


def _locked_read(store):
    with raw_write(store) as db:
        found = sends.read(db, "alice", "bob", NOW, WINDOW, PREVIOUS, READS, lambda _: 100)
    assert isinstance(found, sends.SendRead)
    return found.facts


def _unlocked_read(store, conn=None):
    found = sends.read_unlocked(store, "alice", "bob", NOW, WINDOW, PREVIOUS, READS,
                                lambda _: 100, idempotency_key=None, conn=conn)
    assert isinstance(found, sends.UnlockedRead)
    return found.facts


def test_the_read_without_the_lock_finds_every_recent_send_and_body(store, history):
    expected_sends = sorted(r["sent_at"] for r in history
                            if r["sender_id"] == "alice"
                            and r["sent_at"] > NOW - timedelta(hours=24))[-RECENT_SENDS_CAP:]
    expected_bodies = sorted(((r["recipient_id"], r["sent_at"]) for r in history
                              if r["fingerprint"] and not r["fingerprint"].startswith("0x")),
                             key=lambda b: b[1], reverse=True)
    locked = _locked_read(store)
    facts = _unlocked_read(store)
    assert facts == locked
    assert list(facts.recent_sends) == expected_sends
    assert all(s.utcoffset() == timedelta(0) for s in facts.recent_sends)
    assert [(b.recipient_id, b.sent_at) for b in facts.recent_bodies] == expected_bodies
    assert facts.recent_bodies[0].minhash == tuple(range(0, 8))


def test_a_session_in_another_time_zone_still_reads_utc_times(store, history):
    if store.is_sqlite:
        pytest.skip("PostgreSQL only")
    locked = _locked_read(store)
    with sendpath.connection(store) as conn:
        conn.execute("SET TimeZone = 'America/New_York'")
        facts = _unlocked_read(store, conn)
    assert facts == locked
    assert all(s.tzinfo is UTC for s in facts.recent_sends)
    assert all(b.sent_at.tzinfo is UTC for b in facts.recent_bodies)
    assert facts.sender.id == "alice" and len(facts.recent_sends) == RECENT_SENDS_CAP


def test_the_read_without_the_lock_counts_restrictions_and_reports_as_the_locked_one(store,
                                                                                     history):
    """One aggregate over the sender's restrictions (PostgreSQL) finds what the locked read's
    subqueries find: the active restriction's end, every restriction ever, and the reports
    since the window that came after the last lift."""
    lifted_at = NOW - timedelta(days=5)
    restrictions = [  # lifted; expired; active (the latest end among those not lifted)
        {"id": "x1", "member_id": "alice", "starts_at": NOW - timedelta(days=9),
         "until": NOW + timedelta(days=9), "cause": "spam", "lifted_at": lifted_at},
        {"id": "x2", "member_id": "alice", "starts_at": NOW - timedelta(days=4),
         "until": NOW - timedelta(days=1), "cause": "spam", "lifted_at": None},
        {"id": "x3", "member_id": "alice", "starts_at": NOW - timedelta(hours=1),
         "until": NOW + timedelta(days=2), "cause": "spam", "lifted_at": None},
        {"id": "x4", "member_id": "bob", "starts_at": NOW - timedelta(hours=1),
         "until": NOW + timedelta(days=20), "cause": "spam", "lifted_at": None},
    ]
    reports = [  # before the lift; after it (twice); outside the window; against bob
        (NOW - timedelta(days=6), "alice"), (NOW - timedelta(days=4), "alice"),
        (NOW - timedelta(days=1), "alice"), (NOW - timedelta(days=40), "alice"),
        (NOW - timedelta(days=1), "bob")]
    with store.write() as conn:
        conn.execute(t.restrictions.insert(), restrictions)
        conn.execute(t.abuse_reports.insert(), [
            {"id": f"a{i}", "inmail_id": f"im{i}", "reporter_id": f"r{i}", "sender_id": sender,
             "reason": "", "created_at": at} for i, (at, sender) in enumerate(reports)])
    locked = _locked_read(store)
    facts = _unlocked_read(store)
    assert facts == locked
    assert facts.restricted_until == NOW + timedelta(days=2)
    assert facts.prior_restrictions == 3
    assert facts.abuse_reports == 2


def test_the_read_without_the_lock_finds_the_keys_use_only_with_that_key(store, history):
    with store.write() as conn:
        conn.execute(t.decision_log.insert(), [{
            "decision_id": "d1", "sender_id": "alice", "recipient_id": "bob",
            "idempotency_key": "k1", "request_hash": "h1", "outcome": "accepted", "codes": "",
            "decision": "{}", "inmail_id": None, "policy_version": "v", "created_at": NOW}])

    def key_use(key):
        found = sends.read_unlocked(store, "alice", "bob", NOW, WINDOW, PREVIOUS, READS,
                                    lambda _: 100, idempotency_key=key)
        assert isinstance(found, sends.UnlockedRead)
        assert found.facts == _locked_read(store)
        return found.key_use

    assert key_use("k1") == sends.inmails.KeyUse("h1", "{}", None)
    assert key_use("k2") is None
    assert key_use(None) is None
