"""InMailService: facts from the store -> Engine -> one atomic commit -> outbox events.

Every state change runs in one write transaction that also queues its events in the outbox, so
a change and its events commit or vanish together. ``send`` reads its facts with no lock held,
evaluates, then writes (spend, InMail, events, decision) only if what it read still holds under
the sender's lock (``store/sendpath.py``); else it reads and decides again, and after a few
tries takes the lock first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on
PostgreSQL) and reads, evaluates and spends inside it: sends of one sender can never
overspend. The lifecycle (open, retract, reply, report, expiry) lives
in :mod:`inmail_guard.service_lifecycle`; see docs/service.md for the contract.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.types import Credits, Decision, Message
from inmail_guard.plugins.manager import Plugins
from inmail_guard.policies.schema import Policy, parse_duration
from inmail_guard.recording import Recorder, RecordingSettings
from inmail_guard.service_events import EventDispatch
from inmail_guard.service_lifecycle import Lifecycle, inmail_event_fields, new_id
from inmail_guard.service_members import MemberAdmin
from inmail_guard.service_types import (
    ERROR_CODES,
    GROUP_BY,
    Analytics,
    Conversation,
    ConversationMessage,
    ConversationSummary,
    Counts,
    GroupBy,
    InboxItem,
    InMail,
    ManualClock,
    ReportResult,
    Restriction,
    RetractResult,
    SendResult,
    ServiceError,
    check_service_policy,
    check_text,
    decision_from_dict,
    iso,
)
from inmail_guard.store import Store, WouldBlock, outbox, sendpath
from inmail_guard.store import analytics as analytics_queries
from inmail_guard.store import tables as t
from inmail_guard.store.db import Db, SADb, as_db, insert_of, raw_write, raw_write_nowait
from inmail_guard.store.facts import (
    Account,
    StoredMember,
    encode_fingerprint,
    find_account,
    load_member,
    load_members,
    lock_account,
    open_account,
    peek_account,
    read_send_facts,
    restriction_state,
    spend_credit,
)

log = logging.getLogger(__name__)

# The send path's statements, built once (building costs more than running them on SQLite).
# Lifecycle columns start NULL: left out, so the driver binds (and adapts) fewer parameters.
_INSERT_INMAIL = insert_of(t.inmails, skip=(
    "opened_at", "replied_at", "retracted_at", "reported_at", "expired_event_at", "refunded_at",
    "conversation_id"))
_INSERT_TAG = insert_of(t.inmail_tags)
_INSERT_DECISION = insert_of(t.decision_log)
_INSERT_RESTRICTION = insert_of(t.restrictions)
# json.dumps(x, separators=...) / (x, sort_keys=True), without building an encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_SORTED_JSON = json.JSONEncoder(sort_keys=True)
# Column sizes a send's text must fit (check_text): the same limit on SQLite as on PostgreSQL.
_KEY_CHARS = t.decision_log.c.idempotency_key.type.length
_TAG_CHARS = t.inmail_tags.c.tag.type.length
_CRM_CHARS = {"lead_id": t.inmails.c.lead_id.type.length,
              "account_id": t.inmails.c.account_id.type.length}
#: The same limits, for the send's OpenAPI schema (``inmail_guard.api.openapi``).
SEND_TEXT_LIMITS: dict[str, Any] = {"id": t.ID.length, "idempotency_key": _KEY_CHARS,
                                    "tag": _TAG_CHARS, "crm": dict(_CRM_CHARS)}
_INMAIL_BY_ID = select(t.inmails).where(t.inmails.c.id == bindparam("id"))
_INMAIL_KEYS = tuple(t.inmails.c.keys())
_FIND_KEY = select(t.decision_log.c.request_hash, t.decision_log.c.decision,
                   t.decision_log.c.inmail_id).where(
    t.decision_log.c.sender_id == bindparam("s"),
    t.decision_log.c.idempotency_key == bindparam("k"))

__all__ = [
    "ERROR_CODES",
    "Analytics",
    "Conversation",
    "ConversationMessage",
    "ConversationSummary",
    "Counts",
    "InMail",
    "InMailService",
    "InboxItem",
    "ManualClock",
    "ReportResult",
    "Restriction",
    "RetractResult",
    "SendResult",
    "ServiceError",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def request_hash(message: Message) -> str:
    """What makes two sends "the same message" for idempotency (the client block aside)."""
    data = {
        "sender_id": message.sender_id, "recipient_id": message.recipient_id,
        "subject": message.subject, "body": message.body,
        "attachments": [asdict(a) for a in message.attachments],
        "tags": list(message.tags), "crm": dict(message.crm),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _load_fingerprint() -> tuple[Callable[[str], tuple[int, ...]], int] | None:
    """The bulk detector's fingerprint function and its version, if the detector exists."""
    try:
        from inmail_guard.plugins import bulk
    except ImportError:
        return None
    return bulk.fingerprint, int(getattr(bulk, "FINGERPRINT_VERSION", 1))


