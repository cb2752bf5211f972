"""Two ways to run the same Core statements: through SQLAlchemy, or straight on the driver.

The send path runs ~8 statements per request. Through ``Connection.execute`` each costs tens
of microseconds of SQLAlchemy bookkeeping, several times what SQLite itself needs, so the
send path uses :class:`RawDb`: each Core statement is compiled **once per dialect** by
SQLAlchemy (so the SQL is still generated, portable and identical to what SQLAlchemy would
run) and then executed on the DBAPI cursor. Everything else uses :class:`SADb`, a thin
wrapper over a SQLAlchemy ``Connection``, so helpers in ``facts.py`` work with either.

Rows come back as tuples (index them by position); time columns come back as aware UTC
datetimes in both cases.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, bindparam
from sqlalchemy.sql.base import Executable

from inmail_guard.store.errors import unavailable_as_error
from inmail_guard.store.settings import to_ms
from inmail_guard.store.tables import UTCDateTime

if TYPE_CHECKING:
    from inmail_guard.store import Store

# Times are bound as SQLAlchemy's SQLite DATETIME storage format, "YYYY-MM-DD HH:MM:SS.ffffff".


def postgres_idle_alive(dbapi_conn: Any) -> bool:
    """The pool's ``pre_ping`` for PostgreSQL, without a round trip: an idle connection has
    nothing to read, so one whose socket is readable (the server closed it, or sent the
    ``FATAL`` of ``pg_terminate_backend`` or a shutdown) or in error is dead, and the pool
    replaces it. ``SELECT 1`` cost a round trip on every checkout (two with its ``BEGIN``),
    the first of a send's four. A peer gone silent is not seen here, nor was it by
    ``SELECT 1`` before its deadline: the network bounds and the response deadline
    (``store/deadline.py``) catch it on the first statement."""
    import select

    try:
        if dbapi_conn.closed or dbapi_conn.broken:
            return False
        fd = dbapi_conn.fileno()
    except Exception:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)  # POLLHUP/POLLERR come regardless
    return not poller.poll(0)


def insert_of(table: Any, *, skip: tuple[str, ...] = ()) -> Any:
    """``INSERT`` of every column but ``skip`` (auto-increment keys, columns that start NULL),
    each a named bind parameter, so the raw path binds exactly the columns given."""
    return table.insert().values({c.name: bindparam(c.name, type_=c.type)
                                  for c in table.c if c.name not in skip})


class Db(Protocol):
    dialect: str

    def all(self, stmt: Executable, params: dict[str, Any]) -> list[Sequence[Any]]: ...
    def first(self, stmt: Executable, params: dict[str, Any]) -> Sequence[Any] | None: ...
    def run(self, stmt: Executable, params: dict[str, Any]) -> int: ...
    def run_many(self, stmt: Executable, params: list[dict[str, Any]]) -> None: ...


_ROWCOUNT = {"preserve_rowcount": True}


class SADb:
    """A SQLAlchemy ``Connection`` behind the :class:`Db` interface."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def all(self, stmt: Executable, params: dict[str, Any]) -> list[Sequence[Any]]:
        return list(self.conn.execute(stmt, params).all())

    def first(self, stmt: Executable, params: dict[str, Any]) -> Sequence[Any] | None:
        return self.conn.execute(stmt, params).first()

    def run(self, stmt: Executable, params: dict[str, Any]) -> int:
        # preserve_rowcount: without it SQLAlchemy 2.x reports -1 for an INSERT on psycopg,
        # which ``insert_ignore`` would read as "inserted" (put_member lost its updates).
        return int(self.conn.execute(stmt, params,
                                     execution_options=_ROWCOUNT).rowcount)

    def run_many(self, stmt: Executable, params: list[dict[str, Any]]) -> None:
        self.conn.execute(stmt, params)


def as_db(conn: Connection | Db) -> Db:
    return SADb(conn) if isinstance(conn, Connection) else conn


class _Prepared:
    """One statement compiled for one dialect: SQL text, parameter order, time columns."""

    __slots__ = ("defaults", "names", "positional", "sql", "stmt", "time_columns",
                 "time_params")

    def __init__(self, stmt: Any, dialect: Any) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.stmt = stmt  # keeps id(stmt) from being reused while cached
        self.sql = str(compiled)
        self.positional = bool(dialect.positional)
        self.names = tuple(compiled.positiontup if self.positional else compiled.params)
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
        # Positions of time parameters (typed columns or bindparam(type_=UTCDateTime)): only
        # these need converting to SQLite's text format.
        self.time_params = tuple(i for i, n in enumerate(self.names)
                                 if isinstance(compiled.binds[n].type, UTCDateTime))
        columns = getattr(stmt, "selected_columns", None)
        self.time_columns = tuple(
            i for i, col in enumerate(columns or ()) if isinstance(col.type, UTCDateTime))


