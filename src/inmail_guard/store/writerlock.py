"""SQLite: hand the write lock from process to process promptly instead of by polling.

SQLite has one writer at a time, and a writer that finds the lock taken waits in SQLite's busy
handler, which sleeps 1, 2, 5 ... 100 ms between tries. A process whose threads queue on
:attr:`Store.write_lock <inmail_guard.store.Store.write_lock>` takes SQLite's lock again within
microseconds of releasing it, so a second process polling every 100 ms almost never finds it
free: with two HTTP workers, some sends waited 1.7-2.3 s (p99 1.7 s) while the other worker's
went through in 40 ms.

:class:`WriterFileLock` puts an advisory ``flock`` on a file next to the database
(``<database>-writer.lock``) around every write transaction of every inmail-guard process, so
writers meet there instead of in the busy handler:

* **uncontended** (one process): one non-blocking ``flock`` to take it and one to release it,
  about 2 µs;
* **contended**: a writer that finds the lock taken first leaves the holder a turn
  (:data:`TURN_SECONDS`), then queues: it holds a shared lock on ``<database>-writer.wait``
  and blocks in the kernel (on a helper thread), which wakes it the moment the lock is free.
  A holder that finds that file locked when it releases pauses for :data:`COURTESY_SECONDS`
  before it may take the lock again, so the waiter gets in. Processes take turns of a few
  milliseconds instead of one starving the other. (Polling instead of the helper thread cost
  ~40 µs of CPU per try on this machine's VM.)
* **bounded**: the caller waits at most the busy timeout, as SQLite's own wait does; an attempt
  it gave up on releases the lock as soon as it gets it. A holder that dies releases the lock
  with its file descriptors.

The lock is advisory: a process that writes without it (another program, an older release)
still meets this one in SQLite's busy handler, as before.
"""

from __future__ import annotations

import logging
import os
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: writers meet in SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

#: Whether this platform has ``flock`` (POSIX); without it no file lock is used.
AVAILABLE = fcntl is not None

log = logging.getLogger(__name__)

#: How long a writer that finds the lock taken leaves the holder before it queues: the
#: holder's turn. Turns rather than strict alternation: two processes swapping after every
#: transaction ran each one on cold caches (CPU per send doubled in bench_service's
#: two-process case).
TURN_SECONDS = 0.005
#: How long a writer that finds another process queued pauses after releasing the lock, so
#: the woken waiter gets it before this process takes it again.
COURTESY_SECONDS = 0.0005
#: How often :meth:`WriterFileLock.try_acquire` tries again while it spins.
SPIN_STEP = 0.00005


class WriterFileLock:
    """An inter-process writer lock for one SQLite database file (see the module docstring).

    Not reentrant and not for concurrent use by threads of one process: callers hold
    ``Store.write_lock`` around it, which serialises them.
    """

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writer.lock"
        self.wait_path = f"{database}-writer.wait"
        self._pid = -1
        self._fd = -1
        self._wait_fd = -1
        self._held = -1  # the descriptor holding the lock; -1: none (no lock file)
        self._warned = False

    def _files(self) -> tuple[int, int]:
        if self._pid != os.getpid():  # first use, or a forked child: descriptors of its own
            fd = _open(self.path)
            try:
                self._wait_fd = _open(self.wait_path)
            except OSError:
                os.close(fd)
                raise
            self._fd, self._pid = fd, os.getpid()
        return self._fd, self._wait_fd

    def try_acquire(self, spin: float = 0.0) -> bool:
        """Take the lock if it is free now, or comes free within ``spin`` seconds, tried every
        :data:`SPIN_STEP` (for an event loop, which may not block for long: another process
        holds the lock for one write, a few hundred microseconds)."""
        if self.acquire(0.0, wait=False):
            return True
        if spin <= 0 or self._held >= 0 or self._pid != os.getpid():
            return False
        deadline = time.monotonic() + spin
        while time.monotonic() < deadline:
            time.sleep(SPIN_STEP)
            if _try(self._fd):
                self._held = self._fd
                return True
        return False

    def acquire(self, timeout: float, *, wait: bool = True) -> bool:
        """Take the lock, waiting at most ``timeout`` seconds (< 0: no limit); False if it
        did not come."""
        try:
            fd, wait_fd = self._files()
        except OSError as exc:
            # No lock file (the database's folder is missing or read-only): go on without it,
            # and let SQLite say what is wrong with the database, as it did before.
            if not self._warned:
                log.warning("no SQLite writer lock file %s (%s); writers of several processes"
                            " meet in SQLite's busy handler", self.path, exc)
                self._warned = True
            self._held = -1
            return True
        if _try(fd):
            self._held = fd
            return True
        if not wait:
            return False
        # Taken by another process: leave it a turn first, unannounced (it keeps its caches
        # warm and runs without handing over), then queue for it.
        deadline = None if timeout < 0 else time.monotonic() + timeout
        time.sleep(TURN_SECONDS if deadline is None
                   else max(min(TURN_SECONDS, deadline - time.monotonic()), 0))
        if _try(fd):
            self._held = fd
            return True
        left = -1.0 if deadline is None else max(deadline - time.monotonic(), 0)
        fcntl.flock(wait_fd, fcntl.LOCK_SH)  # "a writer of another process is waiting"
        try:
            held = _Attempt(self.path).wait(left)
        finally:
            fcntl.flock(wait_fd, fcntl.LOCK_UN)
        if held is None:
            return False
        self._held = held
        return True

    def release(self) -> None:
        held, self._held = self._held, -1
        if held < 0:
            return  # taken without a lock file
        fcntl.flock(held, fcntl.LOCK_UN)
        if held != self._fd:
            os.close(held)  # the descriptor of a contended attempt
        try:  # is a writer of another process waiting? (it holds a shared lock on the file)
            fcntl.flock(self._wait_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            time.sleep(COURTESY_SECONDS)  # let it take the lock before this process does
        else:
            fcntl.flock(self._wait_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._pid == os.getpid():
            for fd in (self._fd, self._wait_fd):
                os.close(fd)
        self._pid = self._fd = self._wait_fd = -1


class _Attempt:
    """One contended acquisition: a helper thread blocks in ``flock`` on a descriptor of its
    own, so the kernel wakes it the moment the lock is free, while the caller's wait stays
    bounded. An attempt the caller gave up on releases the lock as soon as it gets it, and
    never touches a lock taken through another descriptor."""

    def __init__(self, path: str) -> None:
        self._fd = _open(path)
        self._got = threading.Lock()
        self._got.acquire()  # released by the helper once it holds the file lock
        self._mutex = threading.Lock()
        self._abandoned = False
        self._done = False

    def wait(self, timeout: float) -> int | None:
        threading.Thread(target=self._take, name="inmail-guard-writer-lock",
                         daemon=True).start()
        if self._got.acquire(timeout=timeout if timeout >= 0 else -1):
            return self._fd
        with self._mutex:
            if self._done:  # it came just as the wait ended
                return self._fd
            self._abandoned = True
        return None

    def _take(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        with self._mutex:
            if not self._abandoned:
                self._done = True
                self._got.release()
                return
        fcntl.flock(self._fd, fcntl.LOCK_UN)  # nobody waits for it any more
        os.close(self._fd)


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _open(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
