"""The database down or slow: ``send`` fails fast with ``database_unavailable`` (a bounded
timeout), writes nothing, and works again by itself once the database is back. Real servers,
real sockets: a closed port, a port that never answers, a lock held by another connection, a
TCP proxy that is cut and restored, backends terminated with ``pg_terminate_backend``."""

from __future__ import annotations

import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import inmail_guard as ig
from inmail_guard.service import InMailService, ServiceError
from inmail_guard.store import Store, StoreSettings, StoreUnavailable
from inmail_guard.store.settings import BOUNDS
from service.cast import cast, msg, state

from .pgproxy import TcpProxy

PG_ONLY = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


def with_app_name(url: str) -> tuple[str, str]:
    """``url`` tagged with a unique application_name, so a test terminates only its own
    backends (never those of another test run sharing the server)."""
    name = f"ig-test-{uuid.uuid4().hex[:12]}"
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(
        hide_password=False), name


def terminate(url: str, app_name: str) -> int:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name = :app"), {"app": app_name}).all())
    finally:
        admin.dispose()


@pytest.fixture
def open_service(clock: Any) -> Iterator[Any]:
    made: list[InMailService] = []

    def make(url: str, **settings: Any) -> InMailService:
        svc = InMailService(ig.default_policy(), Store(url, settings=StoreSettings(**settings)),
                            clock=clock)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
        svc.store.close()


def unavailable(fn: Any, *args: Any, **kwargs: Any) -> tuple[StoreUnavailable, float]:
    start = time.perf_counter()
    with pytest.raises(StoreUnavailable) as info:
        fn(*args, **kwargs)
    assert info.value.code == "database_unavailable" and info.value.status == 503
    # The store's error is its own; the service maps it to its ServiceError (still both).
    from_service = isinstance(getattr(fn, "__self__", None), InMailService)
    assert isinstance(info.value, ServiceError) is from_service
    return info.value, time.perf_counter() - start


def test_a_closed_port_fails_fast_at_open_and_at_send():
    url = "postgresql+psycopg://postgres@127.0.0.1:1/test"
    err, took = unavailable(Store, url)
    assert err.reason == "connection" and took < 2
    store = Store(url, migrate=False)  # opened lazily: the service starts, sends fail fast
    with InMailService(ig.default_policy(), store) as svc:
        err, took = unavailable(svc.send, msg())
        assert err.reason == "connection" and took < 2
    assert "postgres@" not in str(err) and "nothing was changed" in str(err)


@pytest.mark.slow
def test_a_server_that_never_answers_is_bounded_by_the_connect_timeout():
    silent = socket.socket()  # accepts TCP (backlog) but never speaks PostgreSQL
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
        err, took = unavailable(Store, url, settings=StoreSettings(connect_timeout=2))
        assert err.reason == "connection" and 1.5 < took < 5
    finally:
        silent.close()


def test_no_free_connection_fails_within_the_pool_timeout(store_url, open_service):
    svc = cast(open_service(store_url, pool_size=1, max_overflow=0, pool_timeout=0.3))
    with svc.store.read():  # the only pooled connection is busy
        if svc.store.is_sqlite:
            # SQLite sends run on the store's one writer connection, outside the pool: a
            # busy pool does not hold them up. Reads wait for the pool.
            assert svc.send(msg()).accepted
            err, took = unavailable(svc.credits, "alice")
        else:
            err, took = unavailable(svc.send, msg())
    assert err.reason == "pool_timeout" and took < 2
    assert svc.send(msg(subject="after")).accepted


