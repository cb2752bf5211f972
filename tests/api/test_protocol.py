"""``inmail_guard.api.protocol``: the request line and headers are bounded (431), where
uvicorn's httptools protocol held a 50 MB header in memory and served the request; and so is
the time a request takes to arrive (408), where a half-sent request held its connection."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from inmail_guard.api.protocol import MAX_HEAD_BYTES, BoundedHeadProtocol

calls: list[str] = []
READ_TIMEOUT = 0.5


class QuickProtocol(BoundedHeadProtocol):
    read_timeout = READ_TIMEOUT


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    calls.append(scope["path"])
    if scope["path"] == "/early":  # answers before reading the body, as a 401 does
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"no"})
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/slow":  # answering may take longer than the read timeout
        await asyncio.sleep(3 * READ_TIMEOUT)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=QuickProtocol, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def exchange(port: int, *chunks: bytes, pause: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            for chunk in chunks:
                s.sendall(chunk)
                time.sleep(pause)
        except OSError:  # refused mid-way: read what was answered
            pass
        out = b""
        while data := s.recv(65536):
            out += data
            if out.count(b"ok") >= 2 or b"headers_too_large" in out:
                break
        return out


def request(*headers: bytes) -> bytes:
    return b"GET /x HTTP/1.1\r\nHost: h\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def assert_431(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert json.loads(body) == {"error": {
        "code": "headers_too_large",
        "message": f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes"}}


def test_a_head_within_the_bound_is_served(port: int) -> None:
    calls.clear()
    big = b"X-Big: " + b"x" * (MAX_HEAD_BYTES - 220)
    assert exchange(port, request(big, b"Connection: close")).startswith(b"HTTP/1.1 200 ")
    assert calls == ["/x"]


@pytest.mark.parametrize("head", [
    request(b"X-Big: " + b"x" * (MAX_HEAD_BYTES + 1)),
    request(*(b"X-H%d: v" % i for i in range(MAX_HEAD_BYTES // 8))),
    b"GET /" + b"a" * (MAX_HEAD_BYTES + 1) + b" HTTP/1.1\r\nHost: h\r\n\r\n",
])
def test_a_head_over_the_bound_is_431_and_the_app_never_runs(port: int, head: bytes) -> None:
    calls.clear()
    assert_431(exchange(port, head))
    assert calls == []


def test_a_huge_header_is_refused_while_it_streams_in_not_after(port: int) -> None:
    calls.clear()
    start = b"GET /x HTTP/1.1\r\nHost: h\r\nX-Big: "
    answer = exchange(port, start, *[b"x" * 16384] * 8, pause=0.02)  # 128 KiB, no end
    assert_431(answer)
    assert calls == []


def test_keep_alive_requests_are_each_counted_on_their_own(port: int) -> None:
    calls.clear()
    one = request(b"X-Big: " + b"x" * (MAX_HEAD_BYTES // 2))
    answer = exchange(port, one + one)  # together over the bound, each within it
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert calls == ["/x", "/x"]


def assert_408(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert json.loads(body)["error"]["code"] == "request_timeout"


def slow_exchange(port: int, data: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        start = time.monotonic()
        if data:
            s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out, time.monotonic() - start


@pytest.mark.parametrize("data", [
    b"",                                                        # connects, sends nothing
    b"GET /x HTTP/1.1\r\nHost: h\r\n",                          # half a head
    b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{",  # part of the body
])
def test_a_request_that_does_not_arrive_whole_is_408_and_closed(port: int, data: bytes) -> None:
    calls.clear()
    answer, took = slow_exchange(port, data)
    assert_408(answer)
    assert READ_TIMEOUT - 0.1 <= took < READ_TIMEOUT + 2
    assert "/x" not in calls or data.startswith(b"POST")  # a POST's app was already waiting


def test_the_app_taking_long_to_answer_is_not_a_read_timeout(port: int) -> None:
    answer, took = slow_exchange(port, b"GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close"
                                       b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and took >= 3 * READ_TIMEOUT


def test_an_idle_keep_alive_connection_is_not_answered_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request())
        first = s.recv(65536)
        time.sleep(2 * READ_TIMEOUT)  # idle between requests: uvicorn's keep-alive (5 s)
        s.sendall(request())
        second = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")


def test_a_request_answered_before_its_body_arrived_gets_no_second_answer(port: int) -> None:
    answer, took = slow_exchange(port, b"POST /early HTTP/1.1\r\nHost: h\r\n"
                                       b"Content-Length: 100\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 401 ") and b"408" not in answer
    assert took < READ_TIMEOUT + 2  # still closed: the body never came
