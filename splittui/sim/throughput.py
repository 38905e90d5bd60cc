"""The paper's §IV-D throughput experiment: one Poisson request stream served under each method.

Workload. ``Cells`` are sweep cells (model, sequence length, bandwidth, deadline) where every
method has a feasible policy. Request i arrives by a Poisson process of rate λ (requests/s), draws
a cell uniformly and a repeat count r uniformly from 1..max_repeats (the same draws for every
method: common random numbers).

Service. Under method m a request holds ``demand = server_load_m / t`` of the server (objective
units per second) for ``duration = t * r`` seconds, where t is the cell's deadline (``service=
"deadline"``, the paper: "running time is based on the task completion deadline and the frequency
of executions") or the policy's own latency (``service="latency"``). Either way a request's server
work is ``server_load_m * r``.

Capacity. Ω = N * E_cell[no-split demand]: the server runs N whole-model requests at once on
average (the paper's "able to serve 500 requests on average, pre-calculated"), N = concurrency.

Arrival rate. ``load`` ρ sets λ so the no-split offered work fills ρ of Ω:
λ = ρ * Ω / E[server_load_no-split * r]. The paper's β behaves as a mean inter-arrival time
(larger β, less waiting), so β = 1/λ seconds; pass ``rate`` (λ) or ``beta`` to fix it directly.

Reported per method: served (finished by the last arrival), wait mean/p50/p95/p99/max, the
cumulative wait against arrival time, utilisation (capacity-seconds used / Ω * horizon, within the
horizon) and throughput (served / horizon).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import SplittuiError
from .queue import fifo_starts

__all__ = ["Cells", "SimConfig", "MethodStats", "SimResult", "simulate", "METHODS"]

METHODS = ("dp", "greedy", "no-split")
_CURVE_POINTS = 400


@dataclass(frozen=True, slots=True, eq=False)
class Cells:
    """Per-cell deadline (ms) and, per method, server load (objective units) and latency (ms)."""

    deadline_ms: np.ndarray
    server_load: dict[str, np.ndarray]
    latency_ms: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.deadline_ms)


@dataclass(frozen=True, slots=True)
class SimConfig:
    requests: int = 100_000
    concurrency: float = 500.0
    load: float = 1.05
    rate: float | None = None   # λ, requests/s; overrides load
    beta: float | None = None   # mean inter-arrival time, s; overrides load (λ = 1/β)
    seed: int = 0
    service: str = "deadline"
    max_repeats: int = 10
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        if self.requests < 1 or self.max_repeats < 1:
            raise SplittuiError("simulate: requests and max_repeats must be >= 1")
        for name in ("concurrency", "load", "rate", "beta"):
            v = getattr(self, name)
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise SplittuiError(f"simulate: {name} must be a finite number > 0, got {v!r}")
        if self.rate is not None and self.beta is not None:
            raise SplittuiError("simulate: give the arrival rate or beta, not both")
        if self.service not in ("deadline", "latency"):
            raise SplittuiError("simulate: service must be deadline or latency")
        if "no-split" not in self.methods:
            raise SplittuiError("simulate: no-split is needed to set the capacity")


@dataclass(frozen=True, slots=True, eq=False)
class MethodStats:
    method: str
    served: int
    mean_wait_s: float
    p50_wait_s: float
    p95_wait_s: float
    p99_wait_s: float
    max_wait_s: float
    utilisation: float
    throughput_per_s: float
    offered_load: float              # offered work / (Ω * horizon)
    curve_t: np.ndarray              # arrival time, s
    curve_cum_wait_s: np.ndarray     # cumulative wait of requests arrived by then, s

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("method", "served", "mean_wait_s", "p50_wait_s", "p95_wait_s",
                                              "p99_wait_s", "max_wait_s", "utilisation", "throughput_per_s",
                                              "offered_load")}


@dataclass(frozen=True, slots=True, eq=False)
class SimResult:
    config: SimConfig
    capacity: float
    rate_per_s: float
    beta_s: float
    horizon_s: float
    cells: int
    stats: dict[str, MethodStats] = field(default_factory=dict)
    elapsed_s: float = 0.0


def _service(cells: Cells, method: str, service: str) -> tuple[np.ndarray, np.ndarray]:
    """(time per execution, s; demand per second) per cell for one method."""
    t = (cells.deadline_ms if service == "deadline" else cells.latency_ms[method]) / 1e3
    t = np.maximum(t, 1e-12)
    return t, cells.server_load[method] / t


def _rate(cells: Cells, cfg: SimConfig, capacity: float) -> float:
    if cfg.rate is not None:
        return cfg.rate
    if cfg.beta is not None:
        return 1.0 / cfg.beta
    work = float(cells.server_load["no-split"].mean()) * (cfg.max_repeats + 1) / 2
    return cfg.load * capacity / work


def _stats(method: str, arrival: NDArray[np.float64], starts: NDArray[np.float64], dur: NDArray[np.float64],
           demand: NDArray[np.float64], capacity: float, horizon: float) -> MethodStats:
    wait = starts - arrival
    ends = starts + dur
    used = demand * np.clip(np.minimum(ends, horizon) - starts, 0.0, None)
    idx = np.unique(np.linspace(0, len(wait) - 1, _CURVE_POINTS).astype(np.int64))
    p50, p95, p99 = np.percentile(wait, (50, 95, 99))
    return MethodStats(
        method=method, served=int(np.count_nonzero(ends <= horizon)), mean_wait_s=float(wait.mean()),
        p50_wait_s=float(p50), p95_wait_s=float(p95), p99_wait_s=float(p99), max_wait_s=float(wait.max()),
        utilisation=float(used.sum() / (capacity * horizon)),
        throughput_per_s=float(np.count_nonzero(ends <= horizon) / horizon),
        offered_load=float((demand * dur).sum() / (capacity * horizon)),
        curve_t=arrival[idx], curve_cum_wait_s=np.cumsum(wait)[idx])


def simulate(cells: Cells, cfg: SimConfig = SimConfig(), *,
             progress: Callable[[int, int], object] | None = None) -> SimResult:
    """Run the stream under every method. progress(done, total) counts requests over all methods."""
    t0 = time.perf_counter()
    if cells.n == 0:
        raise SplittuiError("simulate: no cell where every method is feasible (widen the deadlines)")
    _, ns_demand = _service(cells, "no-split", cfg.service)
    capacity = cfg.concurrency * float(ns_demand.mean())
    if not capacity > 0:
        raise SplittuiError("simulate: the no-split server load is zero, so there is no capacity to size")
    rate = _rate(cells, cfg, capacity)
    rng = np.random.default_rng(cfg.seed)
    arrival = np.cumsum(rng.exponential(1.0 / rate, cfg.requests))
    pick = rng.integers(0, cells.n, cfg.requests)
    reps = rng.integers(1, cfg.max_repeats + 1, cfg.requests).astype(np.float64)
    horizon = float(arrival[-1])
    stats = {}
    n_methods = len(cfg.methods)
    for k, method in enumerate(cfg.methods):
        t, demand = _service(cells, method, cfg.service)
        dur, dem = t[pick] * reps, demand[pick]
        report = None if progress is None else (lambda d, n, k=k: progress(k * n + d, n_methods * n))
        starts = fifo_starts(arrival, dur, dem, capacity, progress=report)
        stats[method] = _stats(method, arrival, starts, dur, dem, capacity, horizon)
    return SimResult(config=cfg, capacity=capacity, rate_per_s=rate, beta_s=1.0 / rate, horizon_s=horizon,
                     cells=cells.n, stats=stats, elapsed_s=time.perf_counter() - t0)
