"""Round axis ticks (1, 2, 2.5, 5 × 10^k steps), for the command line's charts and the app's."""

from __future__ import annotations

import math

__all__ = ["nice_ticks", "ticks_within"]


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About `count` intervals of round numbers (1, 2, 2.5, 5 x 10^k steps) covering lo..hi."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int(round((last - first) / step)) + 1)]


def ticks_within(lo: float, hi: float, count: int = 4) -> list[float]:
    """`nice_ticks` that fall inside lo..hi (at least [lo])."""
    return [t for t in nice_ticks(lo, hi, count) if lo - 1e-9 * abs(hi - lo) <= t <= hi + 1e-9 * abs(hi - lo)] or [lo]
