"""PostgreSQL: the connection a send holds for its read and its write, in autocommit.

Taking one from SQLAlchemy's pool and handing it back costs a send ~50 µs of CPU (measured on
the benchmark machine, ~12 % of a send's client CPU): the pool's checkout and check-in, its
reset on return, and switching autocommit on and off, each switch a wait the deadline watchdog
arms (``store/deadline.py``). So a send hands its connection back to a small stack instead,
still in autocommit and still checked out of the pool, and the next send takes it from there:
a list pop and a ``poll`` that the server has not closed it meanwhile (the check the pool's
pre-ping runs, ``postgres_idle_alive``).

The pool's cap stays what it is (``pool_size + max_overflow``: kept connections count as
checked out), and kept connections never starve the rest of the process: a connection is
kept only while at most half the pool is in use, at most ``pool_size // 2`` of them, and only
in a clean state (no transaction, not broken); otherwise it goes back to the pool as before.

The send's two statements run on it through :func:`fetch_one`, psycopg's lowest level: each
prepared once per session, its adapters kept with the connection (a cursor shared by the read
and the write rebuilt them on every execute).
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from inmail_guard.store.db import postgres_idle_alive
from inmail_guard.store.errors import StoreUnavailable, unavailable_as_error

if TYPE_CHECKING:
    from inmail_guard.store import Store

#: Kept connections a forked child inherited: referenced so that they are never closed (that
#: would end the parent's sessions).
_INHERITED: list[Any] = []


class KeptConnections:
    """The idle send connections of one :class:`Store`, newest on top."""

    def __init__(self, store: Store) -> None:
        settings = store.settings
        self._store = store
        self._size = settings.pool_size // 2
        self._busy_limit = (settings.pool_size + settings.max_overflow) // 2
        self._stack: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False  # a send still running at close gives its connection back

    def take(self) -> Any:
        """A kept connection that is still alive (a pool "fairy", in autocommit), or None."""
        while self._stack:
            with self._lock:
                if self._pid != os.getpid():  # a forked child: its parent's sessions
                    _INHERITED.extend(self._stack)
                    self._stack.clear()
                    self._pid = os.getpid()
                    return None
                if not self._stack:
                    return None
                raw = self._stack.pop()
            if postgres_idle_alive(raw.driver_connection):
                return raw
            raw.invalidate()  # the server closed it while it was kept: the pool opens another
        return None

    def keep(self, raw: Any) -> bool:
        """Keep ``raw`` for the next send if the pool can spare it and it is clean."""
        conn = raw.driver_connection
        if (len(self._stack) >= self._size or conn.pgconn.transaction_status
                or self._store.db.pool.checkedout() > self._busy_limit):
            return False
        with self._lock:
            if len(self._stack) >= self._size or self._pid != os.getpid() or self._closed:
                return False
            self._stack.append(raw)
        return True

    def close(self) -> None:
        """Hand every kept connection back to the pool, as it came (``Store.close``)."""
        with self._lock:
            kept, self._stack = self._stack, []
            self._closed = True
            if self._pid != os.getpid():
                _INHERITED.extend(kept)
                return
        for raw in kept:
            _give_back(raw)


_kept_lock = threading.Lock()


def kept(store: Store) -> KeptConnections:
    found = store.__dict__.get("_send_connections")
    if found is None:
        with _kept_lock:
            found = store.__dict__.setdefault("_send_connections", KeptConnections(store))
    return found  # type: ignore[no-any-return]


def _give_back(raw: Any) -> None:
    """Back to the pool with autocommit off and no transaction; dropped if that fails."""
    conn = raw.driver_connection
    if raw.is_valid:
        try:
            if conn.pgconn.transaction_status:  # not IDLE (ConnectionInfo: built per access)
                conn.rollback()
            conn.autocommit = False
        except Exception:
            raw.invalidate()
    raw.close()


class _Checkout:
    """:func:`connection`'s context manager: a class rather than ``@contextmanager`` (a send
    enters it once, and the generator, its frames and the nested ``unavailable_as_error``
    cost CPU on every send; the behaviour is the same)."""

    __slots__ = ("_pool", "_raw", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pool = kept(store)
        self._raw: Any = None

    def __enter__(self) -> Any:
        with unavailable_as_error():
            raw = self._pool.take()
            if raw is None:
                raw = self._store.db.raw_connection()
                try:
                    conn = raw.driver_connection
                    if conn.pgconn.transaction_status:  # not IDLE: someone left one open
                        conn.rollback()
                    conn.autocommit = True
                except BaseException:
                    _give_back(raw)
                    raise
        self._raw = raw
        return raw.driver_connection

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> bool:
        raw, self._raw = self._raw, None
        with unavailable_as_error():
            try:
                if exc is not None and isinstance(
                        exc, (self._store.db.dialect.loaded_dbapi.OperationalError,
                              StoreUnavailable)):
                    raw.invalidate()  # failed under a driver error: discarded
            finally:
                if not (raw.is_valid and self._pool.keep(raw)):
                    _give_back(raw)
        # The block's own error, as unavailable_as_error around it would have raised it.
        return unavailable_as_error().__exit__(typ, exc, tb)


def connection(store: Store) -> AbstractContextManager[Any]:
    """A psycopg connection in autocommit for one send: a kept one, else one from the pool.
    One that failed under a driver error is discarded; any other is kept for the next send
    or goes back to the pool as it came (autocommit off, no transaction). Driver errors that
    mean the database is unavailable come out as ``StoreUnavailable``."""
    return _Checkout(store)


class Statement:
    """One of the send path's statements, in PostgreSQL's own form (``$1``..``$n``), for
    :func:`fetch_one`; built once, from the driver's ``%(name)s``/``%s`` form."""

    __slots__ = ("names", "sql")

    def __init__(self, sql: str) -> None:
        names: dict[str, int] = {}
        positional = 0

        def number(match: re.Match[str]) -> str:
            nonlocal positional
            if match.group(0) == "%%":
                return "%"
            name = match.group(1)
            if name is None:
                positional += 1
                return f"${positional}"
            return f"${names.setdefault(name, len(names) + 1)}"

        converted = _PLACEHOLDER.sub(number, sql)
        if names and positional:
            raise ValueError("a statement takes named or positional parameters, not both")
        self.sql = converted.encode()
        #: The parameters' names in ``$n`` order (empty: positional).
        self.names = tuple(names)


