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
"""

from __future__ import annotations

import os
import threading
import weakref
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


_cursors: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def cursor(conn: Any, sql: str) -> Any:
    """The send path's cursor of ``conn`` for the statement ``sql`` (one of a few constant
    strings: the read's variants, the write's call), kept with the connection: binary
    results (a send time loads in a third of the text format's CPU), and the cursor's
    adapters kept from one execution of ``sql`` to the next. psycopg builds a new
    ``Transformer`` (the dumper of each parameter and the loader of each column, looked up
    again) whenever a cursor runs a statement other than its last one, so one cursor shared
    by the read and the write rebuilt it on every execute: ~30 µs of client CPU per send."""
    kept_cursors = _cursors.get(conn)
    if kept_cursors is None:
        kept_cursors = _cursors[conn] = {}
    cur = kept_cursors.get(sql)
    if cur is None or cur.closed:
        cur = kept_cursors[sql] = conn.cursor(binary=True)
    return cur
