"""SQLite: processes writing to one database meet on a file lock that wakes the waiter and
makes them take turns (store/writerlock.py), not in SQLite's polling busy handler."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from inmail_guard.store import Store, StoreSettings, StoreUnavailable, writerlock

from . import writers

CTX = multiprocessing.get_context("spawn")


def _members(store: Store) -> list[str]:
    with store.read() as conn:
        return conn.execute(text("SELECT id FROM members ORDER BY id")).scalars().all()


def _add_member(store: Store, member_id: str) -> None:
    with store.write() as conn:
        conn.execute(text(
            "INSERT INTO members (id, plan, profile_public, accepts_inmail, is_employee,"
            " created_at, updated_at) VALUES (:id, 'basic', 1, 1, 0, '2026-11-27 10:00:00',"
            " '2026-11-27 10:00:00')"), {"id": member_id})


def _holder(store: Store, seconds: float) -> Any:
    """Another process holding the store's writer lock file for ``seconds``; started."""
    assert store.file_lock is not None
    ready = CTX.Event()
    holder = CTX.Process(target=writers.hold_file_lock,
                         args=(store.file_lock.path, seconds, ready))
    holder.start()
    assert ready.wait(30)
    return holder


def _writes_at_once(store: Store, member_id: str) -> None:
    started = time.monotonic()
    _add_member(store, member_id)
    assert time.monotonic() - started < 1
    assert _members(store) == [member_id]


def test_the_lock_file_sits_next_to_the_database_and_one_process_takes_it_at_once(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "one.db")
    assert store.file_lock is not None
    assert store.file_lock.path == str(tmp_path / "one.db-writer.lock")
    with store.writer():  # nested in one thread: the file lock is taken once, kept for both
        with store.write() as conn:
            conn.execute(text("DELETE FROM members"))
        probe = os.open(store.file_lock.path, os.O_RDWR)
        try:
            assert not writerlock._try(probe)  # still held (another descriptor conflicts)
        finally:
            os.close(probe)
    assert Path(store.file_lock.path).exists()
    store.close()


@pytest.mark.slow
def test_a_write_waits_for_another_process_and_gives_up_after_the_busy_timeout(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "held.db", settings=StoreSettings(sqlite_busy_timeout=0.3))
    holder = _holder(store, 1.5)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            _add_member(store, "never")
        assert info.value.reason == "lock_timeout"
        assert 0.25 < time.monotonic() - started < 1.4
    finally:
        holder.join(30)
    # The attempt that gave up released the lock when it finally got it: writing works again.
    _writes_at_once(store, "later")
    store.close()


@pytest.mark.slow
def test_a_busy_process_does_not_starve_another(tmp_path: Path) -> None:
    """One process writes back to back (as a busy HTTP worker's threads do); the other
    process's writes each wait milliseconds (turns), not the seconds SQLite's busy handler
    left them waiting: without the file lock this failed 2 runs in 3 (a write waited 1.5-3.5
    s), with it the longest wait was 7-8 ms."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    store = Store(url)
    ready, counts = CTX.Event(), CTX.Queue()
    busy = CTX.Process(target=writers.busy_writer, args=(url, 1, 4.0, ready, counts))
    busy.start()
    try:
        assert ready.wait(60)
        waits = []
        for i in range(300):
            started = time.monotonic()
            _add_member(store, f"m{i:03d}")
            waits.append(time.monotonic() - started)
        other = counts.get(timeout=60)
    finally:
        busy.join(60)
    assert len(_members(store)) == 300
    assert other > 100  # the busy process kept writing meanwhile
    assert max(waits) < 0.5, sorted(waits)[-5:]
    store.close()


def test_the_turn_and_the_courtesy_pause_are_short() -> None:
    # The bounds the starvation test relies on; a longer turn is a longer worst-case wait.
    assert writerlock.TURN_SECONDS <= 0.01 and writerlock.COURTESY_SECONDS <= 0.001


def test_without_a_lock_file_writers_go_on_and_sqlite_reports_the_database(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lock = writerlock.WriterFileLock(str(tmp_path / "missing-dir" / "x.db"))
    with caplog.at_level("WARNING", logger="inmail_guard.store.writerlock"):
        assert lock.acquire(1.0)
        lock.release()
        assert lock.acquire(1.0)
        lock.release()
    (record,) = caplog.records  # said once, not per write
    assert record.getMessage().startswith(
        f"no SQLite writer lock file {tmp_path / 'missing-dir' / 'x.db'}-writer.lock")
    assert not (tmp_path / "missing-dir").exists()


def test_a_killed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    store = Store(tmp_path / "killed.db", settings=StoreSettings(sqlite_busy_timeout=5))
    holder = _holder(store, 60)
    holder.kill()  # SIGKILL while holding it: the kernel drops its locks with its descriptors
    holder.join(30)
    _writes_at_once(store, "after")
    store.close()
