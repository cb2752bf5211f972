"""State: SQLAlchemy Core over SQLite (default) or PostgreSQL.

``Store(url)`` opens (and migrates) a database. ``url`` is a SQLAlchemy URL
(``sqlite:///inmail-guard.db``, ``postgresql+psycopg://user@host/db``) or a plain file path,
which means SQLite. Writers use :meth:`Store.write`, readers :meth:`Store.read`.

How writes are serialised (what makes credit spending race-free):

* SQLite: every write transaction starts with ``BEGIN IMMEDIATE``, which takes the database's
  single write lock up front, so read-facts -> evaluate -> spend runs alone; WAL lets readers go
  on meanwhile. ``busy_timeout`` makes other writers wait instead of failing. Threads of one
  process first queue on :attr:`Store.write_lock` (an ``RLock``, bounded by the same timeout):
  SQLite's busy handler waits by sleeping and polling (1, 2, 5, 10 ... 100 ms), so 32 threads
  contending for the lock through it sent ~240 sends/s at a p99 above 1 s over HTTP, where a
  mutex hands the lock over at once. Processes then meet on a ``flock`` next to the database
  (:mod:`~inmail_guard.store.writerlock`), which wakes a waiting process the moment the lock
  is free and makes them take turns, rather than in the busy handler.
* PostgreSQL: ``READ COMMITTED`` transactions; a send's write locks its sender's row in
  ``credit_accounts`` with ``SELECT ... FOR UPDATE`` and checks that what the send read
  meanwhile still holds (:mod:`~inmail_guard.store.sendpath`), so writes of one sender run one
  at a time while different senders run in parallel.
* Both: the spend itself is ``UPDATE credit_accounts SET used = used + 1 WHERE ... AND used <
  :limit``; a send whose update matches no row is rolled back, so even a bug in the locking
  could not overspend.

WAL checkpoints (copying committed pages from ``-wal`` into the database file, with an fsync)
run off the send path on SQLite: a daemon thread per :class:`Store` runs a ``PASSIVE``
checkpoint every ``sqlite_checkpoint_interval`` (0.25 s), on its own connection, while the
sending connections only checkpoint themselves as a backstop once the WAL passes
:data:`SQLITE_BACKSTOP_PAGES`. Without it SQLite checkpoints inside whichever commit crosses
1,000 pages, so every ~60th send paid for copying the WAL and an fsync (a p99 of ~20 ms).
A ``PASSIVE`` checkpoint never waits for or blocks readers and writers; durability is
unchanged (``synchronous=NORMAL``: a commit is durable once the WAL is synced at a checkpoint).

Every wait is bounded (:class:`~inmail_guard.store.settings.StoreSettings`: connect, pool,
lock and statement timeouts), and a database that is down or too slow surfaces as
:class:`~inmail_guard.store.errors.StoreUnavailable` (``database_unavailable``) from
:meth:`Store.write` / :meth:`Store.read`, with the transaction rolled back whole.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from inmail_guard.store import deadline, writerlock
from inmail_guard.store.errors import StoreUnavailable, unavailable_as_error
from inmail_guard.store.settings import StoreSettings, to_ms
from inmail_guard.store.writerlock import WriterFileLock

DEFAULT_URL = "sqlite:///./inmail-guard.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000  # the default; StoreSettings.sqlite_busy_timeout sets it
#: With the checkpoint thread on, a sending connection checkpoints itself only past this many
#: WAL pages (~40 MB): a backstop in case the thread falls behind or stops.
SQLITE_BACKSTOP_PAGES = 10_000


class StoreError(RuntimeError):
    """The database cannot be used as is (schema too new, unsupported dialect...)."""


class WouldBlock(Exception):
    """The write path is busy (or this database's sends must not run on an event loop):
    nothing was done; run the call where it may wait."""


#: URL schemes people type for PostgreSQL -> the driver inmail-guard ships with (psycopg 3).
#: SQLAlchemy alone refuses ``postgres://`` (Heroku's, libpq's spelling) and would pick
#: psycopg2, which is not a dependency, for a bare ``postgresql://``.
_POSTGRES_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg",
                     "postgres+psycopg": "postgresql+psycopg"}


def to_url(target: str | Path | None) -> str:
    """A SQLAlchemy URL from a URL, a file path (SQLite) or None (the default file).

    ``postgres://`` and ``postgresql://`` mean psycopg 3 (``postgresql+psycopg://``)."""
    if target is None:
        return DEFAULT_URL
    text = str(target)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        return f"{_POSTGRES_SCHEMES.get(scheme.lower(), scheme)}://{rest}"
    return f"sqlite:///{text}"


def check_url(url: str) -> URL:
    """``url`` parsed, or StoreError saying why inmail-guard cannot keep its state there: not a
    URL, a database other than SQLite or PostgreSQL, or an in-memory SQLite database. Checks
    the URL only; nothing is opened."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError("expected a SQLite file path or a database URL such as"
                         " postgresql+psycopg://user@host/db") from None
    dialect = parsed.get_backend_name()
    if dialect not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {dialect!r}: use sqlite or postgresql")
    if dialect == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StoreError("use a SQLite file, not an in-memory database: the service, its"
                         " dispatcher and other processes share the file")
    return parsed


#: Writer connections a forked child inherited: referenced so that they are never closed.
_INHERITED: list[Any] = []


class Store:
    """A database holding inmail-guard's state, migrated to the current schema on open."""

    def __init__(
        self,
        url: str | Path | None = None,
        *,
        migrate: bool = True,
        pool_size: int | None = None,
        echo: bool = False,
        settings: StoreSettings | None = None,
    ) -> None:
        """``settings`` default to :meth:`StoreSettings.from_env` (``INMAIL_GUARD_DB_*``);
        ``pool_size``, if given, overrides theirs."""
        self.url = to_url(url)
        cfg = settings if settings is not None else StoreSettings.from_env()
        if pool_size is not None:
            cfg = replace(cfg, pool_size=pool_size)
        self.settings = cfg
        parsed = check_url(self.url)
        self.dialect = parsed.get_backend_name()
        # hide_parameters: a database error's message (which may be logged) names the statement
        # but not its values, so a message body never reaches a log through it.
        kwargs: dict[str, Any] = {"echo": echo, "pool_size": cfg.pool_size,
                                  "max_overflow": cfg.max_overflow,
                                  "pool_timeout": cfg.pool_timeout, "hide_parameters": True}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False,
                                      "timeout": cfg.sqlite_busy_timeout}
        else:
            # pre-ping: a connection the server dropped (restart, pg_terminate_backend) is
            # replaced at checkout, so the service recovers by itself on the next request.
            kwargs["pool_pre_ping"] = True
            # Bounds on a silent network (packets dropped, not refused): libpq's TCP settings
            # for real partitions; a parameter the URL sets itself wins.
            connect_args: dict[str, Any] = {"connect_timeout": cfg.postgres_connect_timeout(),
                                            **cfg.postgres_network()}
            kwargs["connect_args"] = {k: v for k, v in connect_args.items()
                                      if k not in parsed.query}
        self.db: SAEngine = create_engine(self.url, **kwargs)
        if self.dialect == "postgresql":
            from inmail_guard.store.db import postgres_idle_alive

            self.db.dialect.do_ping = postgres_idle_alive  # type: ignore[method-assign]
        self._checkpointer: _Checkpointer | None = None
        #: SQLite: held around every write transaction of this process (see the docstring).
        self.write_lock: threading.RLock | None = (
            threading.RLock() if self.dialect == "sqlite" else None)
        self._write_lock_timeout = cfg.sqlite_busy_timeout
        #: SQLite: taken after :attr:`write_lock`, shared with the other processes.
        self.file_lock: WriterFileLock | None = (
            WriterFileLock(os.path.abspath(str(parsed.database)))
            if self.dialect == "sqlite" and writerlock.AVAILABLE else None)
        self._writer_depth = 0  # nested writer() calls of the thread holding write_lock
        self._nowait_raw: Any = None  # see nowait_connection()
        self._nowait_engine: SAEngine | None = None
        self._writer_raw: Any = None  # see writer_connection()
        self._writer_engine: SAEngine | None = None
        self._writer_pid = 0
        self._autocheckpoint_pages: int | None = None
        if self.dialect == "sqlite":
            background = cfg.sqlite_checkpoint_interval > 0
            self._autocheckpoint_pages = SQLITE_BACKSTOP_PAGES if background else None
            _sqlite_setup(self.db, to_ms(cfg.sqlite_busy_timeout),
                          self._autocheckpoint_pages)
            if background:
                self._checkpointer = _Checkpointer(str(parsed.database),
                                                   cfg.sqlite_checkpoint_interval)
        else:
            _postgres_setup(self.db, cfg.postgres_session(), cfg.response_timeout)
        if migrate:
            from inmail_guard.store.migrations import upgrade

            try:
                upgrade(self)
            except BaseException:
                self.db.dispose()  # a service retrying the open must not pile up pools
                raise
        if self._checkpointer is not None:
            self._checkpointer.start()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on exit, rolled back whole on any exception.

        On SQLite it starts with ``BEGIN IMMEDIATE`` (the write lock is taken first)."""
        with self.writer(), unavailable_as_error(), self.db.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Hold :attr:`write_lock` (SQLite; nothing on PostgreSQL) for a write transaction.

        Waits at most ``sqlite_busy_timeout``, then raises ``StoreUnavailable``
        (``lock_timeout``), as SQLite's own busy timeout does."""
        lock = self.write_lock
        if lock is None:
            yield
            return
        timeout = self._write_lock_timeout
        started = time.monotonic()
        if not lock.acquire(timeout=timeout):
            raise StoreUnavailable("lock_timeout")
        try:
            outermost = self._writer_depth == 0
            if outermost and self.file_lock is not None:
                left = -1.0 if timeout < 0 else max(timeout - (time.monotonic() - started), 0)
                if not self.file_lock.acquire(left):
                    raise StoreUnavailable("lock_timeout")
            self._writer_depth += 1
            try:
                yield
            finally:
                self._writer_depth -= 1
                if outermost and self.file_lock is not None:
                    self.file_lock.release()
        finally:
            lock.release()

    @contextmanager
    def writer_nowait(self, spin: float = 0.0) -> Iterator[None]:
        """:meth:`writer`, or :class:`WouldBlock` if another thread or process holds the write
        path (SQLite only; PostgreSQL always says WouldBlock: its sends wait on row locks and
        the network, which an event loop must not). ``spin``: how long another thread's or
        process's write may be waited out before saying WouldBlock."""
        lock = self.write_lock
        # A pool thread of this process writing (a send that found the path busy before) is
        # waited out as briefly: else every send behind it goes to the pool as well.
        if lock is None or not (lock.acquire(timeout=spin) if spin > 0
                                else lock.acquire(blocking=False)):
            raise WouldBlock
        try:
            if self._writer_depth or (self.file_lock is not None
                                      and not self.file_lock.try_acquire(spin)):
                raise WouldBlock
            self._writer_depth += 1
            try:
                yield
            finally:
                self._writer_depth -= 1
                if self.file_lock is not None:
                    self.file_lock.release()
        finally:
            lock.release()

    def nowait_connection(self) -> Any:
        """The DBAPI connection of :func:`~inmail_guard.store.db.raw_write_nowait` (SQLite):
        kept out of the pool, so taking it never waits; with ``busy_timeout`` 0, so a write
        lock held by a program outside inmail-guard fails ``BEGIN`` at once instead of
        waiting. Used only under :meth:`writer_nowait`."""
        if self._nowait_raw is None:
            # Its own engine without a pool: opening it can't wait for the shared pool's
            # connections (held by readers in other threads) on an event loop.
            if self._nowait_engine is None:
                engine = create_engine(self.url, poolclass=NullPool,
                                       connect_args={"check_same_thread": False, "timeout": 0})
                _sqlite_setup(engine, 0, self._autocheckpoint_pages)
                self._nowait_engine = engine
            self._nowait_raw = self._nowait_engine.raw_connection()
        return self._nowait_raw

    def drop_nowait_connection(self) -> None:
        raw, self._nowait_raw = self._nowait_raw, None
        if raw is not None:
            raw.invalidate()

    @property
    def writer_depth(self) -> int:
        """How deep the calling thread is in :meth:`writer` (1: its outermost write)."""
        return self._writer_depth

    def writer_connection(self) -> Any:
        """The DBAPI connection of :func:`~inmail_guard.store.db.raw_write` (SQLite): one per
        process, kept out of the pool. SQLite lets one writer in at a time and :meth:`writer`
        already serialises this process's writes, so one connection serves them all, and a
        send no longer pays the pool's checkout and its rollback at check-in (~30 µs). Used
        only by the outermost :meth:`writer` of the thread holding it."""
        if self._writer_raw is not None and self._writer_pid != os.getpid():
            # A forked child must not use its parent's SQLite connection, nor close it (that
            # could disturb the parent's locks and WAL): keep it, unused, and open its own.
            _INHERITED.append(self._writer_raw)
            self._writer_raw, self._writer_engine = None, None
        if self._writer_raw is None:
            if self._writer_engine is None:
                timeout = self.settings.sqlite_busy_timeout
                engine = create_engine(self.url, poolclass=NullPool, hide_parameters=True,
                                       connect_args={"check_same_thread": False,
                                                     "timeout": timeout})
                _sqlite_setup(engine, to_ms(timeout), self._autocheckpoint_pages)
                self._writer_engine = engine
            self._writer_raw = self._writer_engine.raw_connection()
            self._writer_pid = os.getpid()
        return self._writer_raw

    def drop_writer_connection(self) -> None:
        """Close the writer connection (after an error that may have left it unusable); the
        next write opens a new one."""
        raw, self._writer_raw = self._writer_raw, None
        if raw is not None:
            raw.invalidate()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on SQLite WAL)."""
        with unavailable_as_error(), self.db.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        from inmail_guard.store import sendpath

        sendpath.close(self)
        # The writer and no-wait connections serve whichever thread holds the write lock: let
        # a write in progress finish (within the busy timeout) before closing them under it.
        lock = self.write_lock
        held = lock.acquire(timeout=self._write_lock_timeout) if lock is not None else False
        try:
            self.drop_nowait_connection()
            if self._nowait_engine is not None:
                self._nowait_engine.dispose()
            self.drop_writer_connection()
            if self._writer_engine is not None:
                self._writer_engine.dispose()
        finally:
            if held:
                lock.release()
        self.db.dispose()
        if self.file_lock is not None:
            self.file_lock.close()

    def __repr__(self) -> str:
        return f"Store({make_url(self.url).render_as_string(hide_password=True)!r})"


class _Checkpointer:
    """A daemon thread running ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds.

    sqlite3 releases the GIL while SQLite copies pages and syncs, so the sending thread goes on
    meanwhile. A failed checkpoint is retried on the next tick; if the file cannot be opened
    (it was removed), the thread ends instead of creating an empty one. The sending
    connections' backstop checkpoint bounds the WAL whatever happens here."""

    def __init__(self, path: str, interval: float) -> None:
        self._path = path
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inmail-guard-wal-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stopped.wait(self._interval):
            if conn is None:
                try:  # mode=rw: never create the file (a Store's file removed under it)
                    conn = sqlite3.connect(f"file:{quote(self._path)}?mode=rw", uri=True,
                                           timeout=0, isolation_level=None,
                                           check_same_thread=False)
                except sqlite3.Error:
                    return  # the file is gone; the connections' backstop still applies
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


