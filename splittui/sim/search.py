"""Capacity search: the largest arrival rate one server sustains under percentile targets (docs/capacity.md).

A rate *meets* the targets when, for every seed, the simulation of `requests` Poisson arrivals (the
first `warmup` fraction left out of the percentiles) drops nothing and every target ``pXX(metric) ≤
ms`` holds. The search probes exponentially from a start rate (doubling while the targets hold,
halving while they fail) and then bisects [last rate met, first rate missed] until the bracket's width
is at most `rel_tol` of its lower end. The same seeds at every rate (common random numbers) keep the
answer monotone in the targets. Pure numpy; no UI import.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import SplittuiError
from .capacity import METRICS, CapacityRun, SimOptions, poisson_workload, simulate_server
from .server import ClientClass, ServerModel

__all__ = ["Target", "parse_target", "SearchOptions", "Probe", "Capacity", "capacity_search", "saturated_resource"]


@dataclass(frozen=True, slots=True)
class Target:
    """``pXX(metric) ≤ ms``, metric one of ttft, tpot, e2e."""

    metric: str
    q: float
    ms: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS or not (0 < self.q <= 100) or not (self.ms > 0 and math.isfinite(self.ms)):
            raise SplittuiError(f"target p{self.q:g}:{self.metric}:{self.ms:g}: want pXX:METRIC:MS with XX in "
                                f"(0, 100], METRIC one of {', '.join(METRICS)}, MS > 0")

    @property
    def label(self) -> str:
        return f"p{self.q:g} {self.metric.upper()} <= {self.ms:g} ms"

    @property
    def key(self) -> str:
        return f"p{self.q:g}_{self.metric}_ms"


def parse_target(text: str) -> Target:
    """``p90:ttft:1000`` → Target('ttft', 90, 1000)."""
    parts = text.strip().lower().split(":")
    try:
        q, metric, ms = parts
        return Target(metric=metric, q=float(q.removeprefix("p")), ms=float(ms))
    except ValueError:
        raise SplittuiError(f"target {text!r}: want pXX:METRIC:MS, e.g. p90:ttft:1000 (METRIC one of "
                            f"{', '.join(METRICS)})") from None


@dataclass(frozen=True, slots=True)
class SearchOptions:
    requests: int = 2000
    seeds: tuple[int, ...] = (0,)
    rel_tol: float = 0.03
    warmup: float = 0.1             # leading fraction of requests left out of the percentiles
    start_rate: float | None = None   # req/s; default from the unloaded server time of a request
    max_probes: int = 40
    sim: SimOptions = SimOptions()

    def __post_init__(self) -> None:
        if self.requests < 10 or not self.seeds or not (0 < self.rel_tol < 1) or not (0 <= self.warmup < 0.9):
            raise SplittuiError("search: requests >= 10, one seed at least, 0 < rel_tol < 1, 0 <= warmup < 0.9")


@dataclass(frozen=True, slots=True)
class Probe:
    """One rate tried: the worst value of each target over the seeds, and the server at that rate."""

    rate_per_s: float
    values: tuple[float, ...]       # per target, ms (worst seed)
    ok: bool
    dropped: int
    utilisation: float
    mean_batch: float
    peak_mem_frac: float
    prefill_share: float            # of the server's busy time
    compute_share: float            # of busy decode time, in compute-bound layers
    in_server: float                # time-average requests in the server (admitted or waiting)


@dataclass(frozen=True, slots=True, eq=False)
class Capacity:
    """The search's answer: the rate met, the one missed above it, which target and resource bind."""

    rate_per_s: float               # largest rate met (0: the targets fail even unloaded)
    missed_rate_per_s: float        # smallest rate missed
    concurrency: float              # requests in the server at once at `rate_per_s` (time average)
    binding: str                    # the target furthest over at the missed rate
    resource: str                   # what saturates at the missed rate
    probes: tuple[Probe, ...] = field(default_factory=tuple)
    targets: tuple[Target, ...] = ()

    @property
    def at_capacity(self) -> Probe | None:
        ok = [p for p in self.probes if p.ok and p.rate_per_s == self.rate_per_s]
        return ok[0] if ok else None


def _values(run: CapacityRun, targets: tuple[Target, ...], warmup: float) -> tuple[float, ...]:
    skip = int(run.arrivals * warmup)
    out = []
    for t in targets:
        v = {"ttft": run.ttft_ms, "tpot": run.tpot_ms, "e2e": run.e2e_ms}[t.metric][skip:]
        v = v[np.isfinite(v)]
        out.append(float(np.percentile(v, t.q)) if v.size else (0.0 if t.metric == "tpot" else math.inf))
    return tuple(out)


