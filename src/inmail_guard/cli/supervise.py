"""``serve --workers N``: uvicorn's supervisor, plus an answer when no worker can serve.

The supervisor process holds the listening socket its workers share. When every worker is dead
(killed, crashed, or restarting and still loading the policy and model), the kernel still
completes connections into the socket's backlog and nobody answers them: clients hang until
their own timeout. So while no worker is ready (:class:`~inmail_guard.api.workers.
WorkerRegistry`) or the supervisor is shutting down, the supervisor itself accepts and answers
each connection at once with 503 ``server_unavailable`` and ``Retry-After: 1``. As soon as a
worker is ready it stops, within :data:`POLL` seconds, and the workers accept again.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

from inmail_guard.api.workers import WorkerRegistry

#: How often the supervisor looks at its workers (and waits for a connection) while none serves.
POLL = 0.1
_BODY = json.dumps({"error": {
    "code": "server_unavailable",
    "message": "no worker process can serve requests right now; retry shortly"}}).encode()
RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            b"retry-after: 1\r\nconnection: close\r\n"
            + f"content-length: {len(_BODY)}\r\n\r\n".encode() + _BODY)


def _answer(conn: socket.socket) -> None:
    """Read the request head (so closing does not reset it), answer 503, close."""
    try:
        conn.settimeout(1.0)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
        conn.sendall(RESPONSE)
        conn.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            conn.settimeout(0.2)
            while conn.recv(65536):  # drain what is left, up to the timeout
                pass
    except OSError:
        pass
    finally:
        conn.close()


class NoWorkerResponder:
    """A thread answering 503 on ``sock`` while ``registry`` lists no live ready worker or
    ``exiting()`` says the supervisor is stopping."""

    def __init__(self, sock: socket.socket, registry: WorkerRegistry,
                 exiting: Callable[[], bool] = lambda: False) -> None:
        self.sock = sock
        self.registry = registry
        self.exiting = exiting
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="no-worker-503", daemon=True)

    def start(self) -> NoWorkerResponder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.registry.serving() and not self.exiting():
                self._stop.wait(POLL)
                continue
            try:
                readable, _, _ = select.select([self.sock], [], [], POLL)
            except (OSError, ValueError):  # the socket was closed: the supervisor is done
                return
            if not readable:
                continue
            try:
                # Shared with the workers, whose event loops made it non-blocking: a worker
                # that just became ready may take the connection first.
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                if self.sock.fileno() == -1:
                    return  # closed: the supervisor is done
                self._stop.wait(POLL)  # e.g. out of file descriptors: try again
                continue
            self.answered += 1
            threading.Thread(target=_answer, args=(conn,), daemon=True).start()


def run_workers(config: Any, registry: WorkerRegistry) -> None:
    """What ``uvicorn.run(..., workers=N)`` does, with a :class:`NoWorkerResponder` on the
    socket for as long as the supervisor runs."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    sock.listen(config.backlog)  # now, not when the first worker is up: answered from the start
    sock.setblocking(False)  # as the workers' event loops set it anyway: accept never blocks
    extra = {}
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.4x
        extra["target"] = uvicorn.Server(config=config).run
    supervisor = Multiprocess(config, sockets=[sock], **extra)
    responder = NoWorkerResponder(sock, registry, supervisor.should_exit.is_set).start()
    try:
        supervisor.run()
    except KeyboardInterrupt:
        pass
    finally:
        responder.stop()
        sock.close()
