"""Solver front door: ``solve`` (by name), ``evaluate`` (any policy) and ``frontier`` (SPEC §4)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..costs import Costs, breakdown, min_latency, switches
from ..errors import SplittuiError
from ..generation import Phases, phase_costs
from ..model import Profile, Result, Scenario
from .baselines import brute_force_policy, greedy_policy, prefix_policy, single_split_policy
from .constrained import (
    SearchCapped,
    constrained_brute_force,
    constrained_dp,
    constrained_exact,
    constraint_violations,
)
from .constrained_pins import apply_pins
from .dp import check_memory
from .dp_labels import dp_end_values, dp_policy
from .dp_span import DPSpan
from .energy import energy_brute_force, energy_policy, energy_single_split, uses_energy
from .exact import exact_policy, meets
from .request import annotate, brute_force_limits_policy, exact_limits_policy, has_limits

__all__ = ["SOLVERS", "APP_SOLVERS", "solve", "solve_costs", "evaluate", "evaluate_costs", "frontier", "Frontier",
           "solve_all", "meets", "solve_request", "LIMIT_SOLVERS"]

SOLVERS = ("dp", "exact", "greedy", "single-split", "no-split", "all-client", "brute-force")
APP_SOLVERS = ("dp", "exact", "greedy", "single-split", "no-split")   # the five compared everywhere


def _dp(c: Costs, sc: Scenario) -> tuple[int, ...] | None:
    if c.constrained:
        return constrained_dp(c, sc.unit_ms, sc.rounding)
    return dp_policy(c, sc.unit_ms, rounding=sc.rounding)


def _exact(c: Costs, sc: Scenario, hint: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
    return constrained_exact(c, None, c, hint=hint) if c.constrained else exact_policy(c)


def _brute(c: Costs, sc: Scenario) -> tuple[int, ...] | None:
    if c.constrained:
        return constrained_brute_force(c, None, c, (math.inf, math.inf, _slack(c.deadline_ms)))
    return brute_force_policy(c)


# Pins (SPEC §10) move pinned layers of the fixed baselines' policies to their side; greedy and single split
# choose among pinned prefix policies. Memory limits are checked after (evaluate_costs: "does not fit").
_POLICY_FNS: dict[str, Callable[[Costs, Scenario], tuple[int, ...] | None]] = {
    "dp": _dp,
    "exact": _exact,
    "greedy": lambda c, sc: greedy_policy(c),
    "single-split": lambda c, sc: single_split_policy(c),
    "no-split": lambda c, sc: apply_pins(c, prefix_policy(c.n, 0)),
    "all-client": lambda c, sc: apply_pins(c, prefix_policy(c.n, c.n)),
    "brute-force": _brute,
}


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit))


def evaluate_costs(c: Costs, policy: ArrayLike | None, *, solver: str = "given", solve_ms: float = 0.0,
                   min_lat: float | None = None) -> Result:
    """Score a policy exactly. feasible means it meets the deadline (SPEC §3)."""
    m = min_latency(c) if min_lat is None else min_lat
    total = c.total_reward
    if policy is None:
        return Result(solver=solver, feasible=False, policy=None, latency_ms=None, breakdown=None,
                      server_load=None, total_load=total, server_share=None, switches=None,
                      min_latency_ms=m, deadline_ms=c.deadline_ms, solve_ms=solve_ms)
    x = np.asarray(policy, dtype=np.int8)
    if x.shape != (c.n,) or not ((x == 0) | (x == 1)).all():
        raise SplittuiError(f"policy must be {c.n} values of 0 or 1 (one per layer), got {len(x)} values")
    bd = breakdown(c, x)
    load = float(c.reward[x == 0].sum())
    share = load / total if total > 0 else 0.0
    why = constraint_violations(c, x)
    feasible = meets(bd.total_ms, c.deadline_ms) and not why
    need = (None, None) if c.mem is None else c.mem.need(x)
    return Result(solver=solver, feasible=feasible, policy=tuple(x.tolist()), latency_ms=bd.total_ms,
                  breakdown=bd, server_load=load, total_load=total, server_share=share,
                  switches=switches(c, x), min_latency_ms=m, deadline_ms=c.deadline_ms, solve_ms=solve_ms,
                  violations=why, client_mem_need_bytes=need[0], server_mem_need_bytes=need[1])


def _capped(fn: Callable[..., tuple[int, ...] | None], *args: Any) -> tuple[tuple[int, ...] | None, tuple[str, ...]]:
    """A solver's policy, or, where its exact search under memory limits stopped at its label cap, the best
    policy it found with the note that says so and what it proved (`constrained.SearchCapped`)."""
    try:
        return fn(*args), ()
    except SearchCapped as exc:
        return exc.policy, (exc.note,)


def solve_costs(c: Costs, sc: Scenario, solver: str = "dp", *, min_lat: float | None = None,
                hint: tuple[int, ...] | None = None) -> Result:
    """Run one solver on precomputed costs. Baselines whose policy misses the deadline are infeasible.
    `hint`: a policy exact under pins and memory limits may start from (`constrained._solve`)."""
    if solver not in _POLICY_FNS:
        raise SplittuiError(f"unknown solver {solver!r}: choose from {', '.join(SOLVERS)}")
    t0 = time.perf_counter()
    policy, notes = _capped(_exact, c, sc, hint) if solver == "exact" else _capped(_POLICY_FNS[solver], c, sc)
    ms = (time.perf_counter() - t0) * 1e3
    res = evaluate_costs(c, policy, solver=solver, solve_ms=ms, min_lat=min_lat)
    if notes:
        res = replace(res, notes=notes)
    if policy is not None and solver in ("no-split", "all-client") and res.latency_ms is not None \
            and not meets(res.latency_ms, c.deadline_ms):
        why = res.violations   # what else it breaks (e.g. "does not fit") is still said
        res = replace(evaluate_costs(c, None, solver=solver, solve_ms=ms, min_lat=res.min_latency_ms),
                      violations=why)
    return res


_ENERGY_FNS: dict[str, Callable[[Phases, Scenario], tuple[int, ...] | None]] = {
    "dp": lambda ph, sc: energy_policy(ph, sc, unit_ms=sc.unit_ms),
    "exact": energy_policy,
    "brute-force": energy_brute_force,
    "single-split": energy_single_split,   # Neurosurgeon's energy mode, for the objective client_energy only
}


def _energy_route(solver: str, sc: Scenario) -> bool:
    """dp, exact and brute force under the objective client_energy or a joule limit; single split under the
    objective only (under a limit it keeps its rule and is checked after, like greedy)."""
    if solver == "single-split":
        return sc.objective == "client_energy"
    return solver in _ENERGY_FNS and uses_energy(sc)


LIMIT_SOLVERS = ("exact", "brute-force")   # solve the TTFT/TPOT limits exactly; the others check them after
_LIMIT_FNS = {"exact": exact_limits_policy, "brute-force": brute_force_limits_policy}


def solve_request(ph: Phases, sc: Scenario, solver: str = "dp", *, min_lat: float | None = None,
                  span: DPSpan | None = None, hint: tuple[int, ...] | None = None) -> Result:
    """One solver on a whole request (SPEC §8): the composite chain, then TTFT/TPOT checked and reported.
    The DP reads its policy from `span` where that pass is this chain's at this unit (see dp_span); exact
    under pins and memory limits starts from `hint` where it meets every limit (the floor: still exact)."""
    c = ph.composite()
    if _energy_route(solver, sc):   # docs/energy.md: least client joules, or a joule limit
        t0 = time.perf_counter()
        policy = _ENERGY_FNS[solver](ph, sc)
        res = evaluate_costs(c, policy, solver=solver, solve_ms=(time.perf_counter() - t0) * 1e3, min_lat=min_lat)
    elif solver == "dp" and span is not None and span.serves(c, sc.unit_ms, sc.rounding):
        t0 = time.perf_counter()
        policy = span.policy(c.deadline_ms)
        res = evaluate_costs(c, policy, solver=solver, solve_ms=(time.perf_counter() - t0) * 1e3, min_lat=min_lat)
    elif solver in _LIMIT_FNS and has_limits(sc):
        t0 = time.perf_counter()
        policy, notes = (_capped(exact_limits_policy, ph, sc, hint) if solver == "exact"
                         else _capped(_LIMIT_FNS[solver], ph, sc))
        res = evaluate_costs(c, policy, solver=solver, solve_ms=(time.perf_counter() - t0) * 1e3, min_lat=min_lat)
        res = replace(res, notes=notes) if notes else res
    else:
        res = solve_costs(c, sc, solver, min_lat=min_lat, hint=hint)
    return annotate(res, ph, sc)


def solve(profile: Profile, sc: Scenario, solver: str = "dp") -> Result:
    """Solve the placement problem of SPEC §3 (§8 with gen_tokens) for one scenario with the named solver."""
    if solver == "dp":
        check_memory(profile.n_layers, sc.deadline_ms, sc.unit_ms)
    return solve_request(phase_costs(profile, sc), sc, solver)


def solve_all(profile: Profile, sc: Scenario, solvers: Sequence[str] = APP_SOLVERS, *,
              span: DPSpan | None = None, phases: Phases | None = None,
              min_lat: float | None = None) -> dict[str, Result]:
    """Several solvers on one scenario, sharing the cost arrays and the least-latency pass (and the DP
    a pass filled beyond this deadline, where `span` is one for this chain). `phases` and `min_lat`,
    when given, are `phase_costs(profile, sc)` and its least latency, already computed."""
    ph = phase_costs(profile, sc) if phases is None else phases
    c = ph.composite()
    if "dp" in solvers and not (span is not None and span.serves(c, sc.unit_ms, sc.rounding)):
        check_memory(profile.n_layers, sc.deadline_ms, sc.unit_ms)
    m = min_latency(c) if min_lat is None else min_lat
    out: dict[str, Result] = {}
    for name in solvers:   # under pins and memory limits exact starts from the DP's policy (a floor, if it is met)
        dp = out.get("dp")
        hint = dp.policy if name == "exact" and c.constrained and dp is not None and dp.feasible else None
        out[name] = solve_request(ph, sc, name, min_lat=m, span=span, hint=hint)
    return out


def evaluate(profile: Profile, sc: Scenario, policy: ArrayLike) -> Result:
    """Score any policy (tuple of 0/1 per layer, 1 = client) under a scenario, limits included."""
    ph = phase_costs(profile, sc)
    return annotate(evaluate_costs(ph.composite(), policy), ph, sc)


@dataclass(frozen=True, slots=True)
class Frontier:
    """Optimal (DP) server load/share for every deadline w·T, w = 0..W; NaN where infeasible."""

    deadline_ms: np.ndarray
    server_load: np.ndarray
    server_share: np.ndarray
    total_load: float


def frontier(profile: Profile, sc: Scenario, *, span: DPSpan | None = None, chain: Costs | None = None) -> Frontier:
    """The deadline -> optimal server share frontier, from one DP pass (SPEC §4), or read from `span`
    where that pass is this chain's at this unit and reaches the deadline. `chain`, when given, is the
    request's chain `phase_costs(profile, sc).composite()`, already computed."""
    c = phase_costs(profile, sc).composite() if chain is None else chain
    if span is not None and span.serves(c, sc.unit_ms, sc.rounding):
        return _frontier_of(span.end_values(sc.deadline_ms), c.total_reward, sc.unit_ms)
    check_memory(profile.n_layers, sc.deadline_ms, sc.unit_ms)
    return frontier_costs(c, sc)


def frontier_costs(c: Costs, sc: Scenario) -> Frontier:
    return _frontier_of(dp_end_values(c, sc.unit_ms, rounding=sc.rounding), c.total_reward, sc.unit_ms)


def _frontier_of(best: np.ndarray, total: float, unit_ms: float) -> Frontier:
    load = np.where(np.isfinite(best), total - best, np.nan)
    load = np.where(load < 0, 0.0, load)  # float cancellation when everything fits on the client
    share = load / total if total > 0 else np.zeros_like(load)
    w = np.arange(len(best))
    return Frontier(deadline_ms=w * unit_ms, server_load=load, server_share=share, total_load=total)