def _probe(rate: float, classes: list[ClientClass], server: ServerModel, targets: tuple[Target, ...],
           opt: SearchOptions) -> Probe:
    worst = [-math.inf] * len(targets)
    dropped, last = 0, None
    for seed in opt.seeds:
        run = simulate_server(poisson_workload(rate, opt.requests, classes, seed=seed), classes, server, opt.sim)
        worst = [max(a, b) for a, b in zip(worst, _values(run, targets, opt.warmup))]
        dropped += run.dropped
        last = run
    assert last is not None
    ok = dropped == 0 and all(v <= t.ms for v, t in zip(worst, targets))
    busy = max(last.busy_ms, 1e-12)
    limit = last.mem_limit_bytes
    return Probe(rate_per_s=rate, values=tuple(worst), ok=ok, dropped=dropped, utilisation=last.utilisation,
                 mean_batch=last.mean_batch, peak_mem_frac=last.peak_mem_bytes / limit if math.isfinite(limit) else 0.0,
                 prefill_share=max(busy - last.decode_ms, 0.0) / busy,
                 compute_share=last.compute_bound_ms / last.decode_ms if last.decode_ms > 0 else 0.0,
                 in_server=last.in_server_mean)


def _start_rate(classes: list[ClientClass]) -> float:
    """Requests/s at which the server would be a quarter busy serving requests one at a time."""
    w = np.array([c.weight for c in classes])
    work = np.array([float(c.prefill_parts(np.array([float(c.prompt)]))[1][0]) +
                     max(c.output - 1, 0) * c.step_server_ms for c in classes])
    mean = float(w @ work / w.sum())
    return 0.25 * 1e3 / mean if mean > 0 else 1.0


def saturated_resource(p: Probe) -> str:
    """The server resource that gives out at a probe (the first rate missed)."""
    if p.peak_mem_frac >= 0.95:
        return "server memory (KV cache)"
    if p.prefill_share >= 0.5:
        return "server compute (prefill)"
    if p.compute_share >= 0.5:
        return "server compute (batched decode)"
    return "server memory bandwidth (batched decode)"


def capacity_search(classes: list[ClientClass], server: ServerModel, targets: tuple[Target, ...],
                    opt: SearchOptions = SearchOptions(), *,
                    progress: Callable[[int, int], None] | None = None) -> Capacity:
    """Exponential probe then bisection (see the module docstring); O(probes · seeds · requests)."""
    if not targets:
        raise SplittuiError("capacity: give at least one target")
    if not any(c.on_server for c in classes):
        return Capacity(rate_per_s=math.inf, missed_rate_per_s=math.inf, concurrency=0.0, binding="none",
                        resource="none: no request uses the server", targets=targets)
    probes: list[Probe] = []

    def probe(rate: float) -> Probe:
        p = _probe(rate, classes, server, targets, opt)
        probes.append(p)
        if progress is not None:
            progress(len(probes), opt.max_probes)
        return p

    rate = opt.start_rate or _start_rate(classes)
    lo: Probe | None = None
    hi: Probe | None = None
    first = probe(rate)
    if first.ok:
        lo = first
        while hi is None and len(probes) < opt.max_probes:
            p = probe(lo.rate_per_s * 2)
            lo, hi = (p, None) if p.ok else (lo, p)
    else:
        hi = first
        while lo is None and len(probes) < opt.max_probes and hi.rate_per_s > rate / 4 ** 5:
            p = probe(hi.rate_per_s / 4)
            lo, hi = (p, hi) if p.ok else (None, p)
    while lo is not None and hi is not None and len(probes) < opt.max_probes and \
            hi.rate_per_s - lo.rate_per_s > opt.rel_tol * lo.rate_per_s:
        p = probe(math.sqrt(lo.rate_per_s * hi.rate_per_s))
        lo, hi = (p, hi) if p.ok else (lo, p)
    return _answer(lo, hi, targets, probes)


def _answer(lo: Probe | None, hi: Probe | None, targets: tuple[Target, ...], probes: list[Probe]) -> Capacity:
    if hi is None:
        binding, resource = "none within the probes", "none"
    else:
        ratios = [v / t.ms for v, t in zip(hi.values, targets)]
        binding = targets[int(np.argmax(ratios))].label if not hi.dropped else "dropped requests"
        resource = saturated_resource(hi) if lo is not None else "none: the targets fail unloaded (client, link)"
    rate = lo.rate_per_s if lo is not None else 0.0
    return Capacity(rate_per_s=rate, missed_rate_per_s=hi.rate_per_s if hi is not None else math.inf,
                    concurrency=lo.in_server if lo is not None else 0.0, binding=binding, resource=resource,
                    probes=tuple(probes), targets=targets)
