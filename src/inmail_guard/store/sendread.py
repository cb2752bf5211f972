"""A send's read: the account, both members, the facts and the idempotency record, with no
lock held (``store/sendpath.py`` has the whole send: read, decide, write if the read holds).

On PostgreSQL the read is one statement that returns one row, the recent send times and bodies
as arrays (``sendquery.send_read_query``), in autocommit (no ``BEGIN``/``COMMIT``), on the send's
connection (``store/sendconn.py``); a second round trip only for what is rare (an unknown
member, a sender's first send of the window, a replayed key's InMail). On SQLite it is one read
transaction on the process's writer connection when it is free, else on a reader connection of
the calling thread (WAL: never waits for the writer).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from inmail_guard.engine.types import BodyFingerprint, Facts
from inmail_guard.store import sendconn
from inmail_guard.store.db import RawDb, _Prepared, _time
from inmail_guard.store.errors import StoreUnavailable, unavailable_as_error
from inmail_guard.store.facts import (
    _ACCOUNT,
    Account,
    StoredMember,
    load_members,
    peek_account,
    send_facts,
    send_facts_from_rows,
    send_facts_queries,
)
from inmail_guard.store.facts import _stored as _stored_sender
from inmail_guard.store.inmails import _FIND_KEY, _INMAIL_BY_ID
from inmail_guard.store.sendquery import (
    READ_ACCOUNT,
    READ_BODIES,
    READ_KEY,
    READ_RECENT,
    bodies_from_arrays,
    send_read_query,
)

if TYPE_CHECKING:
    from inmail_guard.store import Store


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What :func:`read_send` found. ``found`` is None when either member is unknown."""

    #: The sender's account; if it has none for this window yet (``new_account``), the one
    #: the write will open (its roll-over from the previous window), still unused.
    account: Account
    found: tuple[StoredMember, StoredMember, Facts] | None
    new_account: bool = False
    #: The idempotency record (request hash, decision JSON, InMail id), if the key was used.
    replay: Sequence[Any] | None = None
    #: That InMail's row (columns :data:`INMAIL_KEYS`), if it has one.
    replay_inmail: Sequence[Any] | None = None
    #: When ``found`` is None: which of the two members do exist.
    known_members: frozenset[str] = frozenset()


def read_send(
    store: Store,
    sender_id: str,
    recipient_id: str,
    window_start: datetime,
    now: datetime,
    *,
    idempotency_key: str | None,
    expire_after: timedelta,
    abuse_window: timedelta,
    bodies_window: timedelta | None,
    fingerprint_version: int,
    previous_window_start: datetime,
    plan_limit: Callable[[str], int],
    rollover_cap: int,
    conn: Any = None,
) -> Snapshot:
    """The account, members, facts and idempotency record of a send (see the module doc).

    ``previous_window_start``, ``plan_limit`` (a plan's monthly credits; it may raise for a
    plan the caller does not know) and ``rollover_cap`` size the account a sender's first
    send of a window opens. ``conn``:
    PostgreSQL, the send's :func:`connection` (else one of its own)."""
    if not store.is_sqlite:
        try:
            return _read_postgres(store, conn, sender_id, recipient_id, window_start, now,
                                  idempotency_key, expire_after, abuse_window, bodies_window,
                                  fingerprint_version, previous_window_start, plan_limit,
                                  rollover_cap)
        except StoreUnavailable as exc:
            raise ReadUnavailable(exc.reason) from exc
    queries: list[tuple[Any, dict[str, Any]]] = [
        (_ACCOUNT, {"m": sender_id, "w": window_start}),
        *send_facts_queries(sender_id, recipient_id, now, expire_after=expire_after,
                            abuse_window=abuse_window, bodies_window=bodies_window)]
    if idempotency_key is not None:
        queries.append((_FIND_KEY, {"s": sender_id, "k": idempotency_key}))
    try:
        return _read_send(store, queries, sender_id, window_start, now, idempotency_key,
                          bodies_window, fingerprint_version, previous_window_start,
                          plan_limit, rollover_cap, recipient_id)
    except StoreUnavailable as exc:
        raise ReadUnavailable(exc.reason) from exc


