"""Member administration for :class:`~inmail_guard.service.InMailService`: profiles (the
opt-out is ``accepts_inmail=False``), connections and blocks. Mixed into the service."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from inmail_guard.engine.types import Member, photo_url_problem
from inmail_guard.service_types import ServiceError, check_text
from inmail_guard.store import Store
from inmail_guard.store import tables as t
from inmail_guard.store.db import SADb
from inmail_guard.store.facts import insert_ignore

if TYPE_CHECKING:
    from inmail_guard.store.db import Db
    from inmail_guard.store.facts import StoredMember


class MemberAdmin:
    # Provided by InMailService.
    store: Store

    if TYPE_CHECKING:
        def _now(self) -> datetime: ...
        def _plan_limit(self, plan: str) -> int: ...
        def _member_row(self, conn: Connection | Db, member_id: str,
                        field: str = "member_id") -> StoredMember: ...

    # --- members (admin) -------------------------------------------------------------------

    def put_member(self, member: Member) -> Member:
        if not member.id or not isinstance(member.id, str):
            raise ServiceError("invalid_request", "member id must be a non-empty string",
                               field="id")
        m = t.members.c
        check_text("id", member.id, m.id.type.length)
        check_text("plan", member.plan, m.plan.type.length)
        check_text("name", member.name, m.name.type.length)
        check_text("photo_url", member.photo_url, m.photo_url.type.length)
        if member.photo_url is not None:
            problem = photo_url_problem(member.photo_url)
            if problem is not None:
                raise ServiceError("invalid_request", f"photo_url {problem}", field="photo_url")
        self._plan_limit(member.plan)
        now = self._now()
        values = {"plan": member.plan, "profile_public": member.profile_public,
                  "accepts_inmail": member.accepts_inmail, "is_employee": member.is_employee,
                  "name": member.name, "photo_url": member.photo_url, "updated_at": now}
        with self.store.write() as conn:
            if not insert_ignore(SADb(conn), t.members,
                                 {"id": member.id, "created_at": now, **values}):
                conn.execute(t.members.update().where(t.members.c.id == member.id)
                             .values(**values))
        return member

    def get_member(self, member_id: str) -> Member:
        with self.store.read() as conn:
            return self._member_row(conn, member_id).member

    def _pair(self, conn: Connection, a: str, b: str) -> None:
        if a == b:
            raise ServiceError("invalid_request", "a member cannot do this with themselves",
                               field="other_id")
        self._member_row(conn, a)
        self._member_row(conn, b, "other_id")

    def connect(self, member_id: str, other_id: str) -> None:
        now = self._now()
        with self.store.write() as conn:
            self._pair(conn, member_id, other_id)
            for x, y in ((member_id, other_id), (other_id, member_id)):
                insert_ignore(SADb(conn), t.connections,
                              {"member_id": x, "other_id": y, "created_at": now})

    def disconnect(self, member_id: str, other_id: str) -> None:
        c = t.connections.c
        with self.store.write() as conn:
            for x, y in ((member_id, other_id), (other_id, member_id)):
                conn.execute(t.connections.delete().where(c.member_id == x, c.other_id == y))

    def block(self, blocker_id: str, blocked_id: str) -> None:
        now = self._now()
        with self.store.write() as conn:
            self._pair(conn, blocker_id, blocked_id)
            insert_ignore(SADb(conn), t.blocks,
                          {"blocker_id": blocker_id, "blocked_id": blocked_id, "created_at": now})

    def unblock(self, blocker_id: str, blocked_id: str) -> None:
        b = t.blocks.c
        with self.store.write() as conn:
            conn.execute(t.blocks.delete().where(b.blocker_id == blocker_id,
                                                 b.blocked_id == blocked_id))
