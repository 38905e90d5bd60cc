"""A FIFO server with a divisible capacity: exact event-driven start times for a request stream.

Request i arrives at ``arrival[i]`` (sorted), needs ``demand[i]`` of the capacity for
``duration[i]`` once started. Strict FIFO: a request starts at the earliest time that is no earlier
than its arrival and its predecessor's start and at which enough capacity is free (head-of-line
blocking, the paper's rule). A request with zero demand (all its layers on the client) needs no
server and starts on arrival. Capacity is counted in integer units (2**40 = the whole server), so
freeing and taking it back is exact. A heap holds the running jobs by end time.

A second resource (``memory`` of ``mem_capacity``: the server's memory, held for the same
duration) is optional: then a request starts when enough of *both* is free, and one that needs
neither starts on arrival.

Time O(n log k), k = running jobs; memory O(n).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import SplittuiError

__all__ = ["fifo_starts", "CAPACITY_UNITS"]

CAPACITY_UNITS = 1 << 40
_CHUNK = 1 << 15


def _units(demand: np.ndarray, capacity: float, what: str = "capacity",
           hint: str = "raise the capacity (e.g. the concurrency N)") -> list[int]:
    units = np.ceil(np.asarray(demand, dtype=np.float64) / capacity * CAPACITY_UNITS - 1e-6)
    units = np.maximum(units, 0)
    if units.size and units.max() > CAPACITY_UNITS:
        i = int(np.argmax(units))
        raise SplittuiError(f"request {i} needs {demand[i]:.4g}, more than the whole {what} {capacity:.4g}: {hint}")
    out: list[int] = units.astype(np.int64).tolist()
    return out


def _iv(arrival: ArrayLike, duration: ArrayLike, demand: ArrayLike, capacity: float
        ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    arr = np.asarray(arrival, dtype=np.float64)
    dur = np.asarray(duration, dtype=np.float64)
    dem = np.asarray(demand, dtype=np.float64)
    if not (arr.shape == dur.shape == dem.shape and arr.ndim == 1):
        raise SplittuiError("queue: arrival, duration and demand must be 1-D arrays of one length")
    if not (capacity > 0 and math.isfinite(capacity)):
        raise SplittuiError(f"queue: capacity must be a finite number > 0, got {capacity!r}")
    if arr.size and (np.any(np.diff(arr) < 0) or np.any(dur < 0) or np.any(dem < 0)):
        raise SplittuiError("queue: arrivals must be sorted, durations and demands >= 0")
    return arr, dur, dem


def _memory_units(memory: ArrayLike | None, mem_capacity: float | None, n: int) -> list[int] | None:
    if memory is None:
        return None
    if mem_capacity is None:
        raise SplittuiError("queue: memory needs mem_capacity")
    _, _, mem = _iv(np.zeros(n), np.zeros(n), memory, mem_capacity)
    return _units(mem, mem_capacity, "memory", "raise the server memory")


def fifo_starts(arrival: ArrayLike, duration: ArrayLike, demand: ArrayLike, capacity: float, *,
                memory: ArrayLike | None = None, mem_capacity: float | None = None,
                progress: Callable[[int, int], object] | None = None) -> NDArray[np.float64]:
    """Start time of every request under the FIFO rule above. progress(done, total) per chunk."""
    arr_np, dur_np, dem_np = _iv(arrival, duration, demand, capacity)
    n = arr_np.size
    arr, dur, need = arr_np.tolist(), dur_np.tolist(), _units(dem_np, capacity)
    mem = _memory_units(memory, mem_capacity, n)
    if mem is not None:
        return _fifo_two(arr, dur, need, mem, progress)
    start = [0.0] * n
    heap: list[tuple[float, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    free, t = CAPACITY_UNITS, -math.inf
    for lo in range(0, n, _CHUNK):
        # the hot loop: plain lists and locals only (10^6 requests must take seconds)
        for i in range(lo, min(lo + _CHUNK, n)):
            q, a = need[i], arr[i]
            if q == 0:
                start[i] = a
                continue
            if a > t:
                t = a
            while heap and heap[0][0] <= t:
                free += pop(heap)[1]
            while free < q:
                end, r = pop(heap)
                free += r
                if end > t:
                    t = end
            free -= q
            start[i] = t
            push(heap, (t + dur[i], q))
        if progress is not None:
            progress(min(lo + _CHUNK, n), n)
    return np.array(start, dtype=np.float64)


def _fifo_two(arr: list[float], dur: list[float], need: list[int], mem: list[int],
              progress: Callable[[int, int], object] | None) -> NDArray[np.float64]:
    """fifo_starts with a second resource: the same loop, freeing and checking both."""
    n = len(arr)
    start = [0.0] * n
    heap: list[tuple[float, int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    free, mfree, t = CAPACITY_UNITS, CAPACITY_UNITS, -math.inf
    for lo in range(0, n, _CHUNK):
        for i in range(lo, min(lo + _CHUNK, n)):
            q, m, a = need[i], mem[i], arr[i]
            if q == 0 and m == 0:
                start[i] = a
                continue
            if a > t:
                t = a
            while heap and heap[0][0] <= t:
                _, r, rm = pop(heap)
                free += r
                mfree += rm
            while free < q or mfree < m:
                end, r, rm = pop(heap)
                free += r
                mfree += rm
                if end > t:
                    t = end
            free -= q
            mfree -= m
            start[i] = t
            push(heap, (t + dur[i], q, m))
        if progress is not None:
            progress(min(lo + _CHUNK, n), n)
    return np.array(start, dtype=np.float64)
