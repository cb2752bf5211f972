"""HTTP benchmark: requests/s and latency of the API under load, on loopback.

    .venv/bin/python benchmarks/bench_http.py [--duration 10] [--access-log]
        [--cases send] [--workers 1,2] [--baseline-src /tmp/base/src]

``--baseline-src`` serves each worker count a second time with another tree's code (e.g. main's,
``git archive main src | tar -x -C /tmp/base``, plus the built ``_speedups`` module), right
after this tree's: the old-vs-new ratio from one run.

Starts ``inmail-guard serve`` (1 and 2 workers) on a free port with a temporary SQLite file
(``--database postgresql``: a scratch schema of ``INMAIL_GUARD_TEST_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, dropped afterwards; the instances of a
deployment sharing one database), then drives it from separate processes:

* maximum throughput, closed loop: ``wrk`` (Debian package ``wrk``) with a Lua script for the
  POSTs, or, without wrk, the asyncio raw-socket generator below;
* latency at a fixed 1,000 requests/s, open loop (latency counted from when each request was
  *due*, so a stall shows up instead of hiding: no coordinated omission): the asyncio
  generator, always.

``GET /healthz`` of the same server in the same run is the yardstick: ``POST /v1/evaluate``
over it is the cost of auth + parsing + the engine + logging + metrics. ``POST /v1/inmails`` is
the stateful send (read facts, evaluate, spend a credit, store, outbox) on SQLite; ``--senders``
senders (2,000 by default) with 50 credits each are seeded and every body differs, so the run
measures accepted sends (non-2xx counts any the policy still rejects: volume, automation and
bulk detectors are on). A sender's 26th send within minutes is spam (volume + automation), so
``--senders`` must exceed requests/s x duration / 25: 500 (the figure before session 9) stops
measuring accepted sends near 1,500/s over 8 s. Each send also costs more the more its sender
sent recently (benchmarks/README.md "Sends at scale"): fewer senders, dearer sends.

``machine busy`` is the share of every core in use during the case (``/proc/stat``: the
server, the database, the load generator and anything else running).

On PostgreSQL on the same machine, ``db CPU µs/req`` is the CPU time of every PostgreSQL
process (the backends, the WAL writer, the checkpointer...) over the requests served: with the
server CPU column, what a send costs the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import machine, machine_ticks

KEY = "bench-admin-key-0123456789abcdef"
HOST = "127.0.0.1"
BODY = ("Hi Dana, I lead platform hiring at Acme. Your work on **distributed queues** caught my"
        " eye and I think our staff engineer opening could be a great fit. Would you be open to"
        " a short call next week?")
EVALUATE = json.dumps({
    "message": {"sender_id": "s-1", "recipient_id": "r-1", "subject": "Staff engineer role",
                "body": BODY},
    "facts": {"sender": {"id": "s-1", "plan": "recruiter_lite"}, "recipient": {"id": "r-1"},
              "now": "2026-11-27T09:00:00Z", "connection_degree": 2, "credits_used": 3},
}, separators=(",", ":"))
SENDERS, RECIPIENTS = 2000, 97


def send_body(n: int, senders: int = SENDERS) -> str:
    # Ten tokens of its own per message keep bodies apart for the bulk detector (MinHash
    # similarity < 0.8), so the run measures accepted sends rather than spam rejections.
    tokens = " ".join(f"k{n}{c}" for c in "abcdefghij")
    return json.dumps({"message": {
        "sender_id": f"s{n % senders}", "recipient_id": f"r{n % RECIPIENTS}",
        "subject": f"Staff engineer role #{n}", "body": f"{BODY} Ref: {tokens}"}},
        separators=(",", ":"))


# --- the asyncio raw-socket load generator (runs in its own process) -------------------------


def _request(method: str, path: str, body: str | None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Authorization: Bearer {KEY}"]
    payload = b""
    if body is not None:
        payload = body.encode()
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    data: bytes) -> int:
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if match:
        await reader.readexactly(int(match.group(1)))
    return status


async def _load(port: int, method: str, path: str, kind: str, rate: float | None,
                duration: float, conns: int, senders: int = SENDERS) -> dict[str, object]:
    """Closed loop (``rate`` None): each connection sends as fast as answers come. Open loop:
    request k is due at ``start + k / rate`` and connection ``k % conns`` sends it; latency is
    counted from when it was due (as wrk2 does), so a stalled server can't hide its backlog."""
    clock = time.perf_counter  # uvloop's clock() only has millisecond resolution
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    total = int(rate * duration) if rate is not None else 0

    def make(n: int) -> bytes:
        if kind == "evaluate":
            return _request(method, path, EVALUATE)
        if kind == "send":
            return _request(method, path, send_body(n, senders))
        return _request(method, path, None)

    async def worker(index: int, start: float) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        n = index
        try:
            while True:
                if rate is None:
                    due = clock()
                    if due >= start + duration:
                        return
                else:
                    if n >= total:
                        return
                    due = start + n / rate
                    delay = due - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                status = await _exchange(reader, writer, make(n))
                latencies.append(clock() - due)
                statuses[status] = statuses.get(status, 0) + 1
                n += conns
        finally:
            writer.close()

    start = clock() + 0.3
    await asyncio.gather(*(worker(i, start) for i in range(conns)))
    elapsed = clock() - start
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n, "per_s": n / elapsed if elapsed else 0.0,
        "p50_ms": latencies[n // 2] * 1000 if n else 0.0,
        "p99_ms": latencies[max(int(n * 0.99) - 1, 0)] * 1000 if n else 0.0,
        "max_ms": latencies[-1] * 1000 if n else 0.0,
        "statuses": statuses,
    }


