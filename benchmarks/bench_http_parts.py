"""Where a ``POST /v1/inmails`` spends its CPU, in process: the ASGI app driven directly (no
socket, no uvicorn), against ``InMailService.send_nowait`` alone on the same database.

    .venv/bin/python benchmarks/bench_http_parts.py [--sends 4000]
    PYTHONPATH=/tmp/base/src .venv/bin/python benchmarks/bench_http_parts.py   # another tree

The app is ``create_app`` as ``serve`` builds it (access log off, ``gc.freeze()`` after the
warm-up), on a SQLite file seeded as ``bench_http.py`` seeds it. Sends alternate: even ones go
through the whole app (middleware, auth, body parsing and validation, the send, the response),
odd ones call the service directly with an already validated message, so both halves see the
same database and the same sender histories. Their difference is the HTTP layer's CPU per
send; what the server adds on top (uvicorn's protocol, the socket, the event loop) is
``bench_http.py``'s server CPU µs/req minus the ASGI figure here. Thread CPU time, so the
figures hardly move with the machine's load (the cache effects of a loaded machine remain).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_http
from _harness import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=4000, help="sends measured (half each)")
    parser.add_argument("--senders", type=int, default=bench_http.SENDERS)
    parser.add_argument("--no-healthz", action="store_true",
                        help="skip the GET /healthz yardstick (e.g. under a sampling profiler,"
                             " so every routing frame it records belongs to a send)")
    args = parser.parse_args()

    from pydantic import TypeAdapter

    import inmail_guard
    from inmail_guard.api.models import SendRequest
    from inmail_guard.api.responses import loads

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "parts.db"
        app = bench_http.seeded_app(db, args.senders)
        service = app.state.services.get()
        warm = 200
        bodies = [bench_http.send_body(i, args.senders).encode()
                  for i in range(args.sends + warm)]
        adapter = TypeAdapter(SendRequest)
        statuses: dict[int, int] = {}
        auth = (b"authorization", f"Bearer {bench_http.KEY}".encode())

        async def call(method: str, path: str, body: bytes) -> None:
            headers = [(b"host", b"127.0.0.1"), auth]
            if body:
                headers += [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]
            scope: dict[str, Any] = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                "query_string": b"", "root_path": "", "headers": headers,
                "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()  # a disconnect never comes
                return {}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses[message["status"]] = statuses.get(message["status"], 0) + 1

            await app(scope, receive, send)

        async def run() -> dict[str, float]:
            for body in bodies[:warm]:
                await call("POST", "/v1/inmails", body)
            for _ in range(0 if args.no_healthz else warm):
                await call("GET", "/healthz", b"")
            gc.collect()
            gc.freeze()  # as serve does after start-up
            clock = time.thread_time_ns
            start = clock()
            for _ in range(0 if args.no_healthz else args.sends // 2):
                await call("GET", "/healthz", b"")
            healthz = clock() - start
            via_app = direct = 0
            for i, body in enumerate(bodies[warm:]):
                if i % 2:
                    message = adapter.validate_python(loads(body)).message
                    start = clock()
                    result = service.send_nowait(message)
                    direct += clock() - start
                    assert result is not None and result.accepted, "a direct send failed"
                else:
                    start = clock()
                    await call("POST", "/v1/inmails", body)
                    via_app += clock() - start
            half = args.sends // 2 * 1000
            return {"healthz": healthz / half, "app": via_app / half, "service": direct / half}

        r = asyncio.run(run())
        service.close()
    tree = inmail_guard.__file__.rsplit("/src/", 1)[0]
    print(f"{tree}: CPU µs per request, in process ({args.sends:,} sends, half each way;"
          f" {args.senders:,} senders; statuses {statuses})")
    print(f"  GET /healthz through the app        {r['healthz']:7.0f}")
    print(f"  POST /v1/inmails through the app    {r['app']:7.0f}")
    print(f"  InMailService.send_nowait alone     {r['service']:7.0f}")
    print(f"  the HTTP layer (the difference)     {r['app'] - r['service']:7.0f}")
    print(f"load average {os.getloadavg()[0]:.2f}; {machine()}")


if __name__ == "__main__":
    main()