def test_a_held_lock_fails_the_send_within_the_lock_timeout_and_changes_nothing(
        store_url, open_service, store):
    svc = cast(open_service(store_url, lock_timeout=0.4, sqlite_busy_timeout=0.4))
    assert svc.send(msg()).accepted  # creates alice's credit account row
    before = state(store)
    if store.is_sqlite:  # the one write lock, held by another connection
        other = sqlite3.connect(make_url(store_url).database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        release = other.close
    else:  # the sender's account row, locked by another transaction
        conn = store.db.connect()
        conn.begin()
        conn.exec_driver_sql("SELECT * FROM credit_accounts WHERE member_id = 'alice'"
                             " FOR UPDATE")
        release = conn.close
    try:
        err, took = unavailable(svc.send, msg(subject="while locked"))
    finally:
        release()
    assert err.reason == "lock_timeout" and 0.3 < took < 3
    assert state(store) == before
    assert svc.send(msg(subject="after")).accepted and svc.credits("alice").used == 2


@PG_ONLY
def test_a_slow_statement_is_cut_by_the_statement_timeout(store_url, open_service):
    svc = open_service(store_url, statement_timeout=0.3)
    start = time.perf_counter()
    with pytest.raises(StoreUnavailable) as info, svc.store.read() as conn:
        conn.exec_driver_sql("SELECT pg_sleep(5)")
    assert info.value.reason == "statement_timeout" and time.perf_counter() - start < 3


@PG_ONLY
def test_a_transaction_left_idle_is_ended_by_the_server(store_url, open_service):
    """A hung process cannot hold a sender's lock forever."""
    svc = open_service(store_url, idle_in_transaction_timeout=0.3)
    with pytest.raises(StoreUnavailable) as info, svc.store.write() as conn:
        conn.exec_driver_sql("SELECT 1")
        time.sleep(0.8)
        conn.exec_driver_sql("SELECT 1")
    assert info.value.reason == "connection"
    with svc.store.read() as conn:  # and the pool recovers
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


@PG_ONLY
def test_terminated_backends_are_replaced_on_the_next_request(store_url, open_service):
    url, app = with_app_name(store_url)
    svc = cast(open_service(url))
    assert svc.send(msg()).accepted
    assert terminate(store_url, app) >= 1  # every pooled connection of this service
    assert svc.send(msg(subject="after")).accepted  # pool_pre_ping reconnects
    assert svc.credits("alice").used == 2


@PG_ONLY
def test_killed_mid_send_leaves_nothing_then_recovers(store_url, open_service, store):
    url, app = with_app_name(store_url)
    svc = cast(open_service(url))
    assert svc.send(msg()).accepted
    before = state(store)
    svc.sends.before_commit = lambda: terminate(store_url, app)  # our own backend, before COMMIT
    err, _ = unavailable(svc.send, msg(subject="cut"))
    assert err.reason == "connection"
    del svc.sends.before_commit
    assert state(store) == before
    assert svc.send(msg(subject="after")).accepted and svc.credits("alice").used == 2


@PG_ONLY
def test_database_gone_then_back_fails_fast_and_recovers_by_itself(store_url, open_service,
                                                                   store):
    proxy = TcpProxy.for_url(store_url)
    proxy.start()
    try:
        svc = cast(open_service(proxy.url(store_url)))
        assert svc.send(msg()).accepted
        before = state(store)
        proxy.stop()  # live connections cut, new ones refused
        for subject in ("down 1", "down 2"):
            err, took = unavailable(svc.send, msg(subject=subject))
            assert err.reason == "connection" and took < 2
        unavailable(svc.credits, "alice")
        assert state(store) == before
        proxy.start()
        assert svc.send(msg(subject="back")).accepted
        assert svc.credits("alice").used == 2
    finally:
        proxy.stop()


def test_settings_come_from_the_environment():
    s = StoreSettings.from_env({"INMAIL_GUARD_DB_LOCK_TIMEOUT": "0.25",
                                "INMAIL_GUARD_DB_POOL_SIZE": "3"})
    assert (s.lock_timeout, s.pool_size, s.statement_timeout) == (0.25, 3, 30.0)
    with pytest.raises(ValueError, match="INMAIL_GUARD_DB_POOL_TIMEOUT must be a number"):
        StoreSettings.from_env({"INMAIL_GUARD_DB_POOL_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="store setting max_overflow must be >= 0"):
        StoreSettings(max_overflow=-1)


BOUNDED = ("Every wait on the database is bounded: for a long one give a large number,"
           " such as 3600")


@pytest.mark.parametrize("name", sorted(BOUNDS))
@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan")])
def test_no_timeout_can_be_switched_off(name: str, value: float) -> None:
    # 0 meant "no limit" to PostgreSQL and libpq but "do not wait" to the pool and SQLite.
    with pytest.raises(ValueError) as raised:
        StoreSettings(**{name: value})
    assert str(raised.value) == (f"store setting {name} must be more than 0 seconds;"
                                 f" found {value!r}. {BOUNDED}")
    variable = f"INMAIL_GUARD_DB_{name.upper()}"
    with pytest.raises(ValueError) as raised:
        StoreSettings.from_env({variable: str(value)})
    assert str(raised.value) == (f"{variable} must be a number of seconds (more than 0);"
                                 f" found {str(value)!r}. {BOUNDED}")


def test_only_the_checkpoint_interval_may_be_0_and_it_bounds_no_wait() -> None:
    assert StoreSettings(sqlite_checkpoint_interval=0).sqlite_checkpoint_interval == 0
    floats = {f.name for f in fields(StoreSettings) if f.type in ("float", float)}
    assert floats - BOUNDS == {"sqlite_checkpoint_interval"}


def test_a_timeout_under_a_millisecond_never_becomes_no_limit():
    # PostgreSQL reads lock_timeout = 0 as "wait forever"; 0.0004 s used to round to it.
    tiny = StoreSettings(lock_timeout=0.0004, statement_timeout=0.0001,
                         idle_in_transaction_timeout=0.0002)
    session = tiny.postgres_session()
    assert [session[k] for k in ("lock_timeout", "statement_timeout",
                                 "idle_in_transaction_session_timeout")] == ["1ms"] * 3
    assert StoreSettings(lock_timeout=0.25).postgres_session()["lock_timeout"] == "250ms"


@PG_ONLY
def test_every_postgres_connection_gets_the_timeouts_and_keeps_url_options(store_url):
    store = Store(store_url, settings=StoreSettings(lock_timeout=0.25, statement_timeout=7))
    try:
        with store.read() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "250ms"
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "7s"
            assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
            assert conn.exec_driver_sql("SHOW search_path").scalar().startswith("t_")
    finally:
        store.close()


@PG_ONLY
def test_every_connection_bounds_a_silent_network(store_url: str) -> None:
    # tcp_user_timeout and keepalives reach the socket (a partition that drops packets), and
    # each wait for an answer is watched (one that acknowledges and never answers).
    import os

    from inmail_guard.store.deadline import WATCHDOG

    s = Store(store_url, settings=StoreSettings(network_timeout=4, response_timeout=7))
    try:
        with s.read() as conn:
            raw = conn.connection.dbapi_connection
            sock = socket.socket(fileno=os.dup(raw.pgconn.socket))
            try:
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 4000
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 2
            finally:
                sock.close()
            assert type(raw).__name__ == "DeadlineConnection"
            armed = WATCHDOG.arm  # a statement arms the watchdog for response_timeout
            seen: list[float] = []
            WATCHDOG.arm = lambda fd, seconds: seen.append(seconds) or armed(fd, seconds)
            try:
                conn.exec_driver_sql("SELECT 1")
            finally:
                del WATCHDOG.arm
            assert seen == [7]
    finally:
        s.close()


@pytest.mark.slow
@PG_ONLY
def test_a_migration_may_wait_for_another_longer_than_a_request(store_url: str) -> None:
    # Instances starting together queue on the migration lock (up to 10 minutes), which the
    # client's response deadline must not cut short.
    from inmail_guard.store.migrations import _PG_LOCK_KEY

    Store(store_url).close()
    holder = create_engine(store_url)
    try:
        with holder.connect() as conn, conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            opened: list[Any] = []
            import threading

            opener = threading.Thread(target=lambda: opened.append(
                Store(store_url, settings=StoreSettings(response_timeout=0.5))))
            opener.start()
            time.sleep(1.5)  # three response deadlines
            assert opener.is_alive() and not opened
        opener.join(10)
        assert len(opened) == 1 and isinstance(opened[0], Store)
        opened[0].close()
    finally:
        holder.dispose()