class InMailService(MemberAdmin, Lifecycle, EventDispatch):
    """The InMail system around the engine's decision. Thread-safe; one per process is enough.

    ``store`` is a :class:`~inmail_guard.store.Store`, a SQLAlchemy URL or a SQLite file path
    (default ``./inmail-guard.db``). ``clock`` returns aware UTC datetimes; inject a
    :class:`ManualClock` to move time in tests and the demo.
    """

    def __init__(
        self,
        policy: Policy,
        store: Store | str | Path | None = None,
        *,
        engine: Engine | None = None,
        plugins: Plugins | None = None,
        clock: Callable[[], datetime] = utc_now,
        dispatch_in_background: bool = False,
        recorder: Recorder | None = None,
        event_retention: timedelta | object | None = outbox.FROM_ENV,
    ) -> None:
        """``event_retention``: how long delivered events stay in the outbox before
        :meth:`purge_events` (run by the dispatcher) deletes them; None keeps them forever.
        Default: ``INMAIL_GUARD_EVENTS_RETENTION`` (``30d`` when unset)."""
        #: Delivered events older than this are purged; None: kept forever.
        self.event_retention: timedelta | None = (
            outbox.retention_from_env() if event_retention is outbox.FROM_ENV
            else event_retention)  # type: ignore[assignment]
        if self.event_retention is not None and (
                not isinstance(self.event_retention, timedelta)
                or self.event_retention <= timedelta(0)):
            raise ValueError(f"event_retention must be a positive timedelta or None, found"
                             f" {self.event_retention!r}")
        self._owns_store = not isinstance(store, Store)
        if recorder is None:
            settings = RecordingSettings.from_env()
            recorder = Recorder(settings) if settings is not None else None
        #: Opt-in: every evaluated send written as a replay record (inmail_guard.recording).
        self.recorder = recorder
        self.store = store if isinstance(store, Store) else Store(store)
        self.clock = clock
        self.swap_engine(engine if engine is not None else Engine(policy, plugins))
        self._dispatcher: threading.Thread | None = None
        self._stop = threading.Event()
        if dispatch_in_background:
            self.start_dispatcher()

    def swap_engine(self, engine: Engine) -> None:
        """Use ``engine`` (and its policy) from the next request on: a policy reload. Requests
        in flight finish with the engine they started with."""
        from inmail_guard.plugins.sinks import register_builtin_sinks

        policy = engine.policy
        check_service_policy(policy)
        register_builtin_sinks(engine.plugins)
        life = policy.lifecycle
        self.expire_after: timedelta = life.expire_unopened_after
        self.retract_within: timedelta = life.retract_within
        self.preview_chars = life.preview_chars
        self._limits = {name: plan.monthly_credits for name, plan in policy.plans.items()}
        self._rollover_cap = policy.credits.rollover_cap
        self._refund_within = policy.credits.refund_on_response_within
        abuse = policy.spam.detectors.get("abuse_reports") or {}
        self.abuse_window = parse_duration(abuse.get("window", "30d"))
        self.abuse_threshold = int(abuse.get("threshold", 3))
        self._restrict_on_abuse = policy.spam.restriction.on_abuse_report
        bulk = policy.spam.detectors.get("bulk")
        self._fingerprint = _load_fingerprint() if bulk is not None else None
        self._bodies_window = (parse_duration(bulk.get("window", "24h"))
                               if bulk is not None and bulk.get("enabled", True)
                               and self._fingerprint is not None else None)
        self.policy, self.engine, self.plugins = policy, engine, engine.plugins

    # --- helpers ---------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the service clock must return aware datetimes")
        return now.astimezone(UTC)

    def _windows(self, now: datetime) -> tuple[datetime, datetime]:
        start = self.engine.window_start(now)
        return start, self.engine.window_start(start - timedelta(seconds=1))

    def _plan_limit(self, plan: str) -> int:
        try:
            return self._limits[plan]
        except KeyError:
            raise ServiceError(
                "unknown_plan",
                f"plan {plan!r} is not declared in policy {self.policy.name!r}"
                f" (plans: {', '.join(sorted(self._limits))})", field="plan") from None

    def _member_row(self, conn: Connection | Db, member_id: str,
                    field: str = "member_id") -> StoredMember:
        found = load_member(as_db(conn), member_id)
        if found is None:
            raise ServiceError("member_not_found", f"no member {member_id!r}", field=field)
        return found

    def _lock_sender(self, conn: Connection | Db, member: StoredMember, now: datetime) -> Account:
        start, prev = self._windows(now)
        return lock_account(as_db(conn), member, start, prev,
                            plan_limit=self._plan_limit(member.plan),
                            rollover_cap=self._rollover_cap, now=now)

    def _before_commit(self) -> None:
        """Called after a send's writes, before its commit. Tests inject faults here."""

    # --- send ------------------------------------------------------------------------------

    def send(self, message: Message) -> SendResult:
        """Evaluate and, when accepted, spend one credit, store the InMail and queue
        ``inmail.sent``, all in one transaction. A rejection only writes the decision log (and,
        if the decision restricts the sender, the restriction and ``sender.restricted``)."""
        self._check_message(message)
        # Only an idempotency key needs the message's hash (to tell a retry from a conflict).
        digest = "" if message.idempotency_key is None else request_hash(message)
        try:
            return self._send(message, digest)
        except self._integrity_errors:
            # Only the idempotency key's unique index can clash (two sends with one key racing
            # across a window boundary, where they lock different accounts): the retry replays.
            if message.idempotency_key is None:
                raise
            return self._send(message, digest)

    def send_nowait(self, message: Message) -> SendResult | None:
        """:meth:`send`, if it can run without waiting: SQLite, and no other thread or process
        writing at this moment. Otherwise None, having done nothing: call :meth:`send` where
        it may wait. For callers on an event loop (the HTTP route): a send that would wait on
        a lock (or on the network, as on PostgreSQL) must not hold the loop."""
        if not self.store.is_sqlite:
            return None
        self._check_message(message)
        digest = "" if message.idempotency_key is None else request_hash(message)
        try:
            return self._send(message, digest, raw_write_nowait)
        except WouldBlock:
            return None
        except self._integrity_errors:
            if message.idempotency_key is None:
                raise
            return None  # a racing retry: send() replays it

    @property
    def _integrity_errors(self) -> tuple[type[Exception], ...]:
        """What a unique-index clash raises: SQLAlchemy's error, or the driver's (raw path)."""
        return (IntegrityError, self.store.db.dialect.loaded_dbapi.IntegrityError)

    @staticmethod
    def _check_message(message: Message) -> None:
        """Ids present, and every text the send stores storable (:func:`check_text`)."""
        for name in ("sender_id", "recipient_id"):
            if not isinstance(getattr(message, name), str) or not getattr(message, name):
                raise ServiceError("invalid_request", f"{name} must be a non-empty string",
                                   field=name)
        if message.idempotency_key == "":
            raise ServiceError("invalid_request", "idempotency_key is empty; leave it out for a"
                               " send without one", field="idempotency_key")
        check_text("idempotency_key", message.idempotency_key, _KEY_CHARS)
        check_text("subject", message.subject)
        check_text("body", message.body)
        for tag in message.tags:
            check_text("tags", tag, _TAG_CHARS)
        for key, value in message.crm.items():
            check_text("crm", str(key))
            check_text(f"crm.{key}", str(value), _CRM_CHARS.get(key))

    #: Read, decide, then write if the read still holds (store/sendpath.py); False: the lock
    #: first, then read, decide and write under it (the path before, kept for a hot sender
    #: whose sends keep finding their read outdated, and as the benchmarks' baseline).
    read_then_write = True
    #: Attempts of the read-then-write path before a send takes the lock first instead.
    _READ_THEN_WRITE_TRIES = 4

    def _send(self, message: Message, digest: str,
              write: Callable[[Store], AbstractContextManager[Db]] = raw_write) -> SendResult:
        if self.read_then_write:
            read_failed = False
            for _ in range(self._READ_THEN_WRITE_TRIES):
                try:
                    result = self._send_read_then_write(message, digest, write)
                except sendpath.ReadUnavailable:
                    if read_failed or self.store.is_sqlite:
                        raise
                    read_failed = True  # once, on another connection: nothing was written
                    continue
                if result is not None:
                    return result
        return self._send_locked(message, digest, write)

    def _send_read_then_write(
            self, message: Message, digest: str,
            write: Callable[[Store], AbstractContextManager[Db]]) -> SendResult | None:
        """One attempt: None if another send of this sender was written between this one's
        read and its write (nothing written; read and decide again)."""
        with sendpath.connection(self.store) as conn:
            return self._read_then_write(message, digest, write, conn)

    def _read_then_write(self, message: Message, digest: str,
                         write: Callable[[Store], AbstractContextManager[Db]],
                         conn: Any) -> SendResult | None:
        now = self._now()
        window_start, previous_start = self._windows(now)
        snap = sendpath.read_send(
            self.store, message.sender_id, message.recipient_id, window_start, now,
            idempotency_key=message.idempotency_key, expire_after=self.expire_after,
            abuse_window=self.abuse_window, bodies_window=self._bodies_window,
            fingerprint_version=self._fingerprint[1] if self._fingerprint else 0,
            previous_window_start=previous_start, plan_limit=self._plan_limit,
            rollover_cap=self._rollover_cap, conn=conn)
        if snap.found is None:
            for field in ("sender_id", "recipient_id"):
                if getattr(message, field) not in snap.known_members:
                    raise ServiceError("member_not_found",
                                       f"no member {getattr(message, field)!r}", field=field)
            return None  # both exist now: created meanwhile
        srow, _, facts = snap.found
        plan_limit = self._plan_limit(srow.plan)
        if snap.replay is not None:
            return self._replayed(message, digest, snap.replay, snap.replay_inmail, now)
        decision = self.engine.evaluate(message, facts)
        inmail = new_inmail = restriction = None
        if decision.accepted:
            inmail, new_inmail = self._new_inmail(message, decision, plan_limit
                                                  + snap.account.extra, window_start, now)
        elif decision.restrict_sender_until is not None:
            rid, until = new_id("rs"), decision.restrict_sender_until
            event_id, payload = outbox.new_event(
                "sender.restricted", now, sender_id=message.sender_id, restriction_id=rid,
                until=iso(until), cause="spam", prior_restrictions=facts.prior_restrictions,
                decision_id=decision.decision_id)
            restriction = sendpath.NewRestriction(rid, until, "spam", event_id, payload)
        outcome = sendpath.write_send(self.store, sendpath.SendWrite(
            sender_id=message.sender_id, recipient_id=message.recipient_id,
            window_start=window_start, now=now, seen_used=snap.account.used,
            seen_refunds=snap.account.refunds, seen_restrictions=facts.prior_restrictions,
            decision_id=decision.decision_id, idempotency_key=message.idempotency_key,
            request_hash=digest, outcome=decision.outcome, codes=",".join(decision.codes),
            decision_json=_COMPACT_JSON.encode(decision.to_dict()),
            policy_version=decision.policy.version, inmail=new_inmail,
            restriction=restriction,
            open_rollover=snap.account.rollover if snap.new_account else None),
            before_commit=self._before_commit, write=write, conn=conn)
        if outcome == sendpath.STALE:
            return None
        if outcome == sendpath.NO_CREDIT:
            raise RuntimeError(f"credit spend refused for {message.sender_id} after an"
                               " accepting decision; rolled back (no overspend)")
        if self.recorder is not None:
            self.recorder.record(message, facts, decision)
        return SendResult(decision, inmail)

    def _new_inmail(self, message: Message, decision: Decision, limit: int,
                    window_start: datetime, now: datetime) -> tuple[InMail, sendpath.NewInMail]:
        """An accepted send's InMail, and what the store writes of it."""
        inmail_id = new_id("im")
        crm = {str(k): str(v) for k, v in message.crm.items()}
        tags = tuple(dict.fromkeys(message.tags))
        fingerprint = None
        if self._fingerprint is not None:
            make, version = self._fingerprint
            fingerprint = encode_fingerprint(version, make(message.body))
        inmail = InMail(id=inmail_id, sender_id=message.sender_id,
                        recipient_id=message.recipient_id, subject=message.subject,
                        body=message.body, status="delivered", sent_at=now,
                        expires_at=now + self.expire_after,
                        retract_until=now + self.retract_within, tags=tags, crm=crm,
                        decision_id=decision.decision_id)
        event_id, payload = outbox.new_event("inmail.sent", now, delivered_at=iso(now),
                                             **inmail_event_fields(inmail))
        return inmail, sendpath.NewInMail(
            id=inmail_id, limit=limit, subject=message.subject, body=message.body, tags=tags,
            tags_json=json.dumps(list(tags)) if tags else "[]",
            crm_json=_SORTED_JSON.encode(crm) if crm else "{}", lead_id=crm.get("lead_id"),
            account_id=crm.get("account_id"), fingerprint=fingerprint, event_id=event_id,
            event_payload=payload)

    def _replayed(self, message: Message, digest: str, row: Any, inmail_row: Any,
                  now: datetime) -> SendResult:
        request_hash, decision, _ = row
        if request_hash != digest:
            raise ServiceError(
                "idempotency_conflict",
                f"idempotency key {message.idempotency_key!r} was already used with a different"
                " message; use a new key for a new message", field="idempotency_key")
        inmail = None
        if inmail_row is not None:
            inmail = self._to_inmail(SimpleNamespace(**dict(zip(_INMAIL_KEYS, inmail_row,
                                                                strict=True))), now)
        return SendResult(decision_from_dict(json.loads(decision)), inmail, replayed=True)

    def _send_locked(self, message: Message, digest: str,
                     write: Callable[[Store], AbstractContextManager[Db]]) -> SendResult:
        now = self._now()
        window_start, previous_start = self._windows(now)
        with write(self.store) as db:
            # The per-sender lock first (PostgreSQL), then both members and the facts in one
            # statement. A sender's first send of a window reads the members before creating
            # the account (its creation date decides the roll-over).
            account = find_account(db, message.sender_id, window_start)
            if account is None:
                srow, _ = self._send_members(db, message)
                account = open_account(db, srow, window_start, previous_start,
                                       plan_limit=self._plan_limit(srow.plan),
                                       rollover_cap=self._rollover_cap, now=now)
            read = read_send_facts(db, message.sender_id, message.recipient_id, account, now,
                                   expire_after=self.expire_after,
                                   abuse_window=self.abuse_window,
                                   bodies_window=self._bodies_window,
                                   fingerprint_version=self._fingerprint[1]
                                   if self._fingerprint else 0)
            if read is None:
                self._send_members(db, message)  # raises member_not_found for the right one
                raise AssertionError("members vanished inside the transaction")
            srow, _, facts = read
            plan_limit = self._plan_limit(srow.plan)
            if message.idempotency_key is not None:
                replay = self._replay(db, message, digest, now)
                if replay is not None:
                    return replay
            decision = self.engine.evaluate(message, facts)
            inmail = None
            if decision.accepted:
                inmail_id = new_id("im")
                limit = plan_limit + account.extra
                if not spend_credit(db, account, limit, inmail_id, now):
                    raise RuntimeError(f"credit spend refused for {message.sender_id} after an"
                                       " accepting decision; rolled back (no overspend)")
                inmail = self._insert_inmail(db, message, decision, inmail_id, window_start,
                                             now)
                outbox.add_event(db, "inmail.sent", now, delivered_at=iso(now),
                                 **inmail_event_fields(inmail))
            elif decision.restrict_sender_until is not None:
                self._restrict(db, message.sender_id, now, decision.restrict_sender_until,
                               "spam", decision.decision_id, facts.prior_restrictions)
            db.run(_INSERT_DECISION, {
                "decision_id": decision.decision_id, "sender_id": message.sender_id,
                "recipient_id": message.recipient_id,
                "idempotency_key": message.idempotency_key, "request_hash": digest,
                "outcome": decision.outcome, "codes": ",".join(decision.codes),
                "decision": _COMPACT_JSON.encode(decision.to_dict()),
                "inmail_id": inmail.id if inmail else None,
                "policy_version": decision.policy.version, "created_at": now})
            self._before_commit()
        if self.recorder is not None:
            self.recorder.record(message, facts, decision)
        return SendResult(decision, inmail)

    @staticmethod
    def _send_members(db: Db, message: Message) -> tuple[StoredMember, StoredMember]:
        rows = load_members(db, message.sender_id, message.recipient_id)
        srow, rrow = rows.get(message.sender_id), rows.get(message.recipient_id)
        if srow is None:
            raise ServiceError("member_not_found", f"no member {message.sender_id!r}",
                               field="sender_id")
        if rrow is None:
            raise ServiceError("member_not_found", f"no member {message.recipient_id!r}",
                               field="recipient_id")
        return srow, rrow

    def _replay(self, db: Db, message: Message, digest: str,
                now: datetime) -> SendResult | None:
        row = db.first(_FIND_KEY, {"s": message.sender_id, "k": message.idempotency_key})
        if row is None:
            return None
        inmail_id = row[2]
        found = None if inmail_id is None else db.first(_INMAIL_BY_ID, {"id": inmail_id})
        assert inmail_id is None or found is not None
        return self._replayed(message, digest, row, found, now)

    def _insert_inmail(self, db: Db, message: Message, decision: Decision,
                       inmail_id: str, window_start: datetime, now: datetime) -> InMail:
        crm = {str(k): str(v) for k, v in message.crm.items()}
        tags = tuple(dict.fromkeys(message.tags))
        fingerprint = None
        if self._fingerprint is not None:
            make, version = self._fingerprint
            fingerprint = encode_fingerprint(version, make(message.body))
        db.run(_INSERT_INMAIL, {
            "id": inmail_id, "sender_id": message.sender_id,
            "recipient_id": message.recipient_id, "subject": message.subject,
            "body": message.body, "tags": json.dumps(list(tags)) if tags else "[]",
            "crm": _SORTED_JSON.encode(crm) if crm else "{}", "lead_id": crm.get("lead_id"),
            "account_id": crm.get("account_id"), "decision_id": decision.decision_id,
            "window_start": window_start, "fingerprint": fingerprint, "sent_at": now})
        if tags:
            db.run_many(_INSERT_TAG,
                         [{"inmail_id": inmail_id, "tag": tag} for tag in tags])
        return InMail(id=inmail_id, sender_id=message.sender_id,
                      recipient_id=message.recipient_id, subject=message.subject,
                      body=message.body, status="delivered", sent_at=now,
                      expires_at=now + self.expire_after,
                      retract_until=now + self.retract_within, tags=tags, crm=crm,
                      decision_id=decision.decision_id)

    def _restrict(self, conn: Connection | Db, member_id: str, now: datetime, until: datetime,
                  cause: str, decision_id: str | None, prior: int) -> Restriction:
        db = as_db(conn)
        rid = new_id("rs")
        db.run(_INSERT_RESTRICTION, {
            "id": rid, "member_id": member_id, "starts_at": now, "until": until, "cause": cause,
            "decision_id": decision_id, "lifted_at": None, "lifted_by": None, "note": None})
        outbox.add_event(db, "sender.restricted", now, sender_id=member_id,
                         restriction_id=rid, until=iso(until), cause=cause,
                         prior_restrictions=prior, decision_id=decision_id)
        return Restriction(rid, member_id, now, until, cause)  # type: ignore[arg-type]

    # --- credits, restrictions -------------------------------------------------------------

    def credits(self, member_id: str) -> Credits:
        now = self._now()
        start, prev = self._windows(now)
        with self.store.read() as conn:
            member = self._member_row(conn, member_id)
            plan_limit = self._plan_limit(member.plan)
            account = peek_account(SADb(conn), member, start, prev, plan_limit=plan_limit,
                                   rollover_cap=self._rollover_cap)
        limit = plan_limit + account.extra
        return Credits(member.plan, limit, account.used, max(limit - account.used, 0),
                       self.engine.window_end(now))

    def restriction(self, member_id: str) -> Restriction | None:
        now = self._now()
        r = t.restrictions.c
        with self.store.read() as conn:
            row = conn.execute(select(t.restrictions).where(
                r.member_id == member_id, r.lifted_at.is_(None), r.until > now)
                .order_by(r.until.desc()).limit(1)).first()
        if row is None:
            return None
        return Restriction(row.id, row.member_id, row.starts_at, row.until, row.cause)

    def restricted_until(self, member_id: str) -> tuple[datetime | None, int]:
        """(until when the member is restricted, or None; restrictions they ever had)."""
        with self.store.read() as conn:
            return restriction_state(SADb(conn), member_id, self._now())

    def lift_restriction(self, member_id: str, *, by: str = "operator", note: str = "") -> int:
        """End the member's restrictions in force now; returns how many were lifted. History is
        kept: a later restriction still escalates."""
        check_text("note", note)
        now = self._now()
        r = t.restrictions.c
        with self.store.write() as conn:
            return conn.execute(t.restrictions.update().where(
                r.member_id == member_id, r.lifted_at.is_(None), r.until > now)
                .values(lifted_at=now, lifted_by=by, note=note[:500])).rowcount

    # --- analytics -------------------------------------------------------------------------

    def analytics(
        self,
        *,
        sender_id: str | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: GroupBy | None = None,
    ) -> Analytics:
        if group_by is not None and group_by not in GROUP_BY:
            raise ServiceError("invalid_request", f"group_by must be one of"
                               f" {', '.join(GROUP_BY)}; found {group_by!r}", field="group_by")
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise ServiceError("invalid_request", f"{name} must carry a time zone",
                                   field=name)
        with self.store.read() as conn:
            return analytics_queries.analytics(
                conn, self._now(), self.expire_after, sender_id=sender_id, tag=tag,
                since=since, until=until, group_by=group_by,
                timezone=self.policy.credits.timezone)

    def close(self) -> None:
        self.stop_dispatcher()
        if self.recorder is not None:
            self.recorder.close()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> InMailService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
