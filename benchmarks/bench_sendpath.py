"""The send path before and after store/sendpath.py, back to back in one process: what a send
costs by the measures a loaded machine moves least.

Run: ``.venv/bin/python benchmarks/bench_sendpath.py [--sends N] [--rounds R]``; prints a
markdown table. Alternates the two paths of ``InMailService.sends`` (``read_then_write`` False: the
sender's lock first, then read, decide and write under it; True: read, decide, then write if
the read still holds) for ``--rounds`` rounds of ``--sends`` accepted sends each (the
``bench_service.py`` workload, the shipped policy), on SQLite and on PostgreSQL
(``INMAIL_GUARD_TEST_PG_URL``, a scratch schema dropped afterwards), and reports per send:

* wall time (p50, p99) and sends/s: what the machine gave, noisy when it is shared;
* client CPU µs (this process's user+system time);
* PostgreSQL: the backends' CPU µs (their ``/proc/<pid>/stat``: every connection the service
  opens after its start, whichever serves a send) and **round trips**: each path once more
  through a local proxy that holds every answer of the server back by ``--probe-delay``
  (5 ms): the extra median latency over that delay is the number of times a send waits for
  the server, a count no neighbour changes;
* SQLite: how long the write lock was held per send (``Store.writer``), the critical section
  every other process's writes queue behind.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from typing import Any

from _harness import machine
from bench_pg import _cpu_seconds, _pg_schema
from bench_service import PER_SENDER, _message, _pg_url, setup
from sqlalchemy import event


class Counters:
    def __init__(self) -> None:
        self.lock_ns = 0


class DelayProxy:
    """A TCP forwarder to PostgreSQL that delivers each chunk of the server's answers
    ``delay`` seconds after it arrived (chunks keep their order; delays do not add up)."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        import socket
        import threading

        self.upstream, self.delay = upstream, delay
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, server, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.delay),
                             daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any, delay: float) -> None:
        import queue
        import threading

        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def deliver() -> None:
            while True:
                due, data = chunks.get()
                if not data:
                    dst.close()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    dst.sendall(data)
                except OSError:
                    return

        threading.Thread(target=deliver, daemon=True).start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            chunks.put((time.monotonic() + delay, data))
            if not data:
                return

    def url(self, url: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False)


