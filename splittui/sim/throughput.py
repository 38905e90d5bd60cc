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

Output lengths (generation, SPEC §8). With ``tokens`` (a ``TokenDist``) each request also draws
its output length N (after the draws above, so the stream is otherwise the same). The placement of
a cell is planned once, for ``Cells.plan_tokens`` (a request's length is not known when it is
placed); each request then runs its own N under it, with load and latency from ``Cells.lengths``,
N capped at the longest context the profile covers (the count is reported). Service time: its
latency at N (``service="latency"``) or the cell's deadline stretched by latency(N) /
latency(plan_tokens) (``"deadline"``; exactly the deadline when N = plan_tokens). The rate rule
then uses the drawn requests' mean no-split work.

Memory. With ``server_mem_gb`` the server also has M = server_mem_gb * 1e9 bytes, and a request
holds its server-side KV cache at s+N tokens (and, with ``weights="per-request"``, the weights of
its server layers: SPEC §8's ``server_mem`` per request) for its whole service time. With
``weights="shared"`` (the default) the weights are loaded once: the layers any of the method's
placements run on the server (``Cells.resident_bytes``) are reserved from M. A request starts when
enough FLOP capacity *and* memory are free (``fifo_starts`` with two resources). Both limits are
reported, as the mean number of requests each resource holds at once (Ω·E[t] / E[demand·t] and
M_free·E[t] / E[mem·t]); the smaller one binds.
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
from .lengths import LengthCosts, TokenDist
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
    lengths: dict[str, LengthCosts] | None = None   # per method: costs as functions of N (generation)
    plan_tokens: int = 0                            # the N the placements were planned for
    resident_bytes: dict[str, float] = field(default_factory=dict)   # shared server weights per method

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
    tokens: TokenDist | None = None       # each request's output length; None: every cell's plan_tokens
    server_mem_gb: float | None = None    # server memory, 1e9 bytes; None: not limited
    weights: str = "shared"               # shared: loaded once, reserved; per-request: held by each request

    def __post_init__(self) -> None:
        if self.requests < 1 or self.max_repeats < 1:
            raise SplittuiError("simulate: requests and max_repeats must be >= 1")
        for name in ("concurrency", "load", "rate", "beta", "server_mem_gb"):
            v = getattr(self, name)
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise SplittuiError(f"simulate: {name} must be a finite number > 0, got {v!r}")
        if self.rate is not None and self.beta is not None:
            raise SplittuiError("simulate: give the arrival rate or beta, not both")
        if self.service not in ("deadline", "latency"):
            raise SplittuiError("simulate: service must be deadline or latency")
        if self.weights not in ("shared", "per-request"):
            raise SplittuiError("simulate: weights must be shared or per-request")
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
    flops_limit: float = math.nan    # mean requests the capacity Ω holds at once
    mem_limit: float = math.nan      # mean requests the free memory holds at once (inf: not limited)
    binding: str = "flops"           # the resource with the smaller limit: flops or memory
    mean_mem_bytes: float = math.nan  # memory a request holds (KV, + weights if per-request); NaN: unknown
    resident_bytes: float = 0.0      # shared weights reserved from the memory
    mem_utilisation: float = math.nan  # memory-seconds used / (free memory * horizon)

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("method", "served", "mean_wait_s", "p50_wait_s", "p95_wait_s",
                                              "p99_wait_s", "max_wait_s", "utilisation", "throughput_per_s",
                                              "offered_load", "flops_limit", "mem_limit", "binding",
                                              "mean_mem_bytes", "resident_bytes", "mem_utilisation")}


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
    plan_tokens: int = 0
    mean_tokens: float = math.nan     # mean drawn output length (after capping); NaN: no distribution
    capped: int = 0                   # requests whose drawn length was cut to what the profile covers
    server_mem_bytes: float | None = None


def _service(cells: Cells, method: str, service: str) -> tuple[np.ndarray, np.ndarray]:
    """(time per execution, s; demand per second) per cell for one method."""
    t = (cells.deadline_ms if service == "deadline" else cells.latency_ms[method]) / 1e3
    t = np.maximum(t, 1e-12)
    return t, cells.server_load[method] / t


_CHUNK = 1 << 18   # requests per block when evaluating length costs (bounds the (rows, K) temporaries)


