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