class ReadUnavailable(StoreUnavailable):
    """:func:`read_send` found the database unavailable: nothing was written, so the read may
    be tried again on another connection (a pooled one the server had just closed fails on
    first use: the pool's check without a round trip cannot see a close still in flight)."""


def _read_send(store: Store, queries: list[tuple[Any, dict[str, Any]]], sender_id: str,
               window_start: datetime, now: datetime, idempotency_key: str | None,
               bodies_window: timedelta | None, fingerprint_version: int,
               previous_window_start: datetime, plan_limit: Callable[[str], int],
               rollover_cap: int, recipient_id: str) -> Snapshot:
    """:func:`read_send` on SQLite: its statements in one read transaction."""
    with _reader(store) as run:
        results = run(queries)
        replay = results[3][0] if idempotency_key is not None and results[3] else None
        replay_inmail = None
        if replay is not None and replay[2] is not None:
            rows = run([(_INMAIL_BY_ID, {"id": replay[2]})])[0]
            replay_inmail = rows[0] if rows else None
        known: frozenset[str] = frozenset()
        if not results[1]:  # a member is unknown: which?
            known = frozenset(load_members(_RunDb(run, store.dialect), sender_id, recipient_id))
        opened = None
        if not results[0] and results[1]:  # no account yet: what it would open with
            sender = _stored_sender(results[1][0])
            opened = peek_account(_RunDb(run, store.dialect), sender, window_start,
                                  previous_window_start,
                                  plan_limit=plan_limit(sender.plan),
                                  rollover_cap=rollover_cap)
    row = results[0][0] if results[0] else None
    account = (opened or Account(sender_id, window_start, 0, 0, 0) if row is None
               else Account(sender_id, window_start, row[0], row[1], row[2]))
    facts_row = results[1][0] if results[1] else None
    found = send_facts_from_rows(facts_row, results[2], account, now,
                                 bodies_window=bodies_window,
                                 fingerprint_version=fingerprint_version)
    return Snapshot(account, found, row is None, replay, replay_inmail, known)


