"""A reference workload: how fast this CPU runs now, beside how fast it ran when a profile was measured.

A virtual machine's CPU speed drifts: on the 2-vCPU VM this project is developed on, the same bert-base
pass took 600 ms, then 900 ms an hour later, idle. A profile timed in one phase then mispredicts a run
in another by that ratio, whatever the cost model. ``probe_ms`` times a fixed float32 matmul on one
torch thread (the client's set-up; about 0.1 s). `splittui profile` records it before and after
profiling (``profiling.speed_probe``), `splittui run` before every measured placement, and the run
reports the ratio. It is a diagnosis only: no prediction is scaled by it (a prediction never uses
timings taken in the run it predicts), and a cached profile is not re-measured on it (`--reprofile`
does that). On that VM it moved 18 -> 15 ms within a minute, idle, and from 13.8 to 30.5 ms between
the rows of one fidelity run whose errors it did not track: a 0.1 s sample shows how much the CPU's
speed moves, not its speed over a row of several seconds.
"""

from __future__ import annotations

import statistics
import time

__all__ = ["probe_ms", "WORKLOAD", "profile_probe_ms", "speed_ratio", "probe_record"]

WORKLOAD = "float32 matmul 256x768 @ 768x768, 4 per sample, 1 torch thread, median of 7 samples"
_WARM = 3   # samples timed and dropped first (the first matmuls of a process are slower)


def probe_ms(samples: int = 7) -> float:
    """Median ms of one sample of the reference workload (see WORKLOAD), after `_WARM` warm-up samples."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(256, 768, generator=g), torch.randn(768, 768, generator=g)
        times = []
        with torch.inference_mode():
            for k in range(samples + _WARM):
                t0 = time.perf_counter()
                for _ in range(4):
                    a @ b
                if k >= _WARM:
                    times.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(old)
    return statistics.median(times)


def probe_record(before: float, after: float) -> dict:
    """What a profile keeps: the workload and its time before and after profiling (ms)."""
    return {"workload": WORKLOAD, "ms": [round(before, 4), round(after, 4)]}


def profile_probe_ms(extra: dict) -> float | None:
    """The mean probe time a profile recorded (its ``profiling.speed_probe``), or None (older profiles,
    estimates, another workload)."""
    prof = extra.get("profiling")
    rec = prof.get("speed_probe") if isinstance(prof, dict) else None
    if not isinstance(rec, dict) or rec.get("workload") != WORKLOAD:
        return None
    ms = rec.get("ms")
    if not isinstance(ms, list) or not ms or not all(isinstance(v, (int, float)) and v > 0 for v in ms):
        return None
    return float(sum(ms) / len(ms))


def speed_ratio(now_ms: float | None, then_ms: float | None) -> float | None:
    """now / then: above 1, this CPU runs the reference slower now than when the profile was measured."""
    if now_ms is None or then_ms is None or then_ms <= 0:
        return None
    return now_ms / then_ms
