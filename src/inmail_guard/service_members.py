"""Member administration for :class:`~inmail_guard.service.InMailService`: profiles (the
opt-out is ``accepts_inmail=False``), connections and blocks. Mixed into the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
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


_PATCHABLE = frozenset({"plan", "profile_public", "accepts_inmail", "is_employee", "name",
                        "photo_url", "headline", "company", "role"})
_TYPES: dict[str, type] = {"plan": str, "profile_public": bool, "accepts_inmail": bool,
                           "is_employee": bool}
_TYPE_NAMES = {"plan": "a plan name", "profile_public": "true or false",
               "accepts_inmail": "true or false", "is_employee": "true or false"}


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
        self._check_member(member)
        now = self._now()
        values = {"plan": member.plan, "profile_public": member.profile_public,
                  "accepts_inmail": member.accepts_inmail, "is_employee": member.is_employee,
                  "name": member.name, "photo_url": member.photo_url,
                  "headline": member.headline, "company": member.company, "role": member.role,
                  "updated_at": now}
        with self.store.write() as conn:
            if not insert_ignore(SADb(conn), t.members,
                                 {"id": member.id, "created_at": now, **values}):
                conn.execute(t.members.update().where(t.members.c.id == member.id)
                             .values(**values))
        return member

    def patch_member(self, member_id: str, changes: Mapping[str, object]) -> Member:
        """Change only the attributes in ``changes`` (``PATCH``'s merge patch) of an existing
        member and return it as stored. One ``UPDATE`` of the named columns, so two patches of
        different attributes never undo each other. Raises ``member_not_found``."""
        unknown = sorted(set(changes) - _PATCHABLE)
        if unknown:
            raise ServiceError("invalid_request", f"unknown member attribute {unknown[0]!r}",
                               field=unknown[0])
        probe = replace(Member(member_id), **changes)  # type: ignore[arg-type]
        for name in ("plan", "profile_public", "accepts_inmail", "is_employee"):
            if name in changes and not isinstance(changes[name], _TYPES[name]):
                raise ServiceError("invalid_request", f"{name} must be {_TYPE_NAMES[name]}",
                                   field=name)
        self._check_member(probe, changes)
        with self.store.write() as conn:
            self._member_row(conn, member_id)
            if changes:
                conn.execute(t.members.update().where(t.members.c.id == member_id)
                             .values(**changes, updated_at=self._now()))
            return self._member_row(conn, member_id).member

    def _check_member(self, member: Member, only: Mapping[str, object] | None = None) -> None:
        """Refuse attributes the store cannot hold or the policy does not know (all of them, or
        the ones named in ``only``)."""
        def checked(name: str) -> bool:
            return only is None or name in only

        m = t.members.c
        check_text("id", member.id, m.id.type.length)
        for name in ("plan", "name", "photo_url", "headline", "company", "role"):
            if checked(name):
                check_text(name, getattr(member, name), getattr(m, name).type.length)
        if checked("photo_url") and member.photo_url is not None:
            problem = photo_url_problem(member.photo_url)
            if problem is not None:
                raise ServiceError("invalid_request", f"photo_url {problem}", field="photo_url")
        if checked("plan"):
            self._plan_limit(member.plan)

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
