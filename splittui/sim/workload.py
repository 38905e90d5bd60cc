"""Workloads for the capacity simulation: Poisson arrivals or a trace of (arrival, prompt, output) rows,
each request drawn a client class by the classes' weights. Pure numpy; parsing text, not reading files
(the command reads the trace file)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import SplittuiError
from .server import ClientClass

__all__ = ["Workload", "poisson_workload", "trace_workload", "parse_trace"]

_F = NDArray[np.float64]
_I = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Workload:
    """Requests sorted by arrival: time (ms), prompt tokens, output tokens, class index."""

    arrival_ms: _F
    prompt: _I
    output: _I
    cls: _I

    @property
    def n(self) -> int:
        return len(self.arrival_ms)


def _mix(classes: list[ClientClass], n: int, rng: np.random.Generator) -> _I:
    w = np.array([c.weight for c in classes], dtype=np.float64)
    return rng.choice(len(classes), size=n, p=w / w.sum()).astype(np.int64)


def poisson_workload(rate_per_s: float, n: int, classes: list[ClientClass], *, seed: int = 0,
                     output: _I | None = None) -> Workload:
    """`n` Poisson arrivals at `rate_per_s`; each class's nominal prompt and output (or `output` drawn)."""
    if not (rate_per_s > 0 and n > 0):
        raise SplittuiError("a workload needs a rate > 0 and at least one request")
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1e3 / rate_per_s, size=n))
    cls = _mix(classes, n, rng)
    prompt = np.array([c.prompt for c in classes], dtype=np.int64)[cls]
    out = np.array([c.output for c in classes], dtype=np.int64)[cls] if output is None else output
    return Workload(arrival_ms=t, prompt=prompt, output=np.asarray(out, dtype=np.int64), cls=cls)


def parse_trace(text: str) -> _F:
    """Rows ``arrival_s, prompt, output`` (comma or space separated, '#' comments) as an (n, 3) array."""
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        try:
            a, p, o = (float(v) for v in line.split())
        except ValueError:
            raise SplittuiError(f"trace line {i}: want 'arrival_s, prompt, output', got {line!r}") from None
        if not (math.isfinite(a) and a >= 0 and p >= 1 and o >= 1):
            raise SplittuiError(f"trace line {i}: arrival >= 0 s, prompt >= 1, output >= 1 tokens")
        rows.append((a, p, o))
    if not rows:
        raise SplittuiError("trace: no rows")
    return np.array(rows, dtype=np.float64)


def trace_workload(rows: _F, classes: list[ClientClass], *, seed: int = 0, speed: float = 1.0) -> Workload:
    """A trace's rows (arrival s, prompt, output), arrivals scaled by 1/`speed`, classes drawn by weight."""
    order = np.argsort(rows[:, 0], kind="stable")
    r = rows[order]
    cls = _mix(classes, len(r), np.random.default_rng(seed))
    return Workload(arrival_ms=r[:, 0] * 1e3 / speed, prompt=r[:, 1].astype(np.int64),
                    output=r[:, 2].astype(np.int64), cls=cls)
