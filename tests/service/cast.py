"""The members most service tests need, and small helpers to count rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

import inmail_guard as ig
from inmail_guard.store import tables as t

MEMBERS = (
    ig.Member("alice", plan="premium_business", name="Alice Adams",
              photo_url="https://img.example/alice.jpg"),
    ig.Member("jess", plan="job_seeker", name="Jess Jobs"),
    ig.Member("basil", plan="basic", name="Basil Basic"),
    ig.Member("rita", plan="recruiter_corporate", name="Rita Recruits"),
    ig.Member("bob", name="Bob Brown"),
    ig.Member("carol", name="Carol Connected"),
    ig.Member("dave", name="Dave Blocks"),
    ig.Member("olive", accepts_inmail=False, name="Olive Opted-out"),
    ig.Member("emma", is_employee=True, name="Emma Employee"),
    ig.Member("pat", profile_public=False, name="Pat Private"),
)


def cast(service: Any) -> Any:
    for member in MEMBERS:
        service.put_member(member)
    service.connect("alice", "carol")
    service.block("dave", "alice")
    return service


def error(fn: Any, *args: Any) -> str:
    """The code of the ServiceError that ``fn(*args)`` raises (it must raise one)."""
    import pytest

    from inmail_guard.service import ServiceError

    with pytest.raises(ServiceError) as err:
        fn(*args)
    return err.value.code


def msg(sender: str = "alice", recipient: str = "bob", **kw: Any) -> ig.Message:
    kw.setdefault("subject", "An opportunity")
    kw.setdefault("body", "Hi! I'd like to talk about a **role** on my team.")
    return ig.Message(sender, recipient, **kw)


def count(store: Any, table: Any, *where: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar()
                   or 0)


def state(store: Any) -> dict[str, int]:
    """Row counts of every table that a send may change."""
    return {name: count(store, table) for name, table in t.metadata.tables.items()
            if name != "schema_version"}


def events(store: Any, type_: str | None = None) -> list[dict[str, Any]]:
    import json

    query = select(t.outbox.c.payload).order_by(t.outbox.c.seq)
    if type_ is not None:
        query = query.where(t.outbox.c.type == type_)
    with store.read() as conn:
        return [json.loads(p) for p in conn.execute(query).scalars()]