def _read_postgres(store: Store, conn: Any, sender_id: str, recipient_id: str,
                   window_start: datetime, now: datetime, idempotency_key: str | None,
                   expire_after: timedelta, abuse_window: timedelta,
                   bodies_window: timedelta | None, fingerprint_version: int,
                   previous_window_start: datetime, plan_limit: Callable[[str], int],
                   rollover_cap: int) -> Snapshot:
    """:func:`read_send` on PostgreSQL: one statement, one row (:func:`send_read_query`), in
    binary (a send time loads in a third of the text format's CPU); a second round trip
    only for what is rare: an unknown member, a sender's first send of the window, a
    replayed key's InMail."""
    stmt, params = send_read_query(sender_id, recipient_id, window_start, now,
                                   idempotency_key=idempotency_key,
                                   expire_after=expire_after, abuse_window=abuse_window,
                                   bodies_window=bodies_window)
    if conn is None:  # a connection of the read's own
        with connection(store) as own:
            return _read_postgres(store, own, sender_id, recipient_id, window_start, now,
                                  idempotency_key, expire_after, abuse_window, bodies_window,
                                  fingerprint_version, previous_window_start, plan_limit,
                                  rollover_cap)
    with unavailable_as_error():  # driver failures as StoreUnavailable
        pg = conn
        # Straight to the driver's lowest level (sendconn.fetch_one): RawDb's per-call work
        # (parameter dict, fetchall, the session's zone looked up for time columns) was ~10
        # µs of a read's ~40 µs client CPU, the cursor's own Python another 6-9 µs.
        found = _compiled.get(stmt)
        if found is None:
            prepared = _Prepared(stmt, store.db.dialect)
            found = _compiled[stmt] = (prepared, sendconn.Statement(prepared.sql))
        p, statement = found
        values = {**p.defaults, **params} if p.defaults else params
        row = sendconn.fetch_one(pg, statement, [values[name] for name in statement.names])

        def run(queries: list[tuple[Any, dict[str, Any]]]) -> list[list[Sequence[Any]]]:
            return _pipelined(pg, store, queries)

        if row is None:  # a member is unknown: which?
            known = frozenset(load_members(_RunDb(run, store.dialect), sender_id, recipient_id))
            return Snapshot(Account(sender_id, window_start, 0, 0, 0), None, True,
                            known_members=known)
        replay = replay_inmail = None
        if row[READ_KEY] is not None:
            replay = row[READ_KEY:READ_RECENT]
            if replay[2] is not None:
                rows = run([(_INMAIL_BY_ID, {"id": replay[2]})])[0]
                replay_inmail = rows[0] if rows else None
        new_account = row[READ_ACCOUNT] is None
        if new_account:  # no account yet: what it would open with
            sender = _stored_sender(row)
            account = peek_account(_RunDb(run, store.dialect), sender, window_start,
                                   previous_window_start, plan_limit=plan_limit(sender.plan),
                                   rollover_cap=rollover_cap)
        else:
            used, rollover, refunds = row[READ_ACCOUNT:READ_KEY]
            account = Account(sender_id, window_start, used, rollover, refunds)
        # psycopg loads timestamptz in the session's zone: UTC (set on connect) is as wanted.
        utc = pg.pgconn.parameter_status(b"TimeZone") == b"UTC"
    recent = row[READ_RECENT] or ()
    bodies: tuple[BodyFingerprint, ...] = ()
    if bodies_window is not None:
        times, to, fingerprints = row[READ_BODIES:READ_BODIES + 3]
        if times and not utc:
            times = [_time(x) for x in times]
        bodies = bodies_from_arrays(times, to, fingerprints, fingerprint_version)
    if not utc:  # a session whose TimeZone is not UTC (set on connect: should not happen)
        recent = [_time(x) for x in recent]
        row = list(row)
        for i in p.time_columns:
            row[i] = _time(row[i])
    # Oldest first (the array comes newest first: linear for sorted, and no order to trust).
    found = send_facts(row, tuple(sorted(recent)), bodies, account, now)
    return Snapshot(account, found, new_account, replay, replay_inmail)


#: The PostgreSQL read statements, compiled (``RawDb``'s compiled form, used without it) and
#: in PostgreSQL's ``$n`` form for :func:`sendconn.fetch_one`.
_compiled: dict[Any, tuple[_Prepared, sendconn.Statement]] = {}


class _RunDb:
    """The reads of :func:`peek_account` through a reader's batch function."""

    def __init__(self, run: _Run, dialect: str) -> None:
        self._run, self.dialect = run, dialect

    def first(self, stmt: Any, params: dict[str, Any]) -> Sequence[Any] | None:
        rows = self._run([(stmt, params)])[0]
        return rows[0] if rows else None

    def all(self, stmt: Any, params: dict[str, Any]) -> list[Sequence[Any]]:
        return self._run([(stmt, params)])[0]


_Run = Callable[[list[tuple[Any, dict[str, Any]]]], list[list[Sequence[Any]]]]


@contextmanager
def _reader(store: Store) -> Iterator[_Run]:
    """SQLite: a function running a batch of read statements in one read transaction, on
    this process's writer connection when it is free, else on this thread's reader
    connection."""
    with unavailable_as_error():
        lock = store.write_lock
        # This process's writer connection when it is free: its page cache is the one the
        # writes keep warm (a connection of its own re-reads the pages every write changed:
        # ~20% more CPU per send). Reads take no file lock: WAL lets them run alongside
        # another process's write.
        if lock is not None and lock.acquire(blocking=False):
            try:
                if store.writer_depth == 0:
                    with _sqlite_read(store.writer_connection(), store,
                                      store.drop_writer_connection) as run:
                        yield run
                    return
            finally:
                lock.release()
        with _sqlite_read(_sqlite_reader(store), store,
                          lambda: _drop_sqlite_reader(store)) as run:
            yield run


