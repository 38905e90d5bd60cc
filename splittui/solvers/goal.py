"""Inverse queries (goal seek): the least deadline or the least bandwidth that reaches a server target.

A *target* caps the server's work: a share of the model's total load (``max_share``) or an absolute
load (``max_load``). Each solver answers the forward question "what load at deadline Λ?"; these
functions answer it backwards, per solver and exactly to the model's precision:

- exact: its answers change only at latencies of Pareto-optimal policies, so the least deadline is
  the latency of one such policy. `exact_frontier` walks the whole Pareto front from the slowest,
  least-loaded policy down to the fastest: every point is exact's answer at the deadline just below the
  last, read from one label pass's last fronts (`exact.final_fronts`); with limits, pins or memory
  limits, or where that pass would be capped, one exact solve per point.
- dp: its answer at Λ is the DP's frontier at ``W = ⌊Λ/T⌋`` (SPEC §4), so one DP pass gives the least
  deadline on the grid ``w·T``.
- greedy, single-split, no-split, all-client: their answers change only at prefix-policy latencies,
  and the load they reach falls as Λ grows, so a bisection over those candidates is exact.

With generated tokens (SPEC §8) the queries run on the request's composite chain: the deadline is the
whole request's. TTFT/TPOT limits are constraints of every query: an answer's policy meets them (a TTFT
limit at or above a trial deadline is implied by it and dropped for that trial). With limits, exact walks
the Pareto front of the policies that meet them (`request_frontier`, its exact solver being exact under
the limits); dp and the baselines keep their load answer and move up their own candidate deadlines to
the first whose policy meets the limits.

The least bandwidth is a bisection over a log scale (every solver's load falls as bandwidth grows:
transfers only get shorter); it is reported to a relative precision of ``rel_tol``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..costs import Costs
from ..errors import SplittuiError
from ..generation import Phases, phase_costs, request_costs
from ..model import Profile, Result, Scenario
from .baselines import prefix_latencies
from .energy import uses_energy
from .goal_frontier import (
    FrontierCancelled,
    FrontierPoint,
    _slack,
    _solve_at,
    exact_frontier,
    one_pass,
    scenario_at,
    walk_frontier,
)
from .request import has_limits

if TYPE_CHECKING:
    from . import Frontier

__all__ = ["Target", "Goal", "least_deadline", "least_deadline_costs", "least_bandwidth", "exact_frontier",
           "FrontierPoint"]

GOAL_SOLVERS = ("dp", "exact", "greedy", "single-split", "no-split", "all-client")


@dataclass(frozen=True, slots=True)
class Target:
    """The server's work allowed: at most a share of the total load, or at most an absolute load."""

    max_share: float | None = None
    max_load: float | None = None

    def __post_init__(self) -> None:
        if (self.max_share is None) == (self.max_load is None):
            raise SplittuiError("goal: give exactly one of max_share and max_load")
        if self.max_share is not None and not (math.isfinite(self.max_share) and 0 <= self.max_share <= 1):
            raise SplittuiError(f"goal: max_share must be between 0 and 1, got {self.max_share!r}")
        if self.max_load is not None and not (math.isfinite(self.max_load) and self.max_load >= 0):
            raise SplittuiError(f"goal: max_load must be a finite number >= 0, got {self.max_load!r}")

    def load_cap(self, total_load: float) -> float:
        """The cap as a load, with float noise absorbed (a share of exactly X must count as <= X)."""
        cap = self.max_load if self.max_load is not None else float(self.max_share or 0.0) * total_load
        return cap + 1e-9 * max(1.0, abs(total_load))

    def describe(self) -> str:
        if self.max_share is not None:
            return f"server share <= {100 * self.max_share:g} %"
        return f"server load <= {self.max_load:.6g}"


@dataclass(frozen=True, slots=True)
class Goal:
    """One solver's answer to an inverse query; ``value`` is None when no value reaches the target."""

    solver: str
    value: float | None          # least deadline (ms) or least bandwidth (Mbit/s)
    result: Result | None        # the solver's result at that value (its policy, latency, load)


def _check_solver(solver: str) -> None:
    if solver not in GOAL_SOLVERS:
        raise SplittuiError(f"goal: unknown solver {solver!r}: choose from {', '.join(GOAL_SOLVERS)}")


def constrained(sc: Scenario) -> bool:
    """TTFT/TPOT limits, pins or memory limits: the queries then solve each trial with every constraint
    (SPEC §8, §10) and keep only answers that meet them all."""
    return has_limits(sc) or sc.has_pins or sc.has_memory_limits or uses_energy(sc)   # energy: docs/energy.md


def _phases_at(ph: Phases, deadline_ms: float) -> Phases:
    dec = None if ph.decode is None else replace(ph.decode, deadline_ms=deadline_ms)
    return replace(ph, prefill=replace(ph.prefill, deadline_ms=deadline_ms), decode=dec)