def load_process(port: int, method: str, path: str, kind: str, rate: float | None,
                 duration: float, conns: int, senders: int = SENDERS) -> dict[str, object]:
    """Run :func:`_load` in a fresh Python process (so it never shares a core's GIL with us)."""
    args = [sys.executable, __file__, "--generator", json.dumps(
        {"port": port, "method": method, "path": path, "kind": kind, "rate": rate,
         "duration": duration, "conns": conns, "senders": senders})]
    out = subprocess.run(args, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent)
    return json.loads(out.stdout)


# --- wrk -------------------------------------------------------------------------------------

LUA_EVALUATE = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {KEY}"
wrk.body = [[{EVALUATE}]]
"""

def lua_send(senders: int = SENDERS) -> str:
    return f"""
counter = 0
request = function()
  counter = counter + 1
  local tokens = {{}}
  for _, c in ipairs({{"a","b","c","d","e","f","g","h","i","j"}}) do
    tokens[#tokens + 1] = "k" .. counter .. c
  end
  local body = string.format(
    '{{"message":{{"sender_id":"s%d","recipient_id":"r%d","subject":"Staff engineer role #%d",'
    .. '"body":"{BODY} Ref: %s"}}}}', counter % {senders}, counter % {RECIPIENTS}, counter,
    table.concat(tokens, " "))
  return wrk.format("POST", "/v1/inmails", {{["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer {KEY}"}}, body)
end
"""

LUA_GET = f"""
wrk.headers["Authorization"] = "Bearer {KEY}"
"""


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(port: int, path: str, lua: str, duration: float, conns: int,
            tmp: Path) -> dict[str, object]:
    script = tmp / f"bench-{abs(hash(lua))}.lua"
    script.write_text(lua)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{int(duration)}s", "--latency", "-s", str(script),
         f"http://{HOST}:{port}{path}"], capture_output=True, text=True, check=True).stdout
    dist = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", out, flags=re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    stats = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, flags=re.M)  # avg stdev max
    return {"per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": _ms(dist["50"]), "p99_ms": _ms(dist["99"]),
            "max_ms": _ms(stats.group(1)) if stats else float("nan"),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1) if errors else ""}


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def seed(db: Path | str, senders: int = SENDERS) -> None:
    from inmail_guard import Member, default_policy
    from inmail_guard.service import InMailService

    service = InMailService(default_policy(), str(db))
    try:
        for i in range(senders):
            service.put_member(Member(f"s{i}", plan="recruiter_corporate"))
        for i in range(RECIPIENTS):
            service.put_member(Member(f"r{i}"))
    finally:
        service.close()


def seeded_app(db: Path, senders: int = SENDERS) -> Any:
    """The HTTP app in this process on a freshly seeded file, the access log off (what
    ``bench_http_parts.py`` and ``bench_sqlite_send_parts.py`` measure in process)."""
    from inmail_guard.api import Settings, create_app

    seed(db, senders)
    return create_app(Settings(db=str(db), keys_env=f"bench:admin:{KEY}", access_log=False))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """user+system CPU of ``pid`` and its live descendants (the uvicorn workers), from /proc.
    Unlike requests/s this hardly moves when other processes compete for the cores."""
    total, todo = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(current)
    return total


def postgres_cpu_seconds() -> float | None:
    """user+system CPU of every PostgreSQL process on this machine, with that of the ended
    ones their parent has reaped (a backend whose connection closed mid-run; None: none is
    local)."""
    total, found = 0.0, False
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[1] != "postgres":
            continue
        fields = rest.split()  # utime, stime, then cutime, cstime: reaped children
        total += sum(int(v) for v in fields[11:15]) / tick
        found = True
    return total if found else None


def pg_database(url: str) -> tuple[str, Any]:
    """A scratch schema on ``url`` (``bench_pg.py``'s): the URL that uses it, and a function
    dropping it."""
    from bench_pg import _pg_schema

    scratch, (_, drop) = _pg_schema(url)
    return scratch, drop


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if src:  # run another tree's code (--baseline-src): its src/ first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (src, env.get("PYTHONPATH"))))
    return env


def seed_with(db: Path | str, src: str | None, senders: int = SENDERS) -> None:
    """:func:`seed`, by the code that will serve the file (a database made by newer code is
    refused by older code)."""
    subprocess.run([sys.executable, __file__, "--seed", str(db), "--senders", str(senders)],
                   env=_env(src), check=True,
                   cwd=Path(__file__).parent)


def start_server(db: Path | str, workers: int, access_log: bool,
                 src: str | None = None) -> Server:
    port = free_port()
    env = {**_env(src), "INMAIL_GUARD_API_KEYS": f"bench:admin:{KEY}"}
    cmd = [sys.executable, "-c", "from inmail_guard.cli import main; main()", "serve",
           "--db", str(db), "--host", HOST, "--port", str(port), "--workers", str(workers),
           "--access-log" if access_log else "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as s:
                s.sendall(f"GET /readyz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                if b" 200 " in s.recv(200):
                    break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        raise SystemExit("the server did not become ready within 60 s")
    return Server(proc, port)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--access-log", action="store_true",
                        help="keep the per-request JSON access log on (default off here)")
    parser.add_argument("--nice", type=int, default=0,
                        help="run server and load generators at this nice value (e.g. -10 as"
                             " root on a shared machine, to measure the code, not the"
                             " neighbours)")
    parser.add_argument("--cases", default="get,evaluate,send,fixed",
                        help="which requests to measure (comma-separated: get, evaluate,"
                             " send, fixed: the open-loop evaluate at --rate)")
    parser.add_argument("--baseline-src", metavar="DIR",
                        help="also serve with the code in DIR (another tree's src/, e.g. from"
                             " `git archive main src`), each worker count right after this"
                             " tree's: the old-vs-new ratio from the same run")
    parser.add_argument("--generator", help=argparse.SUPPRESS)
    parser.add_argument("--senders", type=int, default=SENDERS,
                        help="senders seeded for the send case (each has 50 credits; keep it"
                             " above requests/s x duration / 25, see the module doc)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the database the server runs on (postgresql: a scratch schema"
                             " of INMAIL_GUARD_TEST_PG_URL)")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed(args.seed if "://" in args.seed else Path(args.seed), args.senders)
        return
    if args.nice:
        os.nice(args.nice)  # inherited by the server, its workers, wrk and the generators
    if args.generator:
        opts = json.loads(args.generator)
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        print(json.dumps(asyncio.run(_load(**opts))))
        return

    wrk = shutil.which("wrk")
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        trees: list[tuple[str, str | None]] = [("this tree", None)]
        if args.baseline_src:
            trees.append(("baseline", str(Path(args.baseline_src).resolve())))
        runs = [(w, name, src) for w in (int(w) for w in args.workers.split(","))
                for name, src in trees]
        def db_cpu() -> float | None:
            return postgres_cpu_seconds() if args.database == "postgresql" else None

        pg = os.environ.get("INMAIL_GUARD_TEST_PG_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        for workers, tree, src in runs:
            db: Path | str = tmp / f"bench-{workers}-{tree.replace(' ', '-')}.db"
            drop = None
            if args.database == "postgresql":
                db, drop = pg_database(pg)
            seed_with(db, src, args.senders)
            server = start_server(db, workers, args.access_log, src)
            try:
                # warm up every path once per worker
                for kind, path in (("get", "/healthz"), ("evaluate", "/v1/evaluate")):
                    load_process(server.port, "GET" if kind == "get" else "POST", path, kind,
                                 None, 1.0, 8)
                cases = [("GET /healthz", "GET", "/healthz", "get", LUA_GET),
                         ("POST /v1/evaluate", "POST", "/v1/evaluate", "evaluate", LUA_EVALUATE),
                         ("POST /v1/inmails", "POST", "/v1/inmails", "send",
                          lua_send(args.senders))]
                wanted = set(args.cases.split(","))
                cases = [c for c in cases if c[3] in wanted]
                base = None
                for label, method, path, kind, lua in cases:
                    cpu0, db0 = cpu_seconds(server.proc.pid), db_cpu()
                    busy0, total0 = machine_ticks()
                    if wrk:
                        r = run_wrk(server.port, path, lua, args.duration, args.conns, tmp)
                        tool = f"wrk -t1 -c{args.conns}"
                        bad = r["non_2xx"]
                    else:
                        r = load_process(server.port, method, path, kind, None, args.duration,
                                         args.conns, args.senders)
                        tool = f"asyncio closed loop, {args.conns} conns"
                        bad = sum(v for k, v in r["statuses"].items() if int(k) >= 300)  # type: ignore[union-attr]
                    cpu = cpu_seconds(server.proc.pid) - cpu0
                    db1 = db_cpu()
                    busy1, total1 = machine_ticks()
                    busy = (f"{(busy1 - busy0) / (total1 - total0):.0%}"
                            if total1 > total0 else "")
                    served = r["per_s"] * args.duration  # type: ignore[operator]
                    us = f"{cpu / served * 1e6:,.0f}" if served else ""
                    db_us = (f"{(db1 - db0) / served * 1e6:,.0f}"
                             if served and db0 is not None and db1 is not None else "")
                    if base is None:
                        base = r["per_s"]
                    ratio = f"{r['per_s'] / base:.2f}"  # type: ignore[operator]
                    rows.append(f"| {workers} | {tree} | {label} | max ({tool}) |"
                                f" {r['per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
                                f" {r['max_ms']:.1f} |"
                                f" {ratio} | {us} | {db_us} | {busy} | {bad} |")
                if "fixed" not in wanted:
                    continue
                cpu0 = cpu_seconds(server.proc.pid)
                r = load_process(server.port, "POST", "/v1/evaluate", "evaluate", args.rate,
                                 args.duration, 32)
                cpu = cpu_seconds(server.proc.pid) - cpu0
                us = f"{cpu / r['requests'] * 1e6:,.0f}" if r["requests"] else ""  # type: ignore[operator]
                bad = sum(v for k, v in r["statuses"].items() if int(k) >= 300)  # type: ignore[union-attr]
                rows.append(f"| {workers} | {tree} | POST /v1/evaluate | fixed"
                            f" {args.rate:,.0f}/s (open loop) | {r['per_s']:,.0f} |"
                            f" {r['p50_ms']:.2f} |"
                            f" {r['p99_ms']:.2f} | {r['max_ms']:.1f} | | {us} | | | {bad} |")
            finally:
                server.stop()
                if drop is not None:
                    drop()
    load = os.getloadavg()
    where = ("PostgreSQL on the same machine" if args.database == "postgresql"
             else "a SQLite file")
    print(f"### HTTP API on loopback (server, {where} and load generator on the same machine)")
    print()
    print("| workers | code | request | load | requests/s | p50 ms | p99 ms | max ms |"
          " vs /healthz | server CPU µs/req | db CPU µs/req | machine busy | non-2xx |")
    print("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print("Server CPU µs/req is the server processes' user+system time over the requests"
          " served: what a request costs whatever else the machine runs; 2 cores / that"
          " number is the ceiling on this machine with nothing else running.")
    print()
    print(f"Access log {'on' if args.access_log else 'off'}; nice {args.nice};"
          f" {args.duration:g} s per case; {args.senders:,} senders;"
          f" 1-min load average after the run {load[0]:.2f}.")
    print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    main()