def _time_writer(store: Any, counters: Counters) -> None:
    from contextlib import contextmanager

    for name in ("writer", "writer_nowait"):
        real = getattr(store, name)

        def timed(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            @contextmanager
            def cm() -> Any:
                with _real(*args, **kwargs):
                    t0 = time.perf_counter_ns()
                    try:
                        yield
                    finally:
                        counters.lock_ns += time.perf_counter_ns() - t0
            return cm()

        setattr(store, name, timed)


def _backends(svc: Any) -> set[int]:
    """The PostgreSQL backends of ``svc``'s connections from here on (a set that fills as the
    pool opens them; empty on SQLite). Every one counts: a send may run on a kept connection
    (``store/sendconn.py``) or on any of the pool's."""
    pids: set[int] = set()
    if not svc.store.is_sqlite:
        event.listen(svc.store.db, "connect", lambda conn, _record: pids.add(conn.info.backend_pid))
        svc.store.db.dispose()
    return pids


def one_round(url: str, new: bool, sends: int, seed: int, counters: Counters) -> dict[str, Any]:
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    senders = [f"s{uuid.uuid4().hex[:6]}_{i}" for i in range(sends // PER_SENDER + 3)]
    setup(url, senders)
    svc = InMailService(ig.default_policy(), url)
    svc.sends.read_then_write = new
    _time_writer(svc.store, counters)
    rng = random.Random(seed)
    messages = [_message(ig, s, rng) for _ in range(PER_SENDER) for s in senders]
    pids = _backends(svc)
    for m in messages[:20]:  # warm up: statements prepared, the pool's connection open
        svc.send(m)
    messages = messages[20:20 + sends]
    counters.lock_ns = 0
    latencies, accepted = [], 0
    server0 = _cpu_seconds(pids)
    cpu0, began = time.process_time(), time.perf_counter()
    for m in messages:
        t0 = time.perf_counter_ns()
        accepted += svc.send(m).accepted
        latencies.append(time.perf_counter_ns() - t0)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    after = _cpu_seconds(pids)
    server = None if not pids or server0 is None or after is None else after - server0
    svc.close()
    n = len(messages)
    latencies.sort()
    return {"n": n, "accepted": accepted, "rate": n / wall,
            "p50": statistics.median(latencies) / 1000,
            "p99": latencies[int(n * 0.99) - 1] / 1000, "cpu": cpu / n * 1e6,
            "server": None if server is None else server / n * 1e6,
            "lock": counters.lock_ns / n / 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=1500, help="sends per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per path, alternating")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--synchronous-commit", choices=("on", "off", "local"),
                        help="PostgreSQL sessions' synchronous_commit (default: the server's)")
    parser.add_argument("--probe-delay", type=float, default=0.005, metavar="SECONDS")
    parser.add_argument("--probe-sends", type=int, default=60)
    args = parser.parse_args()
    counters = Counters()
    trips: dict[bool, float] = {}
    results: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        targets: list[tuple[str, Any]] = []
        if "sqlite" in args.databases:
            targets.append(("SQLite (WAL)", lambda i, new: f"sqlite:///{tmp}/b{i}{new}.db"))
        drop = None
        pg = _pg_url() if "postgresql" in args.databases else None
        if pg is not None:
            url, (_, drop) = _pg_schema(pg, args.synchronous_commit)
            targets.append(("PostgreSQL", lambda i, new, url=url: url))
        try:
            for name, make in targets:
                for i in range(args.rounds):
                    for new in (False, True):
                        results.setdefault((name, new), []).append(
                            one_round(make(i, new), new, args.sends, i, counters))
            if pg is not None:
                from sqlalchemy.engine import make_url

                u = make_url(url)
                proxy = DelayProxy((u.host or "127.0.0.1", u.port or 5432), args.probe_delay)
                for new in (False, True):
                    direct = one_round(url, new, args.probe_sends, 99, counters)["p50"]
                    slow = one_round(proxy.url(url), new, args.probe_sends, 98, counters)["p50"]
                    trips[new] = (slow - direct) / (args.probe_delay * 1e6)
        finally:
            if drop is not None:
                drop()
    print("### The send path: lock first vs read, decide, then write (same process, alternating)")
    print()
    print(f"Machine: {machine()}; {args.rounds} rounds of {args.sends:,} accepted sends per"
          f" path, the shipped policy; PostgreSQL synchronous_commit:"
          f" {args.synchronous_commit or 'server default'}. Medians over the rounds.")
    print()
    print("| database | send path | accepted | sends/s | p50 µs | p99 µs | client CPU µs/send |"
          " server CPU µs/send | round trips/send | write lock held µs/send |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (name, new), rounds in results.items():
        def med(key: str, rounds: list[dict[str, Any]] = rounds) -> float:
            return statistics.median(r[key] for r in rounds)

        accepted = sum(r["accepted"] for r in rounds) / sum(r["n"] for r in rounds)
        pg_row = name == "PostgreSQL"
        server = f"{med('server'):,.0f}" if pg_row and rounds[0]["server"] else ""
        waits = f"{trips[new]:.1f}" if pg_row and new in trips else ""
        lock = "" if pg_row else f"{med('lock'):,.0f}"
        path = "read-then-write" if new else "lock-first"
        print(f"| {name} | {path} | {accepted:.1%} | {med('rate'):,.0f} | {med('p50'):,.0f} |"
              f" {med('p99'):,.0f} | {med('cpu'):,.0f} | {server} | {waits} | {lock} |")
    print()
    print(f"Load average when done: {', '.join(f'{x:.1f}' for x in os.getloadavg())}.")


if __name__ == "__main__":
    main()
