"""How busy other processes kept this machine while we measured: the load a timing saw.

A server that uses every core of a small machine is slowed far more by one other busy process than
a 1-thread client (its threads wait for each other at every parallel step), so a profile and a run
measured under different load disagree on the server's times, whatever the method. ``OthersCpu``
measures that load: the machine's busy CPU time (``/proc/stat``: everything but idle and iowait,
steal included) less the CPU time of our own processes (``/proc/PID/stat``), over the wall-clock
window, in cores. Linux only; elsewhere it reports None.
"""

from __future__ import annotations

import os
import time
from typing import Callable

__all__ = ["OthersCpu", "BUSY_CORES"]

BUSY_CORES = 0.25  # other processes above this many cores on average: the timing was not quiet


def _tick() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def _machine_busy_s() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(values) < 5:
        return None
    return (sum(values) - values[3] - values[4]) / _tick()   # less idle and iowait


def _process_s(pid: int) -> float:
    """User + system CPU time of a process (all its threads); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            rest = fh.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / _tick()    # fields 14 and 15: utime, stime
    except (OSError, ValueError, IndexError):
        return 0.0


class OthersCpu:
    """Started on creation; ``cores()`` is the mean number of cores that processes other than
    ``pids()`` (default: this one) kept busy since then (None where /proc is missing)."""

    def __init__(self, pids: Callable[[], list[int]] | None = None) -> None:
        self.pids = pids or (lambda: [os.getpid()])
        self._start = self._sample()

    def _sample(self) -> tuple[float, float | None, dict[int, float]]:
        return time.monotonic(), _machine_busy_s(), {p: _process_s(p) for p in self.pids()}

    def cores(self) -> float | None:
        t1, busy1, own1 = self._sample()
        t0, busy0, own0 = self._start
        if busy0 is None or busy1 is None or t1 - t0 <= 0:
            return None
        own = sum(v - own0.get(p, 0.0) for p, v in own1.items())
        return round(max(0.0, (busy1 - busy0 - own) / (t1 - t0)), 3)
