"""Solvers over a chain of K tiers (SPEC §11): the DP over time units, the exact labels, brute force.

Both the DP and the exact solver keep, per layer and tier, the Pareto labels (time, cost): a label is
kept only if no other label of the same state is both no slower and no costlier, and only if it can
still reach the end in time (least remaining latency, a K-state shortest path run backwards).

- **dp**: times integerised with the unit T, rounding up (SPEC §4: ``⌈t/T − 1e-9⌉`` per compute time
  and per hop crossed), budget ``W = ⌊Λ/T + 1e-9⌋``. Its labels are the steps of the dense table
  ``V[l][k][w]`` (least cost of layers 1..l with layer l on tier k within w units), stored sparsely as
  `dp_labels` does for two tiers. O(L·K²·m log m) for m labels per state, m ≤ W + 1.
- **exact**: the same pass on float times with the deadline itself; with TTFT/TPOT limits the labels are
  (ttft, decode, cost), Pareto in all three (SPEC §8).
- **brute-force**: every one of K^L policies, for tests and small chains; it honours every constraint.
- **no-split** (every layer on the last tier) and **all-client** (every layer on the first).

Pins (a layer fixed to a tier) remove the other tiers from that layer's choice in every solver. Per-tier
memory limits (SPEC §10) are honoured by brute force, and by dp and exact through `tiers_memory` (labels
with memory rows, exact) whenever some tier's limit can bind; no-split and all-client are checked after.

The label passes are in `tiers_labels` (re-exported here), the memory-row passes in `tiers_memory`.

Two tiers with the default weights run the two-tier solvers themselves (`solve_tiers`), so K = 2 is
today's problem bit for bit, pins, memory and limits included.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import SplittuiError
from ..model import Profile, Result, Scenario
from ..tiers import (
    TierPhases,
    Topology,
    memory_need,
    memory_violations,
    score,
    tier_min_latency,
    tier_phases,
)
from .tiers_labels import _slack, tier_dp, tier_dp_front, tier_exact, tier_exact_limits, tier_front, tier_front_limits
from .tiers_memory import LABEL_CAP, GaveUp, binding_tiers, memory_tier_policy

__all__ = ["tier_section", "two_sided",
           "TierResult", "TIER_SOLVERS", "tier_dp", "tier_exact", "tier_front", "tier_front_limits", "tier_dp_front",
           "tier_exact_limits", "tier_brute_force", "solve_tiers", "solve_tiers_phases", "evaluate_tiers",
           "from_two_tier", "BRUTE_FORCE_MAX"]

TIER_SOLVERS = ("dp", "exact", "no-split", "all-client", "brute-force")
BRUTE_FORCE_MAX = 200_000     # policies brute force will enumerate
_I = NDArray[np.int64]
_A = NDArray[Any]   # float times (exact) or whole units (dp)


@dataclass(frozen=True, slots=True)
class TierResult:
    """What a tier solver returns; `tiers`: tier index per layer (0 = the first tier), None if infeasible."""

    solver: str
    feasible: bool
    tiers: tuple[int, ...] | None
    latency_ms: float | None
    objective: float | None               # Σ w[x_l]·r_l
    work: tuple[float, ...] | None        # per tier: Σ r_l of its layers
    total_work: float
    compute_ms: tuple[float, ...] | None
    hop_ms: tuple[tuple[float, float], ...] | None
    crossings: int | None
    min_latency_ms: float
    deadline_ms: float
    solve_ms: float = 0.0
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    violations: tuple[str, ...] = ()
    mem_need_bytes: tuple[float, ...] = ()

    @property
    def shares(self) -> tuple[float, ...] | None:
        if self.work is None:
            return None
        return tuple(w / self.total_work if self.total_work > 0 else 0.0 for w in self.work)


def tier_brute_force(ph: TierPhases, ttft_ms: float | None = None, tpot_ms: float | None = None,
                     names: Sequence[str] = ()) -> tuple[int, ...] | None:
    """Every policy: the least objective (then the least latency) meeting every constraint."""
    c = ph.composite()
    if c.k ** c.n > BRUTE_FORCE_MAX:
        raise SplittuiError(f"brute-force: {c.k}^{c.n} policies is over {BRUTE_FORCE_MAX:,}; use exact")
    choices = [range(c.k) if c.pin is None or c.pin[li] < 0 else (int(c.pin[li]),) for li in range(c.n)]
    best: tuple[float, float, tuple[int, ...]] | None = None
    for x in itertools.product(*choices):
        s = score(c, x)
        if _violations(ph, x, s.latency_ms, ttft_ms, tpot_ms, names or [str(i) for i in range(c.k)]):
            continue
        key = (s.objective, s.latency_ms, x)
        if best is None or key[:2] < best[:2]:
            best = key
    return None if best is None else best[2]


def _violations(ph: TierPhases, x: Sequence[int], latency: float, ttft_ms: float | None, tpot_ms: float | None,
                names: Sequence[str]) -> tuple[str, ...]:
    c = ph.prefill
    out = []
    if latency > _slack(c.deadline_ms):
        out.append(f"latency {latency:,.1f} ms > deadline {c.deadline_ms:,.1f} ms")
    if ttft_ms is not None and score(c, x).latency_ms > _slack(ttft_ms):
        out.append(f"TTFT {score(c, x).latency_ms:,.1f} ms > limit {ttft_ms:,.1f} ms")
    if tpot_ms is not None and ph.decode is not None and ph.steps:
        tpot = score(ph.decode, x).latency_ms / ph.steps
        if tpot > _slack(tpot_ms):
            out.append(f"TPOT {tpot:,.2f} ms > limit {tpot_ms:,.2f} ms")
    if c.pin is not None:
        bad = [li for li in range(c.n) if c.pin[li] >= 0 and x[li] != c.pin[li]]
        if bad:
            out.append(f"layers {bad} are off their pinned tier")
    return (*out, *memory_violations(ph, x, names))


def evaluate_tiers(ph: TierPhases, policy: Sequence[int] | None, sc: Scenario, *, solver: str = "given",
                   solve_ms: float = 0.0, names: Sequence[str] = (), min_lat: float | None = None) -> TierResult:
    """Score a tier policy exactly: latency, work per tier, TTFT/TPOT, and every constraint it breaks."""
    c = ph.composite()
    m = tier_min_latency(c) if min_lat is None else min_lat
    total = float(c.reward.max(axis=0).sum()) if c.k else 0.0
    if policy is None:
        return TierResult(solver=solver, feasible=False, tiers=None, latency_ms=None, objective=None, work=None,
                          total_work=total, compute_ms=None, hop_ms=None, crossings=None, min_latency_ms=m,
                          deadline_ms=c.deadline_ms, solve_ms=solve_ms)
    x = tuple(int(v) for v in policy)
    s = score(c, x)
    ttft = score(ph.prefill, x).latency_ms
    tpot = score(ph.decode, x).latency_ms / ph.steps if ph.decode is not None and ph.steps else None
    why = _violations(ph, x, s.latency_ms, sc.ttft_ms, sc.tpot_ms, names or [str(i) for i in range(c.k)])
    return TierResult(solver=solver, feasible=not why, tiers=x, latency_ms=s.latency_ms, objective=s.objective,
                      work=s.work, total_work=float(sum(s.work)), compute_ms=s.compute_ms, hop_ms=s.hop_ms,
                      crossings=s.crossings, min_latency_ms=m, deadline_ms=c.deadline_ms, solve_ms=solve_ms,
                      ttft_ms=ttft if sc.gen_tokens else None, tpot_ms=tpot, violations=why,
                      mem_need_bytes=memory_need(ph, x))


def _policy(ph: TierPhases, sc: Scenario, solver: str, names: Sequence[str]) -> tuple[int, ...] | None:
    c = ph.composite()
    limits = sc.ttft_ms is not None or sc.tpot_ms is not None
    if solver in ("dp", "exact") and binding_tiers(ph):
        if solver == "dp":
            return memory_tier_policy(ph, unit_ms=sc.unit_ms, rounding=sc.rounding)
        return memory_tier_policy(ph, ttft_ms=sc.ttft_ms, tpot_ms=sc.tpot_ms)
    if solver == "dp":
        return tier_dp(c, sc.unit_ms, sc.rounding)
    if solver == "exact":
        return tier_exact_limits(ph, sc.ttft_ms, sc.tpot_ms) if limits else tier_exact(c)
    if solver == "brute-force":
        return tier_brute_force(ph, sc.ttft_ms, sc.tpot_ms, names)
    fixed = 0 if solver == "all-client" else c.k - 1
    return tuple(fixed if c.pin is None or c.pin[li] < 0 else int(c.pin[li]) for li in range(c.n))


def solve_tiers_phases(ph: TierPhases, sc: Scenario, solver: str = "dp", *, names: Sequence[str] = (),
                       min_lat: float | None = None) -> TierResult:
    """One K-tier solver on precomputed tier costs (any K ≥ 2; the generic engine)."""
    if solver not in TIER_SOLVERS:
        raise SplittuiError(f"solver {solver!r} over more than two tiers: choose from {', '.join(TIER_SOLVERS)}")
    t0 = time.perf_counter()
    note: tuple[str, ...] = ()
    try:
        policy = _policy(ph, sc, solver, names)
    except GaveUp as exc:
        from dataclasses import replace

        policy = _policy(replace(ph, mem_limits=(None,) * ph.prefill.k), sc, solver, names)
        note = (f"memory search gave up at layer {exc.layer} (over {LABEL_CAP} labels): this policy ignores the "
                "memory limits",)
    ms = (time.perf_counter() - t0) * 1e3
    res = evaluate_tiers(ph, policy, sc, solver=solver, solve_ms=ms, names=names, min_lat=min_lat)
    if note:
        from dataclasses import replace

        res = replace(res, feasible=False, violations=(*res.violations, *note))
    if res.tiers is not None and solver in ("no-split", "all-client") and not res.feasible:
        return evaluate_tiers(ph, None, sc, solver=solver, solve_ms=ms, names=names, min_lat=res.min_latency_ms)
    return res


def from_two_tier(res: Result) -> TierResult:
    """A two-tier result as a tier result: client = tier 0, server = tier 1 (the same numbers)."""
    bd = res.breakdown
    need = tuple(v for v in (res.client_mem_need_bytes, res.server_mem_need_bytes) if v is not None)
    work = None if res.server_load is None else (res.total_load - res.server_load, res.server_load)
    return TierResult(solver=res.solver, feasible=res.feasible,
                      tiers=None if res.policy is None else tuple(0 if v else 1 for v in res.policy),
                      latency_ms=res.latency_ms, objective=res.server_load, work=work, total_work=res.total_load,
                      compute_ms=None if bd is None else (bd.client_ms, bd.server_ms),
                      hop_ms=None if bd is None else ((bd.upload_ms, bd.download_ms),), crossings=res.switches,
                      min_latency_ms=res.min_latency_ms, deadline_ms=res.deadline_ms, solve_ms=res.solve_ms,
                      ttft_ms=res.ttft_ms, tpot_ms=res.tpot_ms, violations=res.violations,
                      mem_need_bytes=need if len(need) == 2 else ())


def _two_tier_scenario(sc: Scenario, topo: Topology) -> Scenario:
    hop, (first, last) = topo.hops[0], topo.tiers
    sides = ("client", "server")
    return sc.replace(up_mbps=hop.up_mbps, down_mbps=hop.down_mbps, delay_ms=hop.delay_ms,
                      start=sides[topo.start], end=sides[topo.end],
                      client_mem_gb=first.mem_gb if first.mem_gb is not None else sc.client_mem_gb,
                      server_mem_gb=last.mem_gb if last.mem_gb is not None else sc.server_mem_gb,
                      pin_client=(*sc.pin_client, *(layer for layer, t in topo.pins if t == 0)),
                      pin_server=(*sc.pin_server, *(layer for layer, t in topo.pins if t == 1)))


def delegates(topo: Topology) -> bool:
    """Two tiers with the default weights: today's two-tier solvers answer (bit for bit)."""
    return topo.k == 2 and topo.weight_vector == (0.0, 1.0)


