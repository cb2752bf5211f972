"""The send threads of an HTTP worker (api/sendthreads.py): at most ``size`` sends at once, a
bounded wait for a free thread, and a send that never got one runs nothing."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from inmail_guard.api import Settings, create_app
from inmail_guard.api.sendthreads import SendThreads
from inmail_guard.store import StoreSettings
from inmail_guard.store import tables as t
from inmail_guard.store.errors import StoreUnavailable
from thread_helpers import held_by_another_thread

from .conftest import KEYS_ENV, SVC

T = TypeVar("T")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` on a thread of its own: the browser tests' Playwright keeps an
    event loop running on the main thread for the whole session, where asyncio.run refuses."""
    out: list[T] = []
    failed: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(main()))
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the event loop did not finish within 30 s"
    if failed:
        raise failed[0]
    return out[0]


BUSY = ("the database is unavailable (send_threads: every send thread of this process stayed"
        " busy for the pool timeout); nothing was changed; retry later")


def test_at_most_size_sends_run_at_once_and_each_gets_its_result() -> None:
    threads = SendThreads(2, wait=10)
    lock, running, most = threading.Lock(), [0], [0]
    go = threading.Event()

    def send(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        go.wait(10)
        with lock:
            running[0] -= 1
        return i * 10

    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(threads.run(lambda i=i: send(i))) for i in range(6)]
        await asyncio.sleep(0.2)
        assert running[0] == 2  # two running, four waiting for a thread
        go.set()
        return await asyncio.gather(*tasks)

    try:
        assert run(main) == [0, 10, 20, 30, 40, 50]
        assert most[0] == 2
    finally:
        threads.close()


def test_a_send_that_gets_no_thread_in_time_fails_having_run_nothing() -> None:
    threads = SendThreads(1, wait=0.2)
    release, ran = threading.Event(), []

    async def main() -> None:
        first = asyncio.ensure_future(threads.run(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await threads.run(lambda: ran.append("second"))
        assert 0.15 < time.monotonic() - started < 2
        assert caught.value.reason == "send_threads"
        assert caught.value.message == BUSY
        assert (caught.value.code, caught.value.status) == ("database_unavailable", 503)
        release.set()
        assert await first is True
        assert await threads.run(lambda: "third") == "third"  # the thread is free again

    try:
        run(main)
        assert ran == []  # the send that got no thread never ran
    finally:
        threads.close()


def test_a_cancelled_request_keeps_its_thread_counted_until_its_send_ends() -> None:
    threads = SendThreads(1, wait=0.2)
    release, done = threading.Event(), threading.Event()

    def slow() -> None:
        release.wait(10)
        done.set()

    async def main() -> None:
        first = asyncio.ensure_future(threads.run(slow))
        await asyncio.sleep(0.05)
        first.cancel()  # the client went away; its send still runs on the thread
        with pytest.raises(asyncio.CancelledError):
            await first
        with pytest.raises(StoreUnavailable):  # so no second send starts beside it
            await threads.run(lambda: None)
        release.set()
        await asyncio.sleep(0.05)
        assert done.is_set()
        assert await threads.run(lambda: "next") == "next"

    try:
        run(main)
    finally:
        threads.close()


def test_the_callers_context_variables_go_with_the_send() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    threads = SendThreads(1, wait=1)

    async def main() -> str:
        var.set("request-7")
        return await threads.run(var.get)

    try:
        assert run(main) == "request-7"
    finally:
        threads.close()


def test_close_waits_for_the_sends_still_running() -> None:
    threads = SendThreads(1, wait=1)
    finished = threading.Event()

    def send() -> None:
        time.sleep(0.2)
        finished.set()

    async def main() -> None:
        task = asyncio.ensure_future(threads.run(send))
        await asyncio.sleep(0.05)
        threads.close()  # what the app's shutdown does before closing its store
        assert finished.is_set()
        await task

    run(main)


def test_send_threads_below_one_is_refused_with_the_variable_named() -> None:
    with pytest.raises(ValueError) as caught:
        StoreSettings.from_env({"INMAIL_GUARD_DB_SEND_THREADS": "0"})
    assert str(caught.value) == ("INMAIL_GUARD_DB_SEND_THREADS must be a number of threads"
                                 " (at least 1); found '0'")
    assert StoreSettings.from_env({"INMAIL_GUARD_DB_SEND_THREADS": "2"}).send_threads == 2
    with pytest.raises(ValueError, match="send threads must be at least 1; found 0"):
        SendThreads(0, wait=1)


def _send(client: TestClient, sender: str, out: dict[str, object]) -> None:
    body = {"message": {"sender_id": sender, "recipient_id": "bob", "subject": "Hello",
                        "body": "Hi Bob, would you be open to a short chat next week?"}}
    response = client.post("/v1/inmails", json=body, headers=SVC)
    out[sender] = (response.status_code, response.json())


def test_over_http_a_send_with_no_free_thread_answers_503_and_spends_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite with its write lock held elsewhere: the first send waits for it on the one send
    thread; the second finds no thread within the pool timeout and answers 503, and neither
    its credit nor its InMail exists after the first one went through."""
    monkeypatch.setenv("INMAIL_GUARD_DB_SEND_THREADS", "1")
    monkeypatch.setenv("INMAIL_GUARD_DB_POOL_TIMEOUT", "0.3")
    with TestClient(create_app(Settings(keys_env=KEYS_ENV, db=str(tmp_path / "api.db"))),
                    raise_server_exceptions=False) as client:
        for member, plan in (("alice", "premium_business"), ("carol", "premium_business"),
                             ("bob", "basic")):
            assert client.put(f"/v1/members/{member}", headers=SVC, json={
                "plan": plan, "profile_public": True, "accepts_inmail": True,
                "is_employee": False, "name": None, "photo_url": None, "headline": None,
                "company": None, "role": None}).status_code in (200, 201)
        slot = client.app.state.services  # type: ignore[attr-defined]
        service = slot.get()
        out: dict[str, object] = {}
        with held_by_another_thread(service.store.writer):
            first = threading.Thread(target=_send, args=(client, "alice", out))
            first.start()
            deadline = time.monotonic() + 5
            while not (slot._send_threads and slot._send_threads._free
                       and slot._send_threads._free.locked()):
                assert time.monotonic() < deadline, "the first send never took the thread"
                time.sleep(0.01)
            _send(client, "carol", out)
        first.join(10)
        status, body = out["carol"]  # type: ignore[misc]
        assert status == 503
        assert body == {"error": {"code": "database_unavailable", "message": BUSY}}
        assert out["alice"][0] == 201  # type: ignore[index]
        assert service.credits("carol").used == 0 and service.credits("alice").used == 1
        with service.store.read() as conn:
            senders = [r[0] for r in conn.execute(t.inmails.select().with_only_columns(
                t.inmails.c.sender_id))]
        assert senders == ["alice"]


def test_the_send_threads_are_made_without_waiting_for_a_service_build(tmp_path: Path) -> None:
    """The first blocking send makes them on the event loop: a build of the service holding
    its lock (connecting to a database that does not answer) must not hold up the loop."""
    app = create_app(Settings(keys_env=KEYS_ENV, db=str(tmp_path / "api.db")))
    slot = app.state.services
    made: list[SendThreads] = []
    with held_by_another_thread(lambda: slot._lock):  # a build in progress
        maker = threading.Thread(target=lambda: made.append(slot.send_threads()))
        maker.start()
        maker.join(2)
        assert not maker.is_alive(), "send_threads() waited for the service's build"
    assert made[0].size == StoreSettings().send_threads == 4
    slot.close()
