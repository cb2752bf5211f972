"""The HTTP/1.1 protocol ``serve`` runs: uvicorn's httptools one with bounds on the request.

uvicorn's httptools protocol has no limit on the request line and headers (its h11 one has,
at the cost of speed): a client sending a 50 MB header had it all held in memory and the
request served. Here the request line and headers together may take :data:`MAX_HEAD_BYTES`;
past that the connection gets ``431 headers_too_large`` and is closed, before the app runs.
Bytes are counted as they arrive while the head is incomplete (httptools buffers a header
until its end, so a huge one is refused while it streams in), and exactly once it is complete.

Nor does it bound the time a request takes to arrive: a client that sends half a head, or
declares a body and sends part of it, held its connection (and the app waiting for the body)
forever. Here a request must arrive whole within :data:`READ_TIMEOUT` seconds of its first
byte (or of the connection, for one that sends nothing); otherwise ``408 request_timeout``
and the connection is closed. The time the app then takes to answer is not counted.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: The request target plus every header line, in bytes.
MAX_HEAD_BYTES = 65536
#: Seconds a request (its head and body) may take to arrive.
READ_TIMEOUT = 30.0


def _closing_answer(status: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer with the API's error body, closing the connection."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


RESPONSE = _closing_answer(
    "431 Request Header Fields Too Large", "headers_too_large",
    f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes")
TIMEOUT_RESPONSE = _closing_answer(
    "408 Request Timeout", "request_timeout",
    f"the request did not arrive whole within {READ_TIMEOUT:g} s")


class BoundedHeadProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that answers 431 to a head over :data:`MAX_HEAD_BYTES`."""

    _in_head = True
    _head_bytes = 0
    _too_large = False
    _read_timer: asyncio.TimerHandle | None = None
    read_timeout = READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()  # still no end of the head, and over the bound

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes = True, 0
        self._start_read_timer()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        # As sent: "name: value\r\n" per header (llhttp strips what surrounds a value).
        if (self._too_large or len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
                > MAX_HEAD_BYTES):
            self._refuse()
            return
        super().on_headers_complete()

    # What the parser reports after a refused head belongs to no request.
    def on_body(self, body: bytes) -> None:
        if not self._too_large:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_read_timer()
        if not self._too_large:
            super().on_message_complete()

    def _start_read_timer(self) -> None:
        self._stop_read_timer()
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        # A head not yet whole has no answer yet; nor has a body whose request was not
        # answered. A request answered before its body arrived (a 401 is) gets no second one.
        if self._in_head or self.cycle is None or not self.cycle.response_started:
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()

    def _refuse(self) -> None:
        self._too_large = True
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)
            self.transport.close()