def solve_tiers(profiles: Sequence[Profile], sc: Scenario, topo: Topology,
                solvers: Sequence[str] = ("dp", "exact")) -> dict[str, TierResult]:
    """Several solvers on one topology. Two tiers (default weights): the two-tier solvers on profiles[1]."""
    if delegates(topo) and profiles[0] is profiles[1]:
        from . import solve_all

        return {k: from_two_tier(v) for k, v in solve_all(profiles[1], _two_tier_scenario(sc, topo), solvers).items()}
    if topo.k > 2 and (sc.has_memory_limits or sc.has_pins):
        raise SplittuiError("over more than two tiers, give memory per tier (--tier NAME=DEVICE,RUNTIME,MEM_GB) "
                            "and pins in the topology file, not the two-sided flags")
    ph = tier_phases(profiles, sc, topo)
    names = [t.name for t in topo.tiers]
    m = tier_min_latency(ph.composite())
    return {s: solve_tiers_phases(ph, sc, s, names=names, min_lat=m) for s in solvers}


def tier_section(topo: Topology, profile: Profile, r: TierResult) -> dict[str, Any]:
    """The ``tiers`` field of a policy document (what `splittui solve --tier --out` writes)."""
    names = [t.name for t in topo.tiers]
    return {**topo.to_dict(),
            "policy": None if r.tiers is None else [t + 1 for t in r.tiers],
            "placement": None if r.tiers is None else [{"name": layer.name, "tier": names[t]}
                                                      for layer, t in zip(profile.layers, r.tiers, strict=True)],
            "strip": None if r.tiers is None else "".join(topo.letters[t] for t in r.tiers),
            "objective": r.objective, "work": r.work, "shares": r.shares,
            "compute_ms": r.compute_ms, "hop_ms": None if r.hop_ms is None else [list(h) for h in r.hop_ms],
            "mem_need_bytes": list(r.mem_need_bytes) or None}


def two_sided(r: TierResult) -> Result:
    """A tier result seen from the first tier (client = tier 0, server = the rest): the policy/2 fields."""
    from ..model import Breakdown

    bd = None
    if r.compute_ms is not None and r.hop_ms is not None:
        bd = Breakdown(client_ms=r.compute_ms[0], server_ms=sum(r.compute_ms[1:]),
                       upload_ms=sum(u for u, _ in r.hop_ms), download_ms=sum(d for _, d in r.hop_ms))
    load = None if r.work is None else sum(r.work[1:])
    return Result(solver=r.solver, feasible=r.feasible,
                  policy=None if r.tiers is None else tuple(int(t == 0) for t in r.tiers),
                  latency_ms=r.latency_ms, breakdown=bd, server_load=load, total_load=r.total_work,
                  server_share=None if load is None else (load / r.total_work if r.total_work > 0 else 0.0),
                  switches=r.crossings, min_latency_ms=r.min_latency_ms, deadline_ms=r.deadline_ms,
                  solve_ms=r.solve_ms, ttft_ms=r.ttft_ms, tpot_ms=r.tpot_ms, violations=r.violations)