@dataclass(frozen=True, slots=True, eq=False)
class _Stream:
    """One method's requests: time per execution (s), FLOP-capacity demand, memory held (bytes)."""

    t: np.ndarray
    demand: np.ndarray
    mem: np.ndarray | None
    load: np.ndarray


_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def _length_costs(lc: LengthCosts, pick: np.ndarray, tokens: np.ndarray) -> _Arrays:
    """(load, latency ms, weight bytes, KV bytes) per request, evaluated in blocks."""
    parts = [lc.costs(pick[i:i + _CHUNK], tokens[i:i + _CHUNK]) for i in range(0, len(pick), _CHUNK)]

    def cat(name: str) -> np.ndarray | None:
        vals = [getattr(p, name) for p in parts]
        return None if not vals or vals[0] is None else np.concatenate(vals)
    load, ms = cat("load"), cat("latency_ms")
    assert load is not None and ms is not None
    return load, ms, cat("weight_bytes"), cat("kv_bytes")


def _stream(cells: Cells, method: str, cfg: SimConfig, pick: np.ndarray, tokens: np.ndarray | None) -> _Stream:
    t_cell, d_cell = _service(cells, method, cfg.service)
    if tokens is None and cfg.server_mem_gb is None:
        return _Stream(t=t_cell[pick], demand=d_cell[pick], mem=None, load=cells.server_load[method][pick])
    lc = (cells.lengths or {}).get(method)
    if lc is None:
        raise SplittuiError(f"simulate: output lengths and memory need the cells' costs by length for {method}")
    n = np.full(len(pick), cells.plan_tokens, dtype=np.int64) if tokens is None else tokens
    load, ms, w, kv = _length_costs(lc, pick, n)
    mem = None
    if cfg.server_mem_gb is not None:
        if w is None or kv is None:
            raise SplittuiError("--server-mem-gb: the profile lacks weight_bytes and kv_bytes per layer (SPEC §8)")
        mem = kv + w if cfg.weights == "per-request" else kv
    if tokens is None:
        return _Stream(t=t_cell[pick], demand=d_cell[pick], mem=mem, load=cells.server_load[method][pick])
    if cfg.service == "latency":
        t = ms / 1e3
    else:
        planned = cells.latency_ms[method][pick]
        t = cells.deadline_ms[pick] / 1e3 * np.where(planned > 0, ms / np.where(planned > 0, planned, 1.0), 1.0)
    t = np.maximum(t, 1e-12)
    return _Stream(t=t, demand=load / t, mem=mem, load=load)


def _rate(cells: Cells, cfg: SimConfig, capacity: float, ns: _Stream, reps: np.ndarray) -> float:
    if cfg.rate is not None:
        return cfg.rate
    if cfg.beta is not None:
        return 1.0 / cfg.beta
    if cfg.tokens is None:
        work = float(cells.server_load["no-split"].mean()) * (cfg.max_repeats + 1) / 2
    else:
        work = float(np.mean(ns.load * reps))
    if not work > 0:
        raise SplittuiError("simulate: the no-split requests do no server work, so --load sets no rate")
    return cfg.load * capacity / work


def _limits(capacity: float, dur: np.ndarray, demand: np.ndarray, mem: np.ndarray | None,
            free_mem: float | None) -> tuple[float, float]:
    """Mean requests at once that the FLOP capacity and the free memory hold (over server requests)."""
    on = demand > 0 if mem is None else (demand > 0) | (mem > 0)
    if not on.any():
        return math.inf, math.inf
    d = dur[on]
    flops = capacity * d.mean() / max(float((demand[on] * d).mean()), 1e-300)
    if mem is None or free_mem is None:
        return flops, math.inf
    return flops, free_mem * d.mean() / max(float((mem[on] * d).mean()), 1e-300)