_cache: dict[tuple[int, str], _Prepared] = {}
_cache_lock = threading.Lock()


# A send binds the same few times ("now", the window start...) many times over.
_texts: dict[datetime, str] = {}


def _sqlite_time(value: datetime) -> str:
    text = _texts.get(value)
    if text is None:
        if len(_texts) > 256:
            _texts.clear()
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        text = _texts[value] = utc.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
    return text


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        # Parsing a zone costs far less than datetime.replace(tzinfo=...) (keyword parsing).
        # Stored times are "YYYY-MM-DD HH:MM:SS[.ffffff]"; anything else is read as it was.
        if len(value) > 10:
            try:
                return datetime.fromisoformat(value + "+00:00")
            except ValueError:
                pass
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    tz = value.tzinfo
    if tz is UTC:
        return value  # type: ignore[no-any-return]
    return value.replace(tzinfo=UTC) if tz is None else value.astimezone(UTC)


_fromisoformat = datetime.fromisoformat


def _sqlite_utc(value: Any) -> datetime | None:
    """:func:`_time` for SQLite's stored text, its common case first (a quarter of the CPU:
    a sender's send times are hundreds of them per send)."""
    if value.__class__ is str and len(value) > 10:
        try:
            return _fromisoformat(value + "+00:00")
        except ValueError:  # a time with its own offset...
            pass
    return _time(value)


class RawDb:
    """Core statements, compiled once, run on a DBAPI cursor (SQLite or psycopg)."""

    def __init__(self, cursor: Any, store: Store) -> None:
        self.cursor = cursor
        self.dialect = store.dialect
        self._sa_dialect = store.db.dialect
        self._sqlite = store.dialect == "sqlite"

    def _prepared(self, stmt: Any) -> _Prepared:
        key = (id(stmt), self.dialect)
        prepared = _cache.get(key)
        if prepared is None or prepared.stmt is not stmt:
            prepared = _Prepared(stmt, self._sa_dialect)
            with _cache_lock:
                _cache[key] = prepared
        return prepared

    def _params(self, p: _Prepared, params: dict[str, Any]) -> Any:
        if p.defaults:
            params = {**p.defaults, **params}
        get = params.get
        if not p.positional:  # psycopg: named, takes aware datetimes as they are
            return {n: get(n) for n in p.names}
        values = [get(n) for n in p.names]  # SQLite: qmark
        for i in p.time_params:
            value = values[i]
            if isinstance(value, datetime):
                values[i] = _sqlite_time(value)
        return values

    def _execute(self, stmt: Any, params: dict[str, Any]) -> _Prepared:
        p = self._prepared(stmt)
        self.cursor.execute(p.sql, self._params(p, params))
        return p

    def start(self, stmt: Executable, params: dict[str, Any]) -> _Prepared:
        """Execute ``stmt`` without fetching: in psycopg's pipeline mode the statement is only
        queued, and :meth:`rows` (on this cursor) fetches its rows later."""
        return self._execute(stmt, params)

    def all(self, stmt: Executable, params: dict[str, Any]) -> list[Sequence[Any]]:
        return self.rows(self._execute(stmt, params))

    def rows(self, p: _Prepared) -> list[Sequence[Any]]:
        """The rows of the statement :meth:`start` ran on this cursor, times converted."""
        rows = self.cursor.fetchall()
        if not rows or not p.time_columns or self._utc_driver():
            return rows  # type: ignore[no-any-return]
        convert = _sqlite_utc if self._sqlite else _time
        if len(rows[0]) == 1:  # one column, a time: a sender's send times, hundreds of rows
            return [(convert(value),) for (value,) in rows]
        out = []
        for row in rows:
            row = list(row)
            for i in p.time_columns:
                row[i] = convert(row[i])
            out.append(row)
        return out

    def _utc_driver(self) -> bool:
        """psycopg on a session in UTC (``StoreSettings.postgres_session``): its times are
        aware UTC datetimes as loaded, nothing to convert."""
        if self._sqlite:
            return False
        # The parameter psycopg's ``info.timezone`` reads, without the ConnectionInfo it
        # builds on each access: "UTC" (or none) is what it loads as datetime.UTC.
        zone = self.cursor.connection.pgconn.parameter_status(b"TimeZone")
        return zone is None or zone == b"UTC"

    def first(self, stmt: Executable, params: dict[str, Any]) -> Sequence[Any] | None:
        rows = self.all(stmt, params)
        return rows[0] if rows else None

    def run(self, stmt: Executable, params: dict[str, Any]) -> int:
        self._execute(stmt, params)
        return int(self.cursor.rowcount)

    def run_many(self, stmt: Executable, params: list[dict[str, Any]]) -> None:
        p = self._prepared(stmt)
        self.cursor.executemany(p.sql, [self._params(p, x) for x in params])


