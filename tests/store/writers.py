"""Processes for tests/store/test_writer_lock.py (spawned, so module-level functions)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from typing import Any

from sqlalchemy import text


def hold_file_lock(path: str, seconds: float, ready: Any) -> None:
    """Hold the writer lock file of a database the way a writing process does."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    ready.set()
    time.sleep(seconds)
    os.close(fd)  # closing releases it, as a process that dies does


def busy_writer(url: str, threads: int, seconds: float, ready: Any, counts: Any) -> None:
    """``threads`` threads writing back to back for ``seconds``, each transaction ~1 ms: the
    pattern of a busy HTTP worker, whose threads queue on Store.write_lock."""
    from inmail_guard.store import Store

    store = Store(url, migrate=False)
    done = [0]
    stop = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < stop:
            with store.write() as conn:
                conn.execute(text("UPDATE schema_version SET description = description"))
                time.sleep(0.001)
            done[0] += 1

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    with store.write():  # hold the lock until every thread is queued behind it
        for w in workers:
            w.start()
        time.sleep(0.05)
        ready.set()
    for w in workers:
        w.join()
    counts.put(done[0])
    store.close()