def _stats(method: str, arrival: NDArray[np.float64], starts: NDArray[np.float64], dur: NDArray[np.float64],
           demand: NDArray[np.float64], capacity: float, horizon: float, *, mem: NDArray[np.float64] | None = None,
           free_mem: float | None = None, resident: float = 0.0) -> MethodStats:
    wait = starts - arrival
    ends = starts + dur
    held = np.clip(np.minimum(ends, horizon) - starts, 0.0, None)
    used = demand * held
    idx = np.unique(np.linspace(0, len(wait) - 1, _CURVE_POINTS).astype(np.int64))
    p50, p95, p99 = np.percentile(wait, (50, 95, 99))
    flops_limit, mem_limit = _limits(capacity, dur, demand, mem, free_mem)
    return MethodStats(
        method=method, served=int(np.count_nonzero(ends <= horizon)), mean_wait_s=float(wait.mean()),
        p50_wait_s=float(p50), p95_wait_s=float(p95), p99_wait_s=float(p99), max_wait_s=float(wait.max()),
        utilisation=float(used.sum() / (capacity * horizon)),
        throughput_per_s=float(np.count_nonzero(ends <= horizon) / horizon),
        offered_load=float((demand * dur).sum() / (capacity * horizon)),
        curve_t=arrival[idx], curve_cum_wait_s=np.cumsum(wait)[idx],
        flops_limit=flops_limit, mem_limit=mem_limit, binding="memory" if mem_limit < flops_limit else "flops",
        mean_mem_bytes=math.nan if mem is None else float(mem.mean()), resident_bytes=resident,
        mem_utilisation=math.nan if mem is None or not free_mem else float((mem * held).sum() / (free_mem * horizon)))


def _free_memory(cells: Cells, cfg: SimConfig, method: str) -> tuple[float | None, float]:
    """(memory free for requests, bytes; weights reserved) for one method; None: not limited."""
    if cfg.server_mem_gb is None:
        return None, 0.0
    total = cfg.server_mem_gb * 1e9
    resident = cells.resident_bytes.get(method, 0.0) if cfg.weights == "shared" else 0.0
    if not total > resident:
        raise SplittuiError(f"--server-mem-gb {cfg.server_mem_gb:g}: the {method} placements keep "
                            f"{resident / 1e9:.4g} GB of weights on the server, no room for any KV cache")
    return total - resident, resident


def _draw_tokens(cells: Cells, cfg: SimConfig, rng: np.random.Generator,
                 pick: np.ndarray) -> tuple[np.ndarray | None, int]:
    """(tokens capped to what each cell's profile covers, count capped), or (None, 0) without a distribution."""
    if cfg.tokens is None:
        return None, 0
    lc = (cells.lengths or {}).get("no-split")
    if lc is None:
        raise SplittuiError("simulate: --gen-tokens-dist needs the cells' costs by length")
    drawn = cfg.tokens.sample(rng, len(pick))
    top = lc.max_tokens[pick]
    return np.minimum(drawn, top), int(np.count_nonzero(drawn > top))


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
    rng = np.random.default_rng(cfg.seed)
    gaps = rng.exponential(1.0, cfg.requests)
    pick = rng.integers(0, cells.n, cfg.requests)
    reps = rng.integers(1, cfg.max_repeats + 1, cfg.requests).astype(np.float64)
    tokens, capped = _draw_tokens(cells, cfg, rng, pick)
    streams = {"no-split": _stream(cells, "no-split", cfg, pick, tokens)}
    rate = _rate(cells, cfg, capacity, streams["no-split"], reps)
    arrival = np.cumsum(gaps * (1.0 / rate))
    horizon = float(arrival[-1])
    stats = {}
    n_methods = len(cfg.methods)
    for k, method in enumerate(cfg.methods):
        st = streams.pop(method, None) or _stream(cells, method, cfg, pick, tokens)
        dur = st.t * reps
        free_mem, resident = _free_memory(cells, cfg, method)
        report = None if progress is None else (lambda d, n, k=k: progress(k * n + d, n_methods * n))
        starts = fifo_starts(arrival, dur, st.demand, capacity, memory=st.mem, mem_capacity=free_mem,
                             progress=report)
        stats[method] = _stats(method, arrival, starts, dur, st.demand, capacity, horizon, mem=st.mem,
                               free_mem=free_mem, resident=resident)
    return SimResult(config=cfg, capacity=capacity, rate_per_s=rate, beta_s=1.0 / rate, horizon_s=horizon,
                     cells=cells.n, stats=stats, elapsed_s=time.perf_counter() - t0, plan_tokens=cells.plan_tokens,
                     mean_tokens=math.nan if tokens is None else float(tokens.mean()), capped=capped,
                     server_mem_bytes=None if cfg.server_mem_gb is None else cfg.server_mem_gb * 1e9)