@contextmanager
def raw_write(store: Store) -> Iterator[RawDb]:
    """A write transaction on a DBAPI connection: ``BEGIN IMMEDIATE`` on SQLite (the write
    lock first), the driver's implicit transaction on PostgreSQL. Committed on exit, rolled
    back whole on any exception.

    On SQLite the outermost write of a thread runs on the store's one writer connection
    (``Store.writer_connection``); a nested one, and every write on PostgreSQL, on a pooled
    connection."""
    with store.writer(), unavailable_as_error():
        if store.is_sqlite and store.writer_depth == 1:
            raw = store.writer_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("BEGIN IMMEDIATE")
            except BaseException as exc:
                _drop_if_broken(store, raw, exc)
                raise
            with _writer_transaction(raw, cursor, store) as db:
                yield db
            return
        raw = store.db.raw_connection()
        try:
            cursor = raw.cursor()
            if store.is_sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            with _transaction(raw, cursor, store) as db:
                yield db
        finally:
            raw.close()


#: How long :func:`raw_write_nowait` waits out another process's write transaction: one
#: send's write takes a few hundred microseconds, and handing the send to a pool thread
#: instead costs more than that in CPU alone.
NOWAIT_SPIN_SECONDS = 0.002


@contextmanager
def raw_write_nowait(store: Store) -> Iterator[RawDb]:
    """:func:`raw_write` if it can start now, else ``WouldBlock`` before anything is done:
    for a caller on an event loop (SQLite only). Another thread of this process writing, a
    write of another process that does not end within :data:`NOWAIT_SPIN_SECONDS`, or a write
    lock held outside inmail-guard (``BEGIN IMMEDIATE`` fails at once on this connection), all
    say WouldBlock; so does PostgreSQL (see ``Store.writer_nowait``)."""
    from inmail_guard.store import WouldBlock

    with store.writer_nowait(NOWAIT_SPIN_SECONDS), unavailable_as_error():
        # The process's one writer connection, as raw_write uses (and the send's reads, when
        # it is free): one page cache kept warm by all of them. A connection of its own
        # re-read ~25 pages per send that the other one had written. busy_timeout 0 while
        # it begins: a lock held outside inmail-guard fails BEGIN at once, not in 60 s.
        raw = store.writer_connection()
        cursor = raw.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                cursor.execute("BEGIN IMMEDIATE")
            finally:
                cursor.execute(f"PRAGMA busy_timeout={_busy_ms(store)}")
        except sqlite3.OperationalError as exc:
            cursor.close()
            if "locked" in str(exc):  # SQLITE_BUSY with busy_timeout 0
                raise WouldBlock from exc
            store.drop_writer_connection()
            raise
        with _writer_transaction(raw, cursor, store) as db:
            yield db


@contextmanager
def _writer_transaction(raw: Any, cursor: Any, store: Store) -> Iterator[RawDb]:
    """:func:`_transaction` on the process's writer connection, dropped if it broke."""
    try:
        with _transaction(raw, cursor, store) as db:
            yield db
    except BaseException as exc:
        _drop_if_broken(store, raw, exc)
        raise


def _drop_if_broken(store: Store, raw: Any, exc: BaseException) -> None:
    """A driver error (other than a constraint a statement broke) may have left the writer
    connection unusable, and one still in a transaction (its ROLLBACK failed) would hold the
    write lock: start afresh."""
    broken = (isinstance(exc, sqlite3.DatabaseError)
              and not isinstance(exc, sqlite3.IntegrityError))
    if broken or raw.driver_connection.in_transaction:
        store.drop_writer_connection()


def _busy_ms(store: Store) -> int:
    return to_ms(store.settings.sqlite_busy_timeout)


@contextmanager
def _transaction(raw: Any, cursor: Any, store: Store) -> Iterator[RawDb]:
    """The rest of a transaction the caller began (SQLite: after ``BEGIN IMMEDIATE``):
    committed on exit, rolled back whole on any exception."""
    sqlite = store.dialect == "sqlite"
    try:
        yield RawDb(cursor, store)
    except BaseException:
        if sqlite:
            cursor.execute("ROLLBACK")
        else:
            raw.rollback()
        raise
    if sqlite:
        cursor.execute("COMMIT")
    else:
        raw.commit()
    cursor.close()
