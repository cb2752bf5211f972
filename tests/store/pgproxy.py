"""A TCP forwarder between the store and the real PostgreSQL server that a test can stop (the
database "goes away": live connections drop, new ones are refused) and start again on the same
port (the database "returns"), or blackhole (the database goes silent: nothing is refused or
closed, nothing is answered; data sent is acknowledged by this machine's TCP and dropped, so
only a client-side deadline notices) and restore. Real sockets and a real server, no mocks."""

from __future__ import annotations

import contextlib
import socket
import threading

from sqlalchemy.engine import make_url


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._silent = False

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        u = make_url(url)
        return cls((u.host or "127.0.0.1", u.port or 5432))

    def url(self, url: str) -> str:
        """``url`` (a PostgreSQL URL) going through this proxy."""
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False)

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def blackhole(self) -> None:
        """Go silent: open connections stay open but nothing more is forwarded either way, and
        new ones are accepted and never answered."""
        self._silent = True

    def restore(self) -> None:
        """Answer again. The connections that lived through the silence lost what was sent
        meanwhile, so they are cut (as a client's TCP would have given up on them); new ones
        are forwarded."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            self._silent = False
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._silent:
                with self._lock:
                    self._sockets.append(client)  # held open, never answered
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        _pump(src, dst, lambda: self._silent)


def _pump(src: socket.socket, dst: socket.socket, silent=lambda: False) -> None:
    try:
        while data := src.recv(65536):
            if not silent():
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