_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s|%s")


class _Session:
    """What :func:`fetch_one` keeps with one connection: a psycopg ``Transformer`` per
    statement (its dumpers and loaders, looked up once) and the server-side prepared
    statements by (statement, parameter types)."""

    __slots__ = ("named", "prepared", "transformers")

    def __init__(self) -> None:
        self.transformers: dict[bytes, Any] = {}
        self.prepared: dict[tuple[bytes, Any], bytes] = {}
        self.named = 0  # statements prepared on this session so far (names never reused)


_sessions: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()
#: Prepared statements :func:`fetch_one` keeps per session at most (psycopg's own cap is 100).
PREPARED_MAX = 64
_AUTO: dict[int, list[Any]] = {}


def fetch_one(conn: Any, statement: Statement, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """Run ``statement`` with ``params`` (in ``$n`` order) on ``conn`` (in autocommit) as a
    prepared statement with binary results; its first row, or None.

    What ``cursor.execute(..., prepare=True)`` and ``fetchone`` do for one statement, without
    the cursor's per-call Python (query conversion, the prepared-statement cache's
    bookkeeping, result selection): 6-9 µs of client CPU per statement in a loop. Waits go
    through ``conn.wait`` (the response deadline, ``store/deadline.py``); errors are
    psycopg's own, as the cursor raises them (``UndefinedFunction``, ``UniqueViolation``,
    ``OperationalError``...). A prepared statement the session lost (``DEALLOCATE ALL``,
    ``DISCARD ALL``) is prepared again, once. At most :data:`PREPARED_MAX` are prepared per
    session (one per statement and parameter types); past that a new combination runs
    unnamed (parsed and planned on every run)."""
    adapt, generators, pq = _psycopg or _load_psycopg()
    session = _sessions.get(conn)
    if session is None:
        session = _sessions[conn] = _Session()
    sql = statement.sql
    tx = session.transformers.get(sql)
    if tx is None:
        tx = session.transformers[sql] = adapt.Transformer(conn)
    formats = _AUTO.get(len(params))
    if formats is None:
        formats = _AUTO[len(params)] = [adapt.PyFormat.AUTO] * len(params)
    dumped = tx.dump_sequence(params, formats)
    key = (sql, tx.types)
    pgconn = conn.pgconn
    with conn.lock:
        if key not in session.prepared and len(session.prepared) >= PREPARED_MAX:
            # A parameter-type combination past the cap (ints dump as int2, int4 or int8 by
            # value, None as unknown): run it unnamed, as psycopg does, rather than grow.
            pgconn.send_query_params(sql, dumped, param_types=tx.types,
                                     param_formats=tx.formats, result_format=pq.Format.BINARY)
            results = conn.wait(generators.execute(pgconn))
        else:
            results = _run_prepared(conn, session, key, dumped, tx, generators, pq)
    result = _check(conn, results)
    if not result.ntuples:
        return None
    tx.set_pgresult(result)
    return tx.load_row(0, tuple)  # type: ignore[no-any-return]


def _run_prepared(conn: Any, session: _Session, key: tuple[bytes, Any], dumped: Any, tx: Any,
                  generators: Any, pq: Any) -> list[Any]:
    """Execute the statement prepared for ``key`` (preparing it first if needed); its
    results. A name the session lost is prepared again, once."""
    pgconn = conn.pgconn
    sql = key[0]
    for attempt in (1, 2):
        name = session.prepared.get(key)
        if name is None:
            session.named += 1
            name = f"inmail_guard_send_{session.named}".encode()
            pgconn.send_prepare(name, sql, param_types=tx.types)
            _check(conn, conn.wait(generators.execute(pgconn)))
            session.prepared[key] = name
        pgconn.send_query_prepared(name, dumped, param_formats=tx.formats,
                                   result_format=pq.Format.BINARY)
        results: list[Any] = conn.wait(generators.execute(pgconn))
        if (attempt == 1 and results and results[-1].status == _FATAL_ERROR
                and results[-1].error_field(pq.DiagnosticField.SQLSTATE) == b"26000"):
            session.prepared.clear()  # the session's prepared statements are gone
            continue
        break
    return results


_psycopg: tuple[Any, Any, Any] | None = None  # psycopg's adapt, generators, pq (lazily)


def _load_psycopg() -> tuple[Any, Any, Any]:
    global _psycopg
    from psycopg import adapt, generators, pq

    _psycopg = (adapt, generators, pq)
    return _psycopg


def _check(conn: Any, results: list[Any]) -> Any:
    """The one result of a statement, or its error raised as psycopg raises it."""
    for result in results:
        if result.status == _FATAL_ERROR:
            from psycopg import errors

            raise errors.error_from_result(result, encoding=conn.info.encoding)
    if not results:
        from psycopg import errors

        raise errors.InternalError("got no result from the query")
    return results[-1]


_FATAL_ERROR = 7  # psycopg.pq.ExecStatus.FATAL_ERROR (libpq's PGRES_FATAL_ERROR)


__all__ = ["KeptConnections", "Statement", "connection", "fetch_one", "kept"]
