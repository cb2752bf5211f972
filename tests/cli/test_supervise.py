"""The supervisor of ``serve --workers N`` answers 503 itself, at once, while no worker can
serve (none ready, all dead, or it is shutting down), and leaves the socket to the workers
otherwise. End to end with killed workers: ``tests/api/test_serve.py``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inmail_guard.api.workers import WorkerRegistry
from inmail_guard.cli.supervise import NoWorkerResponder


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


def request(port: int, timeout: float) -> tuple[bytes, float]:
    """The raw answer to a GET (b"" when none came within ``timeout``) and how long it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(b"GET /v1/policy HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer, time.monotonic() - started


def test_with_no_ready_worker_every_connection_gets_503_at_once(listening, tmp_path: Path):
    responder = NoWorkerResponder(listening, WorkerRegistry(tmp_path)).start()
    try:
        for _ in range(3):
            answer, took = request(listening.getsockname()[1], timeout=5)
            head, body = answer.split(b"\r\n\r\n")
            assert head.split(b"\r\n")[0] == b"HTTP/1.1 503 Service Unavailable"
            assert b"retry-after: 1" in head and b"connection: close" in head
            assert json.loads(body) == {"error": {
                "code": "server_unavailable",
                "message": "no worker process can serve requests right now; retry shortly"}}
            assert took < 1.0
    finally:
        responder.stop()
    assert responder.answered == 3


def test_a_ready_live_worker_keeps_the_connections(listening, tmp_path: Path):
    registry = WorkerRegistry(tmp_path)
    registry.mark_ready(os.getpid())  # this process stands for a worker that is up
    responder = NoWorkerResponder(listening, registry).start()
    try:
        answer, _ = request(listening.getsockname()[1], timeout=0.5)
    finally:
        responder.stop()
    assert (answer, responder.answered) == (b"", 0)  # left in the backlog for the worker


def test_a_worker_killed_outright_no_longer_counts(listening, tmp_path: Path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    registry = WorkerRegistry(tmp_path)
    registry.mark_ready(child.pid)  # it never removes its file: it is killed
    assert registry.serving() == [child.pid]
    os.kill(child.pid, signal.SIGKILL)
    time.sleep(0.2)  # dead but not reaped yet: a zombie, which os.kill(pid, 0) still finds
    assert registry.serving() == []
    responder = NoWorkerResponder(listening, registry).start()
    try:
        answer, took = request(listening.getsockname()[1], timeout=5)
    finally:
        responder.stop()
        child.wait()
    assert answer.startswith(b"HTTP/1.1 503 ") and took < 1.0


def test_a_supervisor_shutting_down_answers_503_even_with_workers(listening, tmp_path: Path):
    registry = WorkerRegistry(tmp_path)
    registry.mark_ready(os.getpid())
    responder = NoWorkerResponder(listening, registry, exiting=lambda: True).start()
    try:
        answer, _ = request(listening.getsockname()[1], timeout=5)
    finally:
        responder.stop()
    assert answer.startswith(b"HTTP/1.1 503 ")
    registry.mark_gone(os.getpid())
    assert registry.serving() == []
