"""The send reads outside any lock and writes only if its read still holds (store/sendpath.py):
a read made stale by another send of the same sender is read and decided again, a refused
spend or a stale read writes nothing, and PostgreSQL without its send function still sends."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from sqlalchemy import text

from inmail_guard.store import sendpath
from inmail_guard.store import tables as t

from .cast import count, events, msg, state


def _spend(svc, n: int) -> None:
    for i in range(n):
        assert svc.send(msg(subject=f"warm-up {i}")).accepted


def _race_before_writes(monkeypatch, svc, times: int) -> list[str]:
    """Before each of the next ``times`` writes, another send of alice's gets in first."""
    real = sendpath.write_send
    racers: list[str] = []

    def racing(store, w, **kw):
        if len(racers) < times:
            racers.append(w.decision_id)
            monkeypatch.setattr(sendpath, "write_send", real)  # the racer writes normally
            try:
                result = svc.send(msg(recipient="jess", subject=f"racer {len(racers)}"))
            finally:
                monkeypatch.setattr(sendpath, "write_send", racing)
            assert result.accepted
        return real(store, w, **kw)

    monkeypatch.setattr(sendpath, "write_send", racing)
    return racers


def test_a_send_whose_last_credit_went_to_a_racer_is_decided_again_and_refused(
        svc, store, monkeypatch):
    _spend(svc, 9)
    racers = _race_before_writes(monkeypatch, svc, times=1)
    result = svc.send(msg(subject="loser"))
    assert len(racers) == 1
    assert not result.accepted and result.decision.codes == ("credits_exhausted",)
    assert result.inmail is None
    assert svc.credits("alice").used == 10 and count(store, t.inmails) == 10
    assert count(store, t.credit_ledger, t.credit_ledger.c.kind == "spend") == 10
    assert len(events(store, "inmail.sent")) == 10
    # The stale attempt left no decision: one row per send that was answered.
    assert count(store, t.decision_log) == 11


def test_a_stale_read_with_credits_left_is_decided_again_and_accepted(svc, store,
                                                                      monkeypatch):
    racers = _race_before_writes(monkeypatch, svc, times=2)
    result = svc.send(msg(subject="patient"))
    assert len(racers) == 2 and result.accepted
    assert svc.credits("alice").used == 3 and count(store, t.inmails) == 3
    assert len(events(store, "inmail.sent")) == 3 and count(store, t.decision_log) == 3


def test_a_sender_whose_reads_keep_going_stale_takes_the_lock_first(svc, store, monkeypatch):
    racers = _race_before_writes(monkeypatch, svc, times=100)
    result = svc.send(msg(subject="hot sender"))
    assert len(racers) == svc.sends.READ_THEN_WRITE_TRIES  # then the lock-first path decided
    assert result.accepted
    used = svc.credits("alice").used
    assert used == svc.sends.READ_THEN_WRITE_TRIES + 1 == count(store, t.inmails)
    assert count(store, t.credit_ledger, t.credit_ledger.c.kind == "spend") == used
    assert len(events(store, "inmail.sent")) == used


def _write_of(svc, store, monkeypatch) -> sendpath.SendWrite:
    """The SendWrite an accepted send makes, captured without writing it."""
    captured: list[sendpath.SendWrite] = []

    def capture(store_, w, **kw):
        captured.append(w)
        return sendpath.STALE

    monkeypatch.setattr(sendpath, "write_send", capture)
    monkeypatch.setattr(svc.sends, "READ_THEN_WRITE_TRIES", 1)
    monkeypatch.setattr(svc.sends, "run_locked", lambda *a, **k: None)
    svc.send(msg(tags=("t1", "t2"), crm={"lead_id": "L1"}))
    monkeypatch.undo()
    assert len(captured) == 1 and captured[0].inmail is not None
    return captured[0]


def test_a_spend_refused_inside_the_write_writes_nothing(svc, store, monkeypatch):
    _spend(svc, 3)
    w = _write_of(svc, store, monkeypatch)
    before = state(store)
    refused = replace(w, inmail=replace(w.inmail, limit=3))  # as if no credit were left
    assert sendpath.write_send(store, refused) == sendpath.NO_CREDIT
    assert state(store) == before
    assert sendpath.write_send(store, w) == sendpath.WRITTEN
    assert svc.credits("alice").used == 4 and count(store, t.inmail_tags) == 2


