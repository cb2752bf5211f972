"""Credits and restrictions: a member's credit account as it stands, the restriction in force,
lifting it; and the two writes other collaborators share (:meth:`Accounts.lock_sender`, the
per-sender lock; :meth:`Accounts.restrict`, a new restriction with its event)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from inmail_guard.engine.types import Credits
from inmail_guard.service.context import ActivePolicy, ServiceContext, new_id
from inmail_guard.service.errors import check_text
from inmail_guard.service.members import member_row
from inmail_guard.service.results import Restriction, iso
from inmail_guard.store import outbox
from inmail_guard.store import restrictions as restriction_store
from inmail_guard.store.db import Db, SADb, as_db
from inmail_guard.store.facts import Account, StoredMember, lock_account, peek_account
from inmail_guard.store.facts import restriction_state as stored_restriction_state
from inmail_guard.store.sends import NewRestriction


class Accounts:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def credits(self, member_id: str) -> Credits:
        active = self.ctx.active
        now = self.ctx.now()
        start, prev = active.windows(now)
        with self.ctx.store.read() as conn:
            member = member_row(conn, member_id)
            plan_limit = active.plan_limit(member.plan)
            account = peek_account(SADb(conn), member, start, prev, plan_limit=plan_limit,
                                   rollover_cap=active.terms.rollover_cap)
        limit = plan_limit + account.extra
        return Credits(member.plan, limit, account.used, max(limit - account.used, 0),
                       active.engine.window_end(now))

    def restriction(self, member_id: str) -> Restriction | None:
        now = self.ctx.now()
        with self.ctx.store.read() as conn:
            row = restriction_store.in_force(conn, member_id, now)
        if row is None:
            return None
        return Restriction(row.id, row.member_id, row.starts_at, row.until, row.cause)

    def restricted_until(self, member_id: str) -> tuple[datetime | None, int]:
        with self.ctx.store.read() as conn:
            return stored_restriction_state(SADb(conn), member_id, self.ctx.now())

    def lift_restriction(self, member_id: str, *, by: str = "operator", note: str = "") -> int:
        check_text("note", note)
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            return restriction_store.lift(conn, member_id, now, by, note)

    # --- shared with send and report ----------------------------------------------------------

    @staticmethod
    def lock_sender(conn: Connection | Db, active: ActivePolicy, member: StoredMember,
                    now: datetime) -> Account:
        """The sender's credit account for ``now``'s window, locked until the transaction
        ends: one sender's sends and reports are handled one at a time."""
        start, prev = active.windows(now)
        return lock_account(as_db(conn), member, start, prev,
                            plan_limit=active.plan_limit(member.plan),
                            rollover_cap=active.terms.rollover_cap, now=now)

    @staticmethod
    def new_restriction(member_id: str, now: datetime, until: datetime, cause: str,
                        decision_id: str | None, prior: int) -> NewRestriction:
        """A restriction to store, with its ``sender.restricted`` event's fields."""
        rid = new_id("rs")
        return NewRestriction(rid, member_id, until, cause, decision_id, event={
            "sender_id": member_id, "restriction_id": rid, "until": iso(until),
            "cause": cause, "prior_restrictions": prior, "decision_id": decision_id})

    @classmethod
    def restrict(cls, conn: Connection | Db, member_id: str, now: datetime, until: datetime,
                 cause: str, decision_id: str | None, prior: int) -> Restriction:
        """Restrict the member until ``until`` and queue ``sender.restricted``."""
        db = as_db(conn)
        new = cls.new_restriction(member_id, now, until, cause, decision_id, prior)
        restriction_store.add(db, new.id, member_id, now, until, cause, decision_id)
        outbox.add_event(db, "sender.restricted", now, **new.event)
        return Restriction(new.id, member_id, now, until, cause)  # type: ignore[arg-type]


__all__ = ["Accounts"]
