"""The threads an HTTP worker runs its blocking sends on: a few of its own, not the threadpool.

A send that cannot run on the event loop (every send on PostgreSQL; on SQLite one that would
wait for the write lock) used to go to Starlette's threadpool, which runs up to 40 at once. On
PostgreSQL that is 40 threads taking turns on one GIL for Python work of ~1 ms each, and more
of them than the connection pool holds, so they also queued in the pool: with 32 clients,
`POST /v1/inmails` on one worker served 550-590 requests/s at ~1,550 µs of server CPU each,
and two workers served *less* than one (309-416/s in one run, 712-895 in another;
``benchmarks/bench_http.py --database postgresql``, benchmarks/README.md). A send needs the
GIL for most of its time and waits for the database for the rest (two round trips and the
commit's flush), so a handful of threads hides those waits; more only add switching. On
:class:`SendThreads`' ``size`` threads (``INMAIL_GUARD_DB_SEND_THREADS``, default 4, at most
what the pool holds without overflowing), the same runs served 760-1,140/s with one worker, at
810-1,210 µs each.

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
