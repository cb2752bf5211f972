"""Member administration: profiles (the opt-out is ``accepts_inmail=False``), connections and
blocks; and :func:`member_row`, how every collaborator reads a member it needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy import Connection

from inmail_guard.engine.types import Member, photo_url_problem
from inmail_guard.memberids import DISPLAY_FORBIDDEN_CHARS, describe_char, id_problem
from inmail_guard.service.context import ServiceContext
from inmail_guard.service.errors import ServiceError, check_text
from inmail_guard.store import members as member_store
from inmail_guard.store.db import Db, as_db
from inmail_guard.store.facts import StoredMember, load_member

#: What a name, headline, company or role may not hold (shown in a sender card).
_DISPLAY_FORBIDDEN = re.compile(f"[{DISPLAY_FORBIDDEN_CHARS}]")
_DISPLAYED = ("name", "headline", "company", "role")

_PATCHABLE = frozenset({"plan", "profile_public", "accepts_inmail", "is_employee", "name",
                        "photo_url", "headline", "company", "role"})
_TYPES: dict[str, type] = {"plan": str, "profile_public": bool, "accepts_inmail": bool,
                           "is_employee": bool}
_TYPE_NAMES = {"plan": "a plan name", "profile_public": "true or false",
               "accepts_inmail": "true or false", "is_employee": "true or false"}


def member_row(conn: Connection | Db, member_id: str, field: str = "member_id") -> StoredMember:
    """The stored member, or ``member_not_found`` naming ``field``."""
    found = load_member(as_db(conn), member_id)
    if found is None:
        raise ServiceError("member_not_found", f"no member {member_id!r}", field=field)
    return found


class Members:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def put(self, member: Member) -> Member:
        if not member.id or not isinstance(member.id, str):
            raise ServiceError("invalid_request", "member id must be a non-empty string",
                               field="id")
        self._check(member)
        now = self.ctx.now()
        values = {"plan": member.plan, "profile_public": member.profile_public,
                  "accepts_inmail": member.accepts_inmail, "is_employee": member.is_employee,
                  "name": member.name, "photo_url": member.photo_url,
                  "headline": member.headline, "company": member.company, "role": member.role,
                  "updated_at": now}
        with self.ctx.store.write() as conn:
            member_store.upsert(conn, member.id, values, now)
        return member

    def patch(self, member_id: str, changes: Mapping[str, object]) -> Member:
        unknown = sorted(set(changes) - _PATCHABLE)
        if unknown:
            raise ServiceError("invalid_request", f"unknown member attribute {unknown[0]!r}",
                               field=unknown[0])
        probe = replace(Member(member_id), **changes)  # type: ignore[arg-type]
        for name in ("plan", "profile_public", "accepts_inmail", "is_employee"):
            if name in changes and not isinstance(changes[name], _TYPES[name]):
                raise ServiceError("invalid_request", f"{name} must be {_TYPE_NAMES[name]}",
                                   field=name)
        self._check(probe, changes)
        with self.ctx.store.write() as conn:
            member_row(conn, member_id)
            if changes:
                member_store.update(conn, member_id, changes, self.ctx.now())
            return member_row(conn, member_id).member

    def _check(self, member: Member, only: Mapping[str, object] | None = None) -> None:
        """Refuse attributes the store cannot hold or the policy does not know (all of them, or
        the ones named in ``only``)."""
        def checked(name: str) -> bool:
            return only is None or name in only

        sizes = member_store.COLUMN_CHARS
        check_text("id", member.id, sizes["id"])
        if only is None and (problem := id_problem(member.id)) is not None:
            raise ServiceError(
                "invalid_request", f"id {problem}: two ids that look the same must be the"
                " same id; remove it", field="id")
        for name in ("plan", "name", "photo_url", "headline", "company", "role"):
            if checked(name):
                check_text(name, getattr(member, name), sizes[name])
        for name in _DISPLAYED:
            value = getattr(member, name)
            if checked(name) and value and (bad := _DISPLAY_FORBIDDEN.search(value)):
                raise ServiceError(
                    "invalid_request", f"{name} contains {describe_char(bad.group())}, a control"
                    " character or bidi override: shown to other members, it would reorder or"
                    " break the text around it; remove it", field=name)
        if checked("photo_url") and member.photo_url is not None:
            problem = photo_url_problem(member.photo_url)
            if problem is not None:
                raise ServiceError("invalid_request", f"photo_url {problem}", field="photo_url")
        if checked("plan"):
            self.ctx.active.plan_limit(member.plan)

    def get(self, member_id: str) -> Member:
        with self.ctx.store.read() as conn:
            return member_row(conn, member_id).member

    @staticmethod
    def _pair(conn: Connection, a: str, b: str) -> None:
        if a == b:
            raise ServiceError("invalid_request", "a member cannot do this with themselves",
                               field="other_id")
        member_row(conn, a)
        member_row(conn, b, "other_id")

    def connect(self, member_id: str, other_id: str) -> None:
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            self._pair(conn, member_id, other_id)
            member_store.connect(conn, member_id, other_id, now)

    def disconnect(self, member_id: str, other_id: str) -> None:
        with self.ctx.store.write() as conn:
            member_store.disconnect(conn, member_id, other_id)

    def block(self, blocker_id: str, blocked_id: str) -> None:
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            self._pair(conn, blocker_id, blocked_id)
            member_store.block(conn, blocker_id, blocked_id, now)

    def unblock(self, blocker_id: str, blocked_id: str) -> None:
        with self.ctx.store.write() as conn:
            member_store.unblock(conn, blocker_id, blocked_id)


__all__ = ["Members", "member_row"]