@pytest.mark.parametrize("field", ["seen_used", "seen_refunds", "seen_restrictions"])
def test_a_write_on_a_read_that_no_longer_holds_writes_nothing(svc, store, monkeypatch,
                                                               field):
    _spend(svc, 2)
    w = _write_of(svc, store, monkeypatch)
    before = state(store)
    stale = replace(w, **{field: getattr(w, field) + 1})
    assert sendpath.write_send(store, stale) == sendpath.STALE
    assert state(store) == before and svc.credits("alice").used == 2  # the spend too
    assert sendpath.write_send(store, w) == sendpath.WRITTEN
    assert svc.credits("alice").used == 3 and count(store, t.inmail_tags) == 2


def test_a_failure_before_commit_on_a_first_send_of_the_window_leaves_no_account(
        svc, store, monkeypatch):
    before = state(store)

    def boom() -> None:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(svc.sends, "before_commit", boom)
    with pytest.raises(RuntimeError, match="injected fault"):
        svc.send(msg())
    assert state(store) == before and count(store, t.credit_accounts) == 0


def _drop_function(store) -> None:
    with store.write() as conn:
        conn.execute(text(f"DROP FUNCTION {sendpath.FUNCTION}"))


@pytest.mark.postgres
def test_postgresql_without_the_send_function_sends_the_same_way(svc, store, caplog):
    if store.is_sqlite:
        pytest.skip("PostgreSQL only")
    _spend(svc, 2)
    _drop_function(store)
    with caplog.at_level(logging.WARNING, logger="inmail_guard.store.sendpath"):
        _spend(svc, 7)
    assert [r.getMessage() for r in caplog.records if "is missing" in r.getMessage()] == [
        f"the PostgreSQL function {sendpath.FUNCTION}() is missing (schema version 5 installs"
        " it): sends write statement by statement, one round trip each; reinstall it with"
        " `inmail-guard db upgrade` or see docs/deploy.md"]
    last = svc.send(msg(subject="last", idempotency_key="k-last"))
    assert last.accepted and svc.send(msg(subject="last", idempotency_key="k-last")).replayed
    refused = svc.send(msg(subject="one too many"))
    assert not refused.accepted and refused.decision.codes == ("credits_exhausted",)
    assert svc.credits("alice").used == 10 and count(store, t.inmails) == 10
    assert len(events(store, "inmail.sent")) == 10 and count(store, t.decision_log) == 11


@pytest.mark.postgres
def test_postgresql_without_the_send_function_refuses_a_stale_write(svc, store, monkeypatch):
    if store.is_sqlite:
        pytest.skip("PostgreSQL only")
    w = _write_of(svc, store, monkeypatch)
    _drop_function(store)
    before = state(store)
    assert sendpath.write_send(store, replace(w, seen_used=5)) == sendpath.STALE
    assert sendpath.write_send(store, replace(w, inmail=replace(w.inmail, limit=0))) \
        == sendpath.NO_CREDIT
    assert state(store) == before


def test_decision_observers_hear_only_the_decisions_that_were_written(store, clock,
                                                                       monkeypatch):
    import inmail_guard as ig
    from inmail_guard.plugins.hookspecs import hookimpl
    from inmail_guard.plugins.manager import Plugins, build_plugin_manager
    from inmail_guard.service import InMailService

    from .cast import cast

    seen: list[str] = []

    class Observer:
        @hookimpl
        def inmail_guard_decision(self, decision) -> None:
            seen.append(decision.decision_id)

    plugins = Plugins(build_plugin_manager(extra=[Observer()]))
    with InMailService(ig.default_policy(), store, clock=clock, plugins=plugins) as svc:
        cast(svc)
        seen.clear()
        racers = _race_before_writes(monkeypatch, svc, times=2)
        result = svc.send(msg(subject="twice stale"))
        assert len(racers) == 2 and result.accepted
    with store.read() as conn:
        logged = set(conn.execute(t.decision_log.select()
                                  .with_only_columns(t.decision_log.c.decision_id)).scalars())
    # Two racers and the send itself, once each; not the two decisions its stale reads made.
    assert len(seen) == 3 and set(seen) == logged
    assert result.decision.decision_id in seen and not set(racers) & set(seen)
