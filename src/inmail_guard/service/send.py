"""A send: check the message, read the facts, evaluate, then in one transaction spend, store
the InMail and queue ``inmail.sent`` (or, for a rejection, log the decision and perhaps
restrict the sender).

The database work is store operations around the engine's decision
(:mod:`inmail_guard.store.sends`), on one of two paths:

* **read, then write if the read still holds** (:meth:`Sends._read_then_write`, the default):
  ``sends.read_unlocked`` reads outside any lock, the engine decides with nothing locked, and
  ``sends.write_if_unchanged`` writes only if no other send of the sender was written since
  (its account's ``used``/``refunds`` and its restriction count unchanged); otherwise the send
  is read and decided again, at most :attr:`Sends.READ_THEN_WRITE_TRIES` times;
* **lock first** (:meth:`Sends.run_locked`: a hot sender whose reads keep going stale, or
  ``read_then_write = False``): ``sends.read`` takes the sender's per-window credit account
  first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), then
  ``sends.write`` in the same transaction.

Either way sends of one sender can never overspend, and the spend keeps its own guard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.exc import IntegrityError

from inmail_guard.engine.types import Decision, Facts, Message
from inmail_guard.service.context import ActivePolicy, ServiceContext, new_id
from inmail_guard.service.credits import Accounts
from inmail_guard.service.errors import ServiceError, check_text
from inmail_guard.service.results import (
    InMail,
    SendResult,
    decision_from_dict,
    inmail_event_fields,
    inmail_from_row,
    iso,
)
from inmail_guard.store import Store, WouldBlock, sends
from inmail_guard.store import inmails as inmail_store
from inmail_guard.store.db import Db, raw_write, raw_write_nowait
from inmail_guard.store.facts import Account, encode_fingerprint

# json.dumps(x, separators=...), without building an encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
#: The text limits a send must fit, for the send's OpenAPI schema (``inmail_guard.api.openapi``).
SEND_TEXT_LIMITS: dict[str, Any] = {
    "id": inmail_store.ID_CHARS, "idempotency_key": inmail_store.KEY_CHARS,
    "tag": inmail_store.TAG_CHARS, "crm": dict(inmail_store.CRM_CHARS)}


def request_hash(message: Message) -> str:
    """What makes two sends "the same message" for idempotency (the client block aside)."""
    data = {
        "sender_id": message.sender_id, "recipient_id": message.recipient_id,
        "subject": message.subject, "body": message.body,
        "attachments": [asdict(a) for a in message.attachments],
        "tags": list(message.tags), "crm": dict(message.crm),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def check_message(message: Message) -> None:
    """Ids present, and every text the send stores storable (:func:`check_text`)."""
    for name in ("sender_id", "recipient_id"):
        if not isinstance(getattr(message, name), str) or not getattr(message, name):
            raise ServiceError("invalid_request", f"{name} must be a non-empty string",
                               field=name)
    if message.idempotency_key == "":
        raise ServiceError("invalid_request", "idempotency_key is empty; leave it out for a"
                           " send without one", field="idempotency_key")
    check_text("idempotency_key", message.idempotency_key, inmail_store.KEY_CHARS)
    check_text("subject", message.subject)
    check_text("body", message.body)
    for tag in message.tags:
        check_text("tags", tag, inmail_store.TAG_CHARS)
    for key, value in message.crm.items():
        check_text("crm", str(key))
        check_text(f"crm.{key}", str(value), inmail_store.CRM_CHARS.get(key))


class Sends:
    #: Read, decide, then write if the read still holds (``store/sendpath.py``); False: the
    #: lock first, then read, decide and write under it (the path before, kept for a hot
    #: sender whose sends keep finding their read outdated, and as the benchmarks' baseline).
    read_then_write = True
    #: Attempts of the read-then-write path before a send takes the lock first instead.
    READ_THEN_WRITE_TRIES = 4

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def send(self, message: Message) -> SendResult:
        check_message(message)
        # Only an idempotency key needs the message's hash (to tell a retry from a conflict).
        digest = "" if message.idempotency_key is None else request_hash(message)
        try:
            return self.run(message, digest)
        except self._integrity_errors:
            # Only the idempotency key's unique index can clash (two sends with one key racing:
            # neither read saw the other's key): the retry replays.
            if message.idempotency_key is None:
                raise
            return self.run(message, digest)

    def send_nowait(self, message: Message) -> SendResult | None:
        if not self.ctx.store.is_sqlite:
            return None
        check_message(message)
        digest = "" if message.idempotency_key is None else request_hash(message)
        try:
            return self.run(message, digest, raw_write_nowait)
        except WouldBlock:
            return None
        except self._integrity_errors:
            if message.idempotency_key is None:
                raise
            return None  # a racing retry: send() replays it

    @property
    def _integrity_errors(self) -> tuple[type[Exception], ...]:
        """What a unique-index clash raises: SQLAlchemy's error, or the driver's (raw path)."""
        return (IntegrityError, self.ctx.store.db.dialect.loaded_dbapi.IntegrityError)

    def before_commit(self) -> None:
        """Called after a send's writes are ready, before its commit (on PostgreSQL's one
        function call, just before it is sent). Tests inject faults here."""

    def run(self, message: Message, digest: str,
            write: Callable[[Store], AbstractContextManager[Db]] = raw_write) -> SendResult:
        """The send: read then write (retried while another send of the sender gets in
        between), then lock first. ``write`` opens the SQLite write transaction."""
        active = self.ctx.active  # read once: a policy swap cannot split this send
        if self.read_then_write:
            read_failed = False
            for _ in range(self.READ_THEN_WRITE_TRIES):
                try:
                    result = self._read_then_write(message, digest, active, write)
                except sends.ReadUnavailable:
                    if read_failed or self.ctx.store.is_sqlite:
                        raise
                    read_failed = True  # once, on another connection: nothing was written
                    continue
                if result is not None:
                    return result
        return self.run_locked(message, digest, write, active=active)

    def _read_then_write(self, message: Message, digest: str, active: ActivePolicy,
                         write: Callable[[Store], AbstractContextManager[Db]]
                         ) -> SendResult | None:
        """One attempt: None if another send of this sender was written between this one's
        read and its write (nothing written; read and decide again)."""
        store = self.ctx.store
        with sends.connection(store) as conn:
            now = self.ctx.now()
            window_start, previous_start = active.windows(now)
            found = sends.read_unlocked(
                store, message.sender_id, message.recipient_id, now, window_start,
                previous_start, _reads(active), active.plan_limit,
                idempotency_key=message.idempotency_key, conn=conn)
            if isinstance(found, sends.MissingMembers):
                if found.sender or found.recipient:
                    raise _member_not_found(message, found)
                return None  # both exist now: created meanwhile
            active.plan_limit(found.sender.plan)  # a plan the policy no longer declares
            if found.key_use is not None:
                return _replayed(message, digest, found.key_use, found.key_inmail, active, now)
            # Observers hear of the decision once it is written: a stale read's is discarded.
            decision = active.engine.evaluate(message, found.facts, observe=False)
            inmail, outcome = _outcome(message, digest, decision, found.facts, found.account,
                                       active, window_start, now)
            if not sends.write_if_unchanged(store, found, now, outcome, write=write,
                                            before_commit=self.before_commit, conn=conn):
                return None
        active.engine.observe(message, found.facts, decision)
        if self.ctx.recorder is not None:
            self.ctx.recorder.record(message, found.facts, decision)
        return SendResult(decision, inmail)

    def run_locked(self, message: Message, digest: str,
                   write: Callable[[Store], AbstractContextManager[Db]] = raw_write, *,
                   active: ActivePolicy | None = None) -> SendResult:
        """The lock first, then read, decide and write under it, in one transaction
        (``write``). ``active``: the policy the send started with (default: the active one)."""
        if active is None:
            active = self.ctx.active
        now = self.ctx.now()
        window_start, previous_start = active.windows(now)
        with write(self.ctx.store) as db:
            account, facts = self._read(db, message, active, now, window_start, previous_start)
            if message.idempotency_key is not None:
                replay = self._replay(db, message, digest, active, now)
                if replay is not None:
                    return replay
            decision = active.engine.evaluate(message, facts)
            inmail, outcome = _outcome(message, digest, decision, facts, account, active,
                                       window_start, now)
            sends.write(db, now, outcome)
            self.before_commit()
        if self.ctx.recorder is not None:
            self.ctx.recorder.record(message, facts, decision)
        return SendResult(decision, inmail)

    # --- the lock-first transaction's store steps ---------------------------------------------

    @staticmethod
    def _read(db: Db, message: Message, active: ActivePolicy, now: datetime,
              window_start: datetime, previous_start: datetime) -> tuple[Account, Facts]:
        """The sender's credit account (locked), both members and the facts
        (:func:`inmail_guard.store.sends.read`)."""
        found = sends.read(db, message.sender_id, message.recipient_id, now, window_start,
                           previous_start, _reads(active), active.plan_limit)
        if isinstance(found, sends.MissingMembers):
            raise _member_not_found(message, found)
        active.plan_limit(found.sender.plan)  # a plan the policy no longer declares
        return found.account, found.facts

    @staticmethod
    def _replay(db: Db, message: Message, digest: str, active: ActivePolicy,
                now: datetime) -> SendResult | None:
        assert message.idempotency_key is not None
        used = inmail_store.key_use(db, message.sender_id, message.idempotency_key)
        if used is None:
            return None
        row = None if used.inmail_id is None else inmail_store.by_id_db(db, used.inmail_id)
        return _replayed(message, digest, used, row, active, now)


# --- shared by both paths ------------------------------------------------------------------------


def _reads(active: ActivePolicy) -> sends.Reads:
    """How far back a send's facts look, from the active policy's terms."""
    terms = active.terms
    return sends.Reads(expire_after=terms.expire_after, abuse_window=terms.abuse_window,
                       bodies_window=terms.bodies_window,
                       fingerprint_version=terms.fingerprint_version,
                       rollover_cap=terms.rollover_cap)


def _member_not_found(message: Message, missing: sends.MissingMembers) -> ServiceError:
    field, member_id = (("sender_id", message.sender_id) if missing.sender
                        else ("recipient_id", message.recipient_id))
    return ServiceError("member_not_found", f"no member {member_id!r}", field=field)


def _outcome(message: Message, digest: str, decision: Decision, facts: Facts,
             account: Account, active: ActivePolicy, window_start: datetime,
             now: datetime) -> tuple[InMail | None, sends.Outcome]:
    """Every write of the send (``sends.write``/``sends.write_if_unchanged``): spend, the
    InMail and ``inmail.sent`` (accepted) or the restriction and ``sender.restricted`` (a
    rejection that restricts); the decision log. With the InMail the sender gets back."""
    inmail = spend = row = sent_event = restriction = None
    if decision.accepted:
        inmail_id = new_id("im")
        spend = sends.Spend(account, active.plan_limit(facts.sender.plan) + account.extra,
                            inmail_id)
        inmail = _new_inmail(message, decision, inmail_id, active, now)
        annotations = active.engine.send_annotations(message)
        row = inmail_store.NewInMail(
            id=inmail_id, sender_id=message.sender_id, recipient_id=message.recipient_id,
            subject=message.subject, body=message.body, tags=inmail.tags, crm=inmail.crm,
            decision_id=decision.decision_id, window_start=window_start, sent_at=now,
            fingerprint=None if annotations.fingerprint is None else encode_fingerprint(
                annotations.fingerprint_version, annotations.fingerprint))
        sent_event = {"delivered_at": iso(now), **inmail_event_fields(inmail)}
    elif decision.restrict_sender_until is not None:
        restriction = Accounts.new_restriction(
            message.sender_id, now, decision.restrict_sender_until, "spam",
            decision.decision_id, facts.prior_restrictions)
    entry = inmail_store.DecisionEntry(
        decision_id=decision.decision_id, sender_id=message.sender_id,
        recipient_id=message.recipient_id, idempotency_key=message.idempotency_key,
        request_hash=digest, outcome=decision.outcome, codes=",".join(decision.codes),
        decision=_COMPACT_JSON.encode(decision.to_dict()),
        inmail_id=inmail.id if inmail else None, policy_version=decision.policy.version,
        created_at=now)
    return inmail, sends.Outcome(entry, spend=spend, inmail=row, sent_event=sent_event,
                                 restriction=restriction)


def _replayed(message: Message, digest: str, used: inmail_store.KeyUse,
              inmail_row: dict[str, Any] | None, active: ActivePolicy,
              now: datetime) -> SendResult:
    """The first answer to a used idempotency key; ``idempotency_conflict`` if it was used
    with a different message."""
    if used.request_hash != digest:
        raise ServiceError(
            "idempotency_conflict",
            f"idempotency key {message.idempotency_key!r} was already used with a different"
            " message; use a new key for a new message", field="idempotency_key")
    inmail = None
    if used.inmail_id is not None:
        assert inmail_row is not None
        terms = active.terms
        inmail = inmail_from_row(SimpleNamespace(**inmail_row), now, terms.expire_after,
                                 terms.retract_within)
    return SendResult(decision_from_dict(json.loads(used.decision)), inmail, replayed=True)


def _new_inmail(message: Message, decision: Decision, inmail_id: str, active: ActivePolicy,
                now: datetime) -> InMail:
    crm = {str(k): str(v) for k, v in message.crm.items()}
    terms = active.terms
    return InMail(id=inmail_id, sender_id=message.sender_id,
                  recipient_id=message.recipient_id, subject=message.subject,
                  body=message.body, status="delivered", sent_at=now,
                  expires_at=now + terms.expire_after,
                  retract_until=now + terms.retract_within,
                  tags=tuple(dict.fromkeys(message.tags)), crm=crm,
                  decision_id=decision.decision_id)


__all__ = ["SEND_TEXT_LIMITS", "Sends", "check_message", "request_hash"]
