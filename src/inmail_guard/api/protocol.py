"""The HTTP/1.1 protocol ``serve`` runs: uvicorn's httptools one with a bound on the head.

uvicorn's httptools protocol has no limit on the request line and headers (its h11 one has,
at the cost of speed): a client sending a 50 MB header had it all held in memory and the
request served. Here the request line and headers together may take :data:`MAX_HEAD_BYTES`;
past that the connection gets ``431 headers_too_large`` and is closed, before the app runs.

Bytes are counted as they arrive while the head is incomplete (httptools buffers a header
until its end, so a huge one is refused while it streams in), and exactly once it is complete.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: The request target plus every header line, in bytes.
MAX_HEAD_BYTES = 65536

_BODY = json.dumps({"error": {
    "code": "headers_too_large",
    "message": f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes"}}).encode()
RESPONSE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            + f"content-length: {len(_BODY)}\r\n\r\n".encode() + _BODY)


class BoundedHeadProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that answers 431 to a head over :data:`MAX_HEAD_BYTES`."""

    _in_head = True
    _head_bytes = 0
    _too_large = False

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()  # still no end of the head, and over the bound

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes = True, 0
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
        if not self._too_large:
            super().on_message_complete()

    def _refuse(self) -> None:
        self._too_large = True
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)
            self.transport.close()