def _sqlite_setup(db: SAEngine, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                  autocheckpoint_pages: int | None = None) -> None:
    # pysqlite's own transaction handling would defer BEGIN; take control of it so write
    # transactions can start with BEGIN IMMEDIATE (SQLAlchemy's documented recipe).
    @event.listens_for(db, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cur.execute("PRAGMA foreign_keys=ON")
        if autocheckpoint_pages is not None:
            cur.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
        cur.close()

    @event.listens_for(db, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _postgres_setup(db: SAEngine, session: dict[str, str], response_timeout: float) -> None:
    # Every wait for an answer is bounded on the client too, whatever the network does
    # (store/deadline.py).
    connection_cls = deadline.connection_class(response_timeout)

    @event.listens_for(db, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return connection_cls.connect(*cargs, **cparams)

    # Session settings on every new connection (not URL ``options``, which a caller's own
    # ``?options=-csearch_path=...`` would replace).
    @event.listens_for(db, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            for name, value in session.items():
                cur.execute("SELECT set_config(%s, %s, false)", (name, value))
        dbapi_conn.commit()


__all__ = ["DEFAULT_URL", "SQLITE_BACKSTOP_PAGES", "Store", "StoreError", "StoreSettings",
           "StoreUnavailable", "WouldBlock", "check_url", "to_url"]
