"""The send's two paths in the service package (service/send.py over store/sends.py): read then
write if the read still holds (the default), and lock first (a hot sender, or
``read_then_write = False``). Both keep the guarantees; a send reads the active policy once,
for every attempt; a read the database could not serve is tried once more on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

import inmail_guard as ig
from inmail_guard.policies.loader import load_policy_text
from inmail_guard.service import ServiceError
from inmail_guard.store import sendpath
from inmail_guard.store import tables as t

from .cast import count, events, msg, state

PATHS = pytest.mark.parametrize("read_then_write", [True, False],
                                ids=["read-then-write", "lock-first"])


@PATHS
def test_either_path_spends_every_credit_once_and_then_refuses(svc, store, read_then_write):
    svc.sends.read_then_write = read_then_write
    for i in range(10):
        assert svc.send(msg(subject=f"s{i}", tags=("t",))).accepted
    refused = svc.send(msg(subject="one too many"))
    assert not refused.accepted and refused.decision.codes == ("credits_exhausted",)
    assert refused.inmail is None
    assert svc.credits("alice").used == 10 and count(store, t.inmails) == 10
    assert count(store, t.credit_ledger, t.credit_ledger.c.kind == "spend") == 10
    assert count(store, t.inmail_tags) == 10
    assert len(events(store, "inmail.sent")) == 10 and count(store, t.decision_log) == 11


@PATHS
def test_either_path_replays_a_used_key_and_refuses_it_for_another_message(
        svc, store, read_then_write):
    svc.sends.read_then_write = read_then_write
    first = svc.send(msg(idempotency_key="k1", tags=("q3",), crm={"lead_id": "L-1"}))
    again = svc.send(msg(idempotency_key="k1", tags=("q3",), crm={"lead_id": "L-1"}))
    assert first.accepted and again.replayed and not first.replayed
    assert again.inmail == first.inmail
    assert again.decision.to_dict() == first.decision.to_dict()  # as the decision log keeps it
    with pytest.raises(ServiceError) as err:
        svc.send(msg(idempotency_key="k1", subject="something else"))
    assert (err.value.code, err.value.field) == ("idempotency_conflict", "idempotency_key")
    assert svc.credits("alice").used == 1 and count(store, t.decision_log) == 1


@PATHS
@pytest.mark.parametrize("who", ["sender_id", "recipient_id"])
def test_either_path_names_the_unknown_member_and_writes_nothing(svc, store, read_then_write,
                                                                 who):
    svc.sends.read_then_write = read_then_write
    before = state(store)
    message = msg("ghost") if who == "sender_id" else msg(recipient="ghost")
    with pytest.raises(ServiceError) as err:
        svc.send(message)
    assert (err.value.code, err.value.field, err.value.message) == (
        "member_not_found", who, "no member 'ghost'")
    assert state(store) == before


def _policy(name: str, days: int) -> ig.Policy:
    return load_policy_text(f"name: {name}\nextends: builtin:default\n"
                            f"lifecycle: {{expire_unopened_after: {days}d}}\n")


def test_a_policy_swap_between_two_attempts_does_not_split_the_send(svc, store, monkeypatch):
    svc.swap_engine(ig.Engine(_policy("short", 2)))
    real = sendpath.write_send
    calls: list[str] = []

    def swap_then_stale(store_, w, **kw):
        calls.append(w.decision_id)
        if len(calls) == 1:  # a reload lands while this send's read went stale
            svc.swap_engine(ig.Engine(_policy("long", 20)))
            return sendpath.STALE
        return real(store_, w, **kw)

    monkeypatch.setattr(sendpath, "write_send", swap_then_stale)
    result = svc.send(msg())
    assert len(calls) == 2 and result.accepted
    # The retry decided and wrote with what the send started with: engine and terms alike.
    assert result.decision.policy.name == "short"
    assert result.inmail.expires_at - result.inmail.sent_at == timedelta(days=2)
    following = svc.send(msg(subject="after the reload"))
    assert following.decision.policy.name == "long"
    assert following.inmail.expires_at - following.inmail.sent_at == timedelta(days=20)


def _failing_reads(monkeypatch, times: int) -> list[int]:
    """The next ``times`` send reads find the database unavailable."""
    real = sendpath.read_send
    calls: list[int] = []

    def read_send(*args, **kw):
        calls.append(1)
        if len(calls) <= times:
            raise sendpath.ReadUnavailable("connection")
        return real(*args, **kw)

    monkeypatch.setattr(sendpath, "read_send", read_send)
    return calls


def test_a_read_the_database_could_not_serve_is_tried_once_more_on_postgresql(
        svc, store, monkeypatch):
    calls = _failing_reads(monkeypatch, times=1)
    if store.is_sqlite:  # one file, no connection to lose: the failure is the answer
        with pytest.raises(ServiceError) as err:
            svc.send(msg())
        assert err.value.code == "database_unavailable" and len(calls) == 1
        assert count(store, t.decision_log) == 0
        return
    result = svc.send(msg())
    assert result.accepted and len(calls) == 2
    assert svc.credits("alice").used == 1 and count(store, t.decision_log) == 1


def test_a_read_that_fails_twice_answers_database_unavailable_having_written_nothing(
        svc, store, monkeypatch):
    calls = _failing_reads(monkeypatch, times=2)
    before = state(store)
    with pytest.raises(ServiceError) as err:
        svc.send(msg())
    assert err.value.code == "database_unavailable"
    assert len(calls) == (1 if store.is_sqlite else 2)
    assert state(store) == before
