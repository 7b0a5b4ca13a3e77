"""Cores other processes leave free, so torch does not spin two threads on a core someone else is using.

Measured here with another process busy on one of the 2 cores: e5 embeds 15-16 chunks/s on one torch thread
and 6 chunks/s on two (OpenMP threads wait for each other at every layer, and one of them keeps losing its core).
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC", "Intel(R) Xeon(R) Processor")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read_stat() -> tuple[float, int] | None:
    """(busy CPU seconds of the whole machine, number of CPUs /proc/stat lists), or None where unreadable."""
    try:
        lines = PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    fields = [int(v) for v in lines[0].split()[1:]]
    # user nice system idle iowait irq softirq steal ...: idle and iowait are the only idle columns
    busy = sum(fields[:8]) - fields[3] - fields[4]
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return busy / os.sysconf("SC_CLK_TCK"), cpus


class FreeCores:
    """Between two calls of `free()`, how many of this process's cores other processes did not use."""

    def __init__(self) -> None:
        self.cores = _cores()
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        stat = _read_stat()
        # In a container /proc/stat may count the host's CPUs: then the figures say nothing about ours.
        if stat is None or stat[1] != self.cores:
            return None
        return time.monotonic(), stat[0], time.process_time()

    def free(self) -> int:
        """Cores free of other processes since the last call (all of them when that cannot be measured)."""
        now = self._sample()
        last, self._last = self._last, now
        if now is None or last is None or now[0] - last[0] < 0.05:
            return self.cores
        wall = now[0] - last[0]
        others = max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / wall
        return max(1, self.cores - int(others + 0.5))