def solve_request_at(ph: Phases, sc: Scenario, solver: str, deadline_ms: float) -> Result:
    """One solver on the whole request at another deadline, TTFT/TPOT limits checked (and solved by exact)."""
    from . import solve_request

    return solve_request(_phases_at(ph, deadline_ms), scenario_at(sc, deadline_ms), solver)


def _reaches(res: Result, cap: float) -> bool:
    return res.feasible and res.server_load is not None and res.server_load <= cap


def least_deadline(profile: Profile, sc: Scenario, solver: str, target: Target) -> Goal:
    """The least deadline at which `solver` returns a feasible policy within `target` (sc.deadline ignored);
    with TTFT/TPOT limits, one whose policy meets them."""
    if constrained(sc):
        return least_deadline_limits(phase_costs(profile, sc), sc, solver, target)
    return least_deadline_costs(request_costs(profile, sc), sc, solver, target)


def least_deadline_limits(ph: Phases, sc: Scenario, solver: str, target: Target) -> Goal:
    """`least_deadline` under the scenario's TTFT/TPOT limits (see the module docstring)."""
    _check_solver(solver)
    c = ph.composite()
    cap = target.load_cap(c.total_reward)
    if solver == "exact":
        for point in request_frontier(ph, sc, stop_above=cap):   # fastest first: the first within the cap
            if point.result.server_load is not None and point.result.server_load <= cap:
                return Goal("exact", point.deadline_ms, point.result)
        return Goal("exact", None, None)
    if solver == "dp":
        front = dp_full_frontier(c, sc)
        load = np.nan_to_num(front.server_load, nan=np.inf)
        cands = front.deadline_ms[np.flatnonzero((load <= cap) & np.concatenate(([True], load[1:] != load[:-1])))]
    else:
        cands = np.unique(prefix_latencies(c))
    return _first_meeting(ph, sc, solver, cap, [float(d) for d in cands])


def _first_meeting(ph: Phases, sc: Scenario, solver: str, cap: float, deadlines: list[float],
                   max_tries: int = 4096) -> Goal:
    """The first candidate deadline whose answer is feasible (limits included) within the cap."""
    for deadline in deadlines[:max_tries]:
        res = solve_request_at(ph, sc, solver, deadline)
        if _reaches(res, cap):
            return Goal(solver, deadline, res)
    return Goal(solver, None, None)


def _same_load(a: Result, b: Result) -> bool:
    la, lb = a.server_load or 0.0, b.server_load or 0.0
    return abs(la - lb) <= 1e-9 * max(1.0, abs(la), abs(lb), a.total_load)


def latency_bound(c: Costs) -> float:
    """A deadline above every policy's latency (each layer at its slower side, every transfer paid)."""
    return float(np.maximum(c.client_ms, c.server_ms).sum() + c.up_ms.sum() + c.down_ms.sum()
                 + c.up_out_ms + c.down_out_ms) * (1 + 1e-9) + 1e-9


def request_frontier(ph: Phases, sc: Scenario, *, max_points: int = 100_000, stop_above: float | None = None,
                     should_stop: Callable[[], bool] | None = None) -> list[FrontierPoint]:
    """The exact Pareto front (latency, server load) of the policies that meet the TTFT/TPOT limits, fastest
    first; `exact_frontier` of the composite chain when there are none. `stop_above`: stop once a point's
    load exceeds it (a goal seek needs nothing faster). One exact solve (under the limits) per point; with pins
    or memory limits alone, one label pass read at every point (`_pins_reader`)."""
    if not constrained(sc):
        return exact_frontier(ph.composite(), sc, max_points=max_points, should_stop=should_stop)
    c = ph.composite()
    top = latency_bound(c)
    at = _pins_reader(ph, c, sc, top) or (lambda deadline: solve_request_at(ph, sc, "exact", deadline))

    def above(res: Result) -> bool:
        return stop_above is not None and res.server_load is not None and res.server_load > stop_above

    # as loaded and faster: the slower point is dominated
    return walk_frontier(at(top), at, max_points=max_points, should_stop=should_stop, dominated=_same_load,
                         last=above)


def _pins_reader(ph: Phases, c: Costs, sc: Scenario, top: float) -> Callable[[float], Result] | None:
    """With pins or memory limits alone (no TTFT/TPOT or energy limit, no memory limit that can bind): exact's
    answer at any deadline up to `top`, read from one label pass over the barred chain (`final_fronts`), as
    `solve_request_at` gives it; None where that does not apply or the pass would be capped."""
    if has_limits(sc) or uses_energy(sc):
        return None
    from . import evaluate_costs
    from .constrained_pins import pins_only_chain
    from .request import annotate

    barred = pins_only_chain(c, top)
    read = None if barred is None else one_pass(barred, top, c.pin)
    if read is None:
        return None

    def at(deadline: float) -> Result:
        t0 = time.perf_counter()
        policy = read(deadline)
        ph_at, sc_at = _phases_at(ph, deadline), scenario_at(sc, deadline)
        res = evaluate_costs(ph_at.composite(), policy, solver="exact", solve_ms=(time.perf_counter() - t0) * 1e3)
        return annotate(res, ph_at, sc_at)

    return at


