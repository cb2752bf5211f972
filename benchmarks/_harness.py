"""Shared timing helpers: per-call latency percentiles and throughput, plus the machine line."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    label: str
    p50_us: float
    p99_us: float
    per_s: float

    def row(self) -> str:
        return f"| {self.label} | {self.p50_us:,.1f} | {self.p99_us:,.1f} | {self.per_s:,.0f} |"


def time_calls(label: str, fn: Callable[[], object], n: int = 20_000, warmup: int = 2_000,
               per_call_items: int = 1) -> Timing:
    """Latency of ``fn`` per call (and items/s when one call handles ``per_call_items``)."""
    for _ in range(warmup):
        fn()
    samples = []
    clock = time.perf_counter_ns
    start_all = clock()
    for _ in range(n):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    total = (clock() - start_all) / 1e9
    samples.sort()
    p50 = statistics.median(samples) / 1000 / per_call_items
    p99 = samples[int(len(samples) * 0.99) - 1] / 1000 / per_call_items
    return Timing(label, p50, p99, n * per_call_items / total)


def cpu_best_us(fn: Callable[[], object], batches: int = 15, calls: int = 500) -> float:
    """Best-of-``batches`` mean CPU µs of ``calls`` calls: process time, so less sensitive to
    the other processes on a shared machine than wall-clock latency."""
    best = float("inf")
    for _ in range(batches):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls)
    return best * 1e6


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()},"
            f" {platform.system()} {platform.release()}")


def table(title: str, timings: list[Timing], unit: str = "decisions/s") -> str:
    lines = [f"### {title}", "", f"| case | p50 µs | p99 µs | {unit} |", "|---|---:|---:|---:|"]
    lines += [t.row() for t in timings]
    return "\n".join(lines)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine so far, from /proc/stat (0, 0 elsewhere):
    busy over total between two readings is the share of every core in use."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # user..steal; guest time is counted in user already
    return total - idle, total


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of every core in use between two :func:`machine_ticks` readings."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else None


def run_processes(target: Callable[..., None], args: list[tuple[object, ...]],
                  timeout: float = 600) -> tuple[list[tuple], list[int], float, float | None]:
    """Start one spawned process per ``args`` item, release them together, collect results.

    ``target(*item, start, out)`` must wait on ``start``, then put one tuple
    ``(latencies_ns, began, ended, *extra)`` on ``out``. Returns (results, all latencies
    sorted, wall seconds from the first start to the last end, the machine's busy share from
    the release to the last result: None without /proc/stat).
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*item, start, out)) for item in args]
    for p in procs:
        p.start()
    time.sleep(0.5)
    ticks = machine_ticks()
    start.set()
    results = [out.get(timeout=timeout) for _ in procs]
    busy = busy_share(ticks, machine_ticks())
    for p in procs:
        p.join(60)
    latencies = sorted(x for r in results for x in r[0])
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return results, latencies, wall, busy


def p50_p99_us(latencies_ns: list[int]) -> tuple[float, float]:
    """Median and 99th percentile of sorted nanosecond latencies, in µs."""
    return (statistics.median(latencies_ns) / 1000,
            latencies_ns[int(len(latencies_ns) * 0.99) - 1] / 1000)
