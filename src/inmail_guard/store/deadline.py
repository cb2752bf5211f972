"""A client-side deadline on every answer from PostgreSQL, whatever the network does.

The server's own timeouts (``statement_timeout``, ``lock_timeout``) cannot help when the server
is unreachable, and ``tcp_user_timeout`` only when packets are dropped while the client has
data in flight. A peer that acknowledges but never answers (a frozen server, a proxy or NAT
that stopped forwarding, a half-dead load balancer) would keep a request waiting forever.

So each psycopg connection is a :class:`DeadlineConnection`: every wait for the server (one
statement's round trip, a commit, the pool's ping) is registered with a per-process
:class:`Watchdog` thread; one that runs past ``response_timeout`` has its socket shut down,
which ends the wait at once with an ``OperationalError`` ("no answer from the database within
N s"). The pool discards the broken connection, and the request fails as
``database_unavailable``. Registering costs a heap push and a dict delete under a lock.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


class Watchdog:
    """Shuts down the socket of a wait that outlives its deadline.

    Every statement arms and disarms it (two per send), so both are kept cheap: one plain
    lock, no ``getpid`` system call (a fork is seen through ``os.register_at_fork``), the
    ended waits dropped from the heap as new ones come (it holds the waits in flight, not
    every wait of the last ``response_timeout``), and the thread woken only when a new
    deadline comes before the one it sleeps until (with one timeout, never: deadlines only
    grow)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, int]] = []
        self._armed: set[int] = set()
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._generation = -1  # the process generation this state belongs to (forks)
        self._wakes_at = math.inf  # when the thread wakes up next (inf: when notified)

    def arm(self, fd: int, seconds: float) -> int:
        token = next(self._ids)
        deadline = time.monotonic() + seconds
        with self._lock:
            if self._generation != _generation[0]:  # first use, or a forked child
                self._generation = _generation[0]
                self._heap, self._armed, self._fired = [], set(), set()
                self._wakes_at = math.inf
                threading.Thread(target=self._run, name="db-deadline", daemon=True).start()
            heap, armed = self._heap, self._armed
            while heap and heap[0][1] not in armed:  # waits that ended: forget them now
                heapq.heappop(heap)
            heapq.heappush(heap, (deadline, token, fd))
            armed.add(token)
            if deadline < self._wakes_at:
                self._wakes_at = deadline
                self._cond.notify()
        return token

    def disarm(self, token: int) -> bool:
        """Forget ``token``; True if its deadline had passed (its socket was shut down)."""
        with self._lock:
            self._armed.discard(token)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wakes_at = math.inf
                    self._cond.wait()
                    continue
                deadline, token, fd = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._wakes_at = deadline
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
                self._armed.discard(token)
                self._fired.add(token)
                _shut_down(fd)  # under the lock: the wait cannot have ended and its fd moved on


#: Bumped in a forked child (the parent's watchdog thread does not run there).
_generation = [0]


def _forked() -> None:
    _generation[0] += 1


os.register_at_fork(after_in_child=_forked)


def _shut_down(fd: int) -> None:
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


WATCHDOG = Watchdog()

_LONGER: contextvars.ContextVar[float] = contextvars.ContextVar("inmail_guard_db_wait", default=0)


@contextlib.contextmanager
def waits_up_to(seconds: float) -> Iterator[None]:
    """Let this thread's waits for the server last up to ``seconds`` (if that is longer than
    ``response_timeout``): for the rare wait that is long on purpose, such as a migration
    queueing behind another instance's (``store/migrations.py``)."""
    token = _LONGER.set(seconds)
    try:
        yield
    finally:
        _LONGER.reset(token)


def connection_class(response_timeout: float) -> Any:
    """A ``psycopg.Connection`` whose every wait for the server ends within
    ``response_timeout`` seconds (0: no limit, plain psycopg)."""
    import psycopg

    if not response_timeout:
        return psycopg.Connection

    class DeadlineConnection(psycopg.Connection):  # type: ignore[type-arg]
        def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                fd = self.pgconn.socket
            except psycopg.OperationalError:
                return super().wait(gen, *args, **kwargs)
            token = WATCHDOG.arm(fd, max(response_timeout, _LONGER.get()))
            try:
                return super().wait(gen, *args, **kwargs)
            except psycopg.OperationalError as exc:
                if WATCHDOG.disarm(token):
                    raise psycopg.OperationalError(
                        "no answer from the database within"
                        f" {max(response_timeout, _LONGER.get()):g} s"
                        " (response_timeout); connection closed") from exc
                raise
            finally:
                WATCHDOG.disarm(token)

    return DeadlineConnection
