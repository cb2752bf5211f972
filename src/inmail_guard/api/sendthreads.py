"""The threads an HTTP worker runs its blocking sends on: a few of its own, not the threadpool.

A send that cannot run on the event loop (every send on PostgreSQL; on SQLite one that would
wait for the write lock) used to go to Starlette's threadpool, which runs up to 40 at once. On
PostgreSQL that is 40 threads taking turns on one GIL for ~1 ms of Python each, and more of
them than the connection pool holds (10), so they queued in the pool too. A send holds the GIL
for most of its time and waits for the database for the rest (its read, its write and the
commit's flush), so a handful of threads hides those waits; more only add switching. On
:class:`SendThreads`' ``size`` threads (``INMAIL_GUARD_DB_SEND_THREADS``, default 4) one
worker's ``POST /v1/inmails`` on PostgreSQL cost a median 1,029 µs of server CPU and 646 µs of
PostgreSQL CPU against 1,630 and 1,128 on the threadpool, and served a median 1.54x as many
requests (``bench_http.py --database postgresql``, five alternations; docs/deploy.md, "Sends
on their own threads").

The wait for a free thread is bounded like every wait on the database: a send that has not got
one within ``pool_timeout`` answers ``503 database_unavailable`` (``send_threads``) and runs
no code (nothing written, no credit spent), as it did when the pool had no connection for it.
A thread is counted busy until its send returns, even when the request waiting for it is
cancelled (a client gone), so at most ``size`` sends ever run at once. The caller's context
variables go with the send into the thread, as ``run_in_threadpool`` carried them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from inmail_guard.store.errors import StoreUnavailable

T = TypeVar("T")


class SendThreads:
    """At most ``size`` sends at once, each on one of ``size`` threads of this process; a send
    waits up to ``wait`` seconds for a free one (0: no limit), then fails with
    :class:`~inmail_guard.store.errors.StoreUnavailable` (``send_threads``)."""

    def __init__(self, size: int, wait: float) -> None:
        if size < 1:
            raise ValueError(f"send threads must be at least 1; found {size}")
        self.size = size
        self.wait = wait
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._free: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _start(self, loop: asyncio.AbstractEventLoop) -> tuple[ThreadPoolExecutor,
                                                                asyncio.Semaphore]:
        executor, free = self._executor, self._free
        if executor is not None and free is not None and self._loop is loop:
            return executor, free  # every send but the first: no lock
        with self._lock:
            if self._executor is None or self._loop is not loop:
                # A new loop (a test's app run twice) gets its own semaphore; the threads
                # carry over, they belong to no loop.
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.size,
                                                        thread_name_prefix="inmail-send")
                self._free = asyncio.Semaphore(self.size)
                self._loop = loop
            assert self._free is not None
            return self._executor, self._free

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a send thread, once one is free."""
        loop = asyncio.get_running_loop()
        executor, free = self._start(loop)
        if self.wait > 0 and free.locked():  # none free: wait, boundedly (a free one: no task)
            try:
                await asyncio.wait_for(free.acquire(), self.wait)
            except TimeoutError:
                raise StoreUnavailable("send_threads") from None
        else:
            await free.acquire()

        def release(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
                loop.call_soon_threadsafe(free.release)

        try:
            future = executor.submit(contextvars.copy_context().run, fn)
        except BaseException:
            free.release()
            raise
        # Released when the send itself ends, not when its awaiting request does.
        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Wait for the sends still running, then end the threads (the app's shutdown)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


__all__ = ["SendThreads"]