def least_deadline_costs(c: Costs, sc: Scenario, solver: str, target: Target) -> Goal:
    """`least_deadline` on precomputed costs (their deadline is ignored)."""
    _check_solver(solver)
    cap = target.load_cap(c.total_reward)
    if solver == "exact":
        return _least_exact(c, sc, cap)
    if solver == "dp":
        return _least_dp(c, sc, cap)
    return _least_by_candidates(c, sc, solver, cap)


def _least_exact(c: Costs, sc: Scenario, cap: float) -> Goal:
    for point in exact_frontier(c, sc):
        if point.result.server_load is not None and point.result.server_load <= cap:
            return Goal("exact", point.deadline_ms, point.result)
    return Goal("exact", None, None)


def dp_full_frontier(c: Costs, sc: Scenario) -> Frontier:
    """The DP's frontier up to a deadline where it surely reaches its least load (SPEC §4 bound)."""
    from . import frontier_costs
    from .dp import check_memory

    all_client = float(prefix_latencies(c)[c.n]) + _slack(c)
    top = all_client + (2 * c.n + 2) * sc.unit_ms
    check_memory(c.n, top, sc.unit_ms)
    return frontier_costs(replace(c, deadline_ms=top), scenario_at(sc, top))


def dp_least_deadline(front: Frontier, cap: float) -> float | None:
    """First deadline w*T of a DP frontier whose load is within `cap`."""
    load = np.nan_to_num(front.server_load, nan=np.inf)
    ok = np.flatnonzero(load <= cap)
    return float(front.deadline_ms[ok[0]]) if ok.size else None


def _least_dp(c: Costs, sc: Scenario, cap: float) -> Goal:
    deadline = dp_least_deadline(dp_full_frontier(c, sc), cap)
    if deadline is None:
        return Goal("dp", None, None)
    return Goal("dp", deadline, _solve_at(c, sc, "dp", deadline))


def _least_by_candidates(c: Costs, sc: Scenario, solver: str, cap: float) -> Goal:
    """Bisection over the sorted prefix latencies: these solvers' answers change only there."""
    cands = np.unique(prefix_latencies(c))
    lo, hi = 0, len(cands) - 1
    if not _reaches(_solve_at(c, sc, solver, float(cands[hi])), cap):
        return Goal(solver, None, None)
    while lo < hi:
        mid = (lo + hi) // 2
        if _reaches(_solve_at(c, sc, solver, float(cands[mid])), cap):
            hi = mid
        else:
            lo = mid + 1
    deadline = float(cands[lo])
    return Goal(solver, deadline, _solve_at(c, sc, solver, deadline))


def least_bandwidth(profile: Profile, sc: Scenario, solver: str, target: Target, *,
                    lo_mbps: float = 1e-3, hi_mbps: float = 1e6, rel_tol: float = 1e-6) -> Goal:
    """The least upload bandwidth (download kept in proportion) meeting sc.deadline within `target`.

    Bisection on a log scale; `value` is within `rel_tol` above the true least bandwidth.
    """
    _check_solver(solver)
    ratio = float(sc.down_mbps or sc.up_mbps) / sc.up_mbps

    def attempt(up: float) -> Result:
        s2 = sc.replace(up_mbps=up, down_mbps=up * ratio)
        if constrained(sc):
            from . import solve_request

            return solve_request(phase_costs(profile, s2), s2, solver)
        c = request_costs(profile, s2)
        return _solve_at(c, s2, solver, sc.deadline_ms)

    def ok(up: float) -> bool:
        res = attempt(up)
        return _reaches(res, target.load_cap(res.total_load))

    lo, hi = _bracket(ok, min(max(sc.up_mbps, lo_mbps), hi_mbps), lo_mbps, hi_mbps)
    if hi is None:
        return Goal(solver, None, None)
    if lo is None:
        return Goal(solver, lo_mbps, attempt(lo_mbps))
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return Goal(solver, hi, attempt(hi))


def _bracket(ok: Callable[[float], bool], start: float, lo_mbps: float,
             hi_mbps: float) -> tuple[float | None, float | None]:
    """(lo, hi) with ok(hi) and not ok(lo), found in ×10 steps from `start` (the scenario's own bandwidth:
    the extremes are tried only when needed, and an exact solve at 10^6 Mbit/s, where every transfer is
    nearly free and labels tie, can be slow); hi None: not even hi_mbps; lo None: already lo_mbps."""
    if ok(start):
        hi = start
        while hi > lo_mbps:
            lo = max(hi / 10, lo_mbps)
            if not ok(lo):
                return lo, hi
            hi = lo
        return None, hi
    lo = start
    while lo < hi_mbps:
        hi = min(lo * 10, hi_mbps)
        if ok(hi):
            return lo, hi
        lo = hi
    return lo, None


__all__ += ["GOAL_SOLVERS", "dp_full_frontier", "dp_least_deadline", "FrontierCancelled", "request_frontier",
            "least_deadline_limits", "scenario_at", "solve_request_at", "latency_bound", "constrained"]
