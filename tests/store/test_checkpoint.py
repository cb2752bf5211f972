"""SQLite WAL checkpoints run in a background thread, not inside a send's commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from inmail_guard.store import SQLITE_BACKSTOP_PAGES, Store, StoreSettings

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
