"""The result of one capacity simulation run (docs/capacity.md): `CapacityRun`, the per-request times
and the server's figures that `capacity.simulate_server` returns, and `METRICS`, the names of the
per-request times it reads out by percentile. Pure numpy; no UI import."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["CapacityRun", "METRICS"]

METRICS = ("ttft", "tpot", "e2e")
_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class CapacityRun:
    """Per-request times (ms; NaN where dropped, TPOT NaN with fewer than 2 output tokens) and the server."""

    ttft_ms: _F
    tpot_ms: _F
    e2e_ms: _F
    dropped: int
    horizon_ms: float           # first arrival to last completion
    busy_ms: float              # server time spent on prefill or decode iterations
    compute_bound_ms: float     # busy decode time in compute-bound layers (the rest: memory bandwidth)
    decode_ms: float            # busy decode time
    in_server_mean: float       # time-average requests admitted or waiting for admission
    in_server_sojourn_ms: _F    # per request: server arrival to completion (NaN where dropped)
    mean_batch: float           # decode requests per running iteration, time-average
    mem_t_ms: _F                # server memory over time (weights + reserved KV), thinned
    mem_bytes: _F
    peak_mem_bytes: float
    mem_limit_bytes: float
    elapsed_s: float

    @property
    def arrivals(self) -> int:
        return len(self.e2e_ms)

    @property
    def completed(self) -> int:
        return int(np.isfinite(self.e2e_ms).sum())

    @property
    def utilisation(self) -> float:
        return self.busy_ms / self.horizon_ms if self.horizon_ms > 0 else 0.0

    def values(self, metric: str) -> _F:
        v = {"ttft": self.ttft_ms, "tpot": self.tpot_ms, "e2e": self.e2e_ms}[metric]
        return v[np.isfinite(v)]

    def percentile(self, metric: str, q: float) -> float:
        v = self.values(metric)
        return float(np.percentile(v, q)) if v.size else math.nan
