"""SQLite: WAL checkpoints run in a background thread, not inside a send's commit; writers of
one process queue on a lock instead of in SQLite's busy handler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from inmail_guard.store import SQLITE_BACKSTOP_PAGES, Store, StoreSettings, StoreUnavailable
from inmail_guard.store import tables as t
from thread_helpers import held_by_another_thread

#: The members columns these raw rows leave empty (schema version 4).
NO_PROFILE = {"headline": None, "company": None, "role": None}

THREAD = "inmail-guard-wal-checkpoint"


def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def _checkpointers() -> int:
    return sum(t.name == THREAD for t in threading.enumerate())


def _pages_in_file(path: Path) -> int:
    return path.stat().st_size // 4096


def test_background_thread_moves_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "bg.db"
    before = _checkpointers()
    store = Store(path, settings=StoreSettings(sqlite_checkpoint_interval=0.02))
    try:
        assert _checkpointers() == before + 1
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == (
                SQLITE_BACKSTOP_PAGES)
        # The migrations wrote the schema to the WAL; the thread copies it into the file.
        assert _eventually(lambda: _pages_in_file(path) >= 10), _pages_in_file(path)
        with store.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM members")).scalar() == 0
    finally:
        store.close()
    assert _checkpointers() == before  # close() stops and joins it


def test_interval_zero_leaves_checkpoints_to_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "fg.db"
    before = _checkpointers()
    store = Store(path, settings=StoreSettings(sqlite_checkpoint_interval=0))
    try:
        assert _checkpointers() == before
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        time.sleep(0.2)
        # Nothing crossed SQLite's 1,000-page autocheckpoint: the schema is still in the WAL.
        assert _pages_in_file(path) < 10
    finally:
        store.close()


def test_interval_comes_from_the_environment() -> None:
    env = {"INMAIL_GUARD_DB_SQLITE_CHECKPOINT_INTERVAL": "0"}
    assert StoreSettings.from_env(env).sqlite_checkpoint_interval == 0
    assert StoreSettings.from_env({}).sqlite_checkpoint_interval == 0.25


@contextmanager
def _write_one_member(store: Store) -> Iterator[None]:
    with store.write() as conn:
        now = datetime.now(UTC)
        conn.execute(t.members.insert(), {
            "id": "m1", "plan": "basic", "profile_public": True, "accepts_inmail": True,
            "is_employee": False, "name": None, "photo_url": None, **NO_PROFILE, "created_at": now,
            "updated_at": now})
        yield


def test_threads_queue_on_the_write_lock_and_it_is_bounded(tmp_path: Path) -> None:
    """Writers of one process wait on Store.write_lock, not in SQLite's sleeping busy handler;
    the wait is bounded by sqlite_busy_timeout and ends as lock_timeout, writing nothing."""
    store = Store(tmp_path / "lock.db", settings=StoreSettings(sqlite_busy_timeout=0.2))
    assert store.write_lock is not None
    with held_by_another_thread(lambda: _write_one_member(store)):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info, store.write() as conn:
            conn.execute(text("DELETE FROM members"))
        assert info.value.reason == "lock_timeout"
        assert 0.15 < time.monotonic() - started < 2
    with store.read() as conn:
        assert conn.execute(text("SELECT id FROM members")).scalars().all() == ["m1"]
    store.close()


def test_writes_wait_for_the_process_lock_even_when_sqlite_is_free(tmp_path: Path) -> None:
    from inmail_guard.store.db import raw_write

    store = Store(tmp_path / "lock2.db", settings=StoreSettings(sqlite_busy_timeout=0.1))
    lock = store.write_lock
    assert lock is not None
    # No SQLite transaction in the other thread: only the process lock is held.
    with held_by_another_thread(lambda: lock):
        for write in (store.write, lambda: raw_write(store)):
            with pytest.raises(StoreUnavailable) as info, write():
                pass
            assert info.value.reason == "lock_timeout"
    with store.write() as conn:  # free again
        conn.execute(text("DELETE FROM members"))
    store.close()


def test_checkpoint_thread_never_creates_a_removed_file(tmp_path: Path) -> None:
    from inmail_guard.store import _Checkpointer

    gone = tmp_path / "removed.db"
    thread = _Checkpointer(str(gone), 0.01)
    thread.start()
    thread._thread.join(5)
    assert not thread._thread.is_alive()  # it ended on its own
    assert not gone.exists()