@contextmanager
def _sqlite_read(raw: Any, store: Store, drop: Callable[[], None]) -> Iterator[_Run]:
    """One read transaction on ``raw``; a driver error (other than a constraint) drops the
    connection, any other error just ends the transaction."""
    cursor = raw.cursor()
    db = RawDb(cursor, store)
    try:
        cursor.execute("BEGIN")
        yield lambda queries: [db.all(stmt, params) for stmt, params in queries]
        cursor.execute("COMMIT")
    except BaseException as exc:
        broken = (isinstance(exc, sqlite3.DatabaseError)
                  and not isinstance(exc, sqlite3.IntegrityError))
        if not broken and raw.driver_connection.in_transaction:
            try:
                cursor.execute("ROLLBACK")
            except sqlite3.Error:
                broken = True
        cursor.close()
        if broken:
            drop()
        raise
    cursor.close()


def _pipelined(conn: Any, store: Store,
               queries: list[tuple[Any, dict[str, Any]]]) -> list[list[Sequence[Any]]]:
    """Run ``queries`` in one round trip (psycopg pipeline mode); their rows, in order."""
    if len(queries) == 1:
        stmt, params = queries[0]
        return [RawDb(conn.cursor(), store).all(stmt, params)]
    # Fetch after the block: leaving it sends the one Sync and reads every result (fetching
    # inside would cost a flush request and a round trip of its own).
    with conn.pipeline():
        started = []
        for stmt, params in queries:
            db = RawDb(conn.cursor(), store)
            started.append((db, db.start(stmt, params)))
    return [db.rows(p) for db, p in started]


def connection(store: Store) -> AbstractContextManager[Any]:
    """PostgreSQL: one psycopg connection for a send's read and its write, in autocommit
    while the send holds it (:mod:`~inmail_guard.store.sendconn`); None on SQLite.

    Autocommit because psycopg's implicit ``BEGIN`` costs a round trip of its own: the read
    is one statement, and the write one statement, atomic by itself."""
    return nullcontext() if store.is_sqlite else sendconn.connection(store)


_readers_lock = threading.Lock()


def _readers(store: Store) -> tuple[threading.local, list[Any]]:
    found = store.__dict__.get("_sendpath_readers")
    if found is None:
        with _readers_lock:
            found = store.__dict__.setdefault("_sendpath_readers", (threading.local(), []))
    return found  # type: ignore[no-any-return]


def _sqlite_reader(store: Store) -> Any:
    """This thread's SQLite connection for the send's reads (kept open, out of the pool:
    taking one never waits, as the event loop's send must not)."""
    local, every = _readers(store)
    raw = getattr(local, "raw", None)
    if raw is not None:
        return raw
    engine = store.__dict__.get("_sendpath_read_engine")
    if engine is None:
        from inmail_guard.store import _sqlite_setup
        from inmail_guard.store.settings import to_ms

        timeout = store.settings.sqlite_busy_timeout
        engine = create_engine(store.url, poolclass=NullPool, hide_parameters=True,
                               connect_args={"check_same_thread": False, "timeout": timeout})
        _sqlite_setup(engine, to_ms(timeout), None)
        store.__dict__["_sendpath_read_engine"] = engine
    raw = local.raw = engine.raw_connection()
    every.append(raw)
    return raw


def _drop_sqlite_reader(store: Store) -> None:
    local, every = _readers(store)
    raw, local.raw = getattr(local, "raw", None), None
    if raw is not None:
        every.remove(raw)
        raw.invalidate()


def close(store: Store) -> None:
    """Close the send path's connections of ``store`` (``Store.close``)."""
    if not store.is_sqlite:
        sendconn.kept(store).close()
    _, every = _readers(store)
    for raw in list(every):
        raw.invalidate()
    every.clear()
    engine = store.__dict__.pop("_sendpath_read_engine", None)
    if engine is not None:
        engine.dispose()
