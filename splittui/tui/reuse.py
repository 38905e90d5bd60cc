"""What one request of the app may take from the ones before it, and the rule that makes each reuse
exact (the screen equals a solve from scratch). Each part names the knobs it depends on:

- the request's chains (`phase_costs`) and their least latency depend on neither the deadline, the
  TTFT/TPOT limits nor the DP's unit and rounding: a step of those re-dates the chains instead;
- the exact solver's answer at scenario S is still the optimum at a scenario S' that only tightens
  the deadline or a limit, when that answer meets S' (every policy that meets S' meets S, and the
  answer is the best of those): kept for the last few scenarios and re-scored;
- a placement's timeline depends on its policy and the chains, not on the deadline;
- the frontier chart, where T is coarsened to cap its DP, is solved to the top of the deadline's
  bucket (`frontier_top`) and cut at 1.5x the deadline: a deadline step within the bucket cuts it again.

Pure numerics over the core; no textual here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from ..costs import min_latency
from ..generation import Phases, phase_costs
from ..model import Profile, Result, Scenario

__all__ = ["Chains", "chains", "knobs_except", "looser_or_equal", "reused_exact", "score", "EXACT_KEPT",
           "frontier_top", "cut_frontier", "COSTS_FREE"]

COSTS_FREE = frozenset({"deadline_ms", "ttft_ms", "tpot_ms", "unit_ms", "rounding"})   # phase_costs reads none
LIMITS = ("deadline_ms", "ttft_ms", "tpot_ms")   # a larger value (None: no limit) admits more policies
EXACT_KEPT = 8     # exact answers kept for reuse (a slider moved back and forth revisits a few)
TOP_STEPS = (1.0, 1.25, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.4, 8.0)   # frontier buckets per decade


def knobs_except(sc: Scenario, names: frozenset[str] | tuple[str, ...]) -> tuple:
    """The scenario's fields, less `names`, as a hashable key (no Scenario: it would be validated)."""
    return tuple((f, getattr(sc, f)) for f in sc.__dataclass_fields__ if f not in names)


@dataclass(frozen=True, slots=True)
class Chains:
    """The request's phases at one scenario and their least latency; `key` is what they depend on."""

    key: tuple
    phases: Phases
    min_lat: float


def _at_deadline(ph: Phases, deadline_ms: float) -> Phases:
    dec = None if ph.decode is None else replace(ph.decode, deadline_ms=deadline_ms)
    return replace(ph, prefill=replace(ph.prefill, deadline_ms=deadline_ms), decode=dec)


def chains(profile: Profile, sc: Scenario, have: Chains | None = None) -> Chains:
    """`phase_costs(profile, sc)` and its least latency; re-dated from `have` when only knobs in COSTS_FREE
    moved (`have` must be of this profile)."""
    key = knobs_except(sc, COSTS_FREE)
    if have is not None and have.key == key:
        if have.phases.prefill.deadline_ms == sc.deadline_ms:
            return have
        return Chains(key, _at_deadline(have.phases, float(sc.deadline_ms)), have.min_lat)
    ph = phase_costs(profile, sc)
    return Chains(key, ph, min_latency(ph.composite()))


def score(ch: Chains, sc: Scenario, policy: tuple[int, ...] | None, solver: str, solve_ms: float) -> Result:
    """A policy scored as `solve_request` scores a solver's answer (deadline, limits, memory, energy)."""
    from ..solvers import evaluate_costs
    from ..solvers.request import annotate

    res = evaluate_costs(ch.phases.composite(), policy, solver=solver, solve_ms=solve_ms, min_lat=ch.min_lat)
    return annotate(res, ch.phases, sc)


def _limit(v: float | None) -> float:
    return math.inf if v is None else float(v)


def looser_or_equal(was: Scenario, sc: Scenario) -> bool:
    """Every policy that meets `sc` meets `was`, and the same exact solver ran: every knob equal but the
    deadline and the TTFT/TPOT limits (and T, which exact ignores), and those each at least `sc`'s,
    with limits on in both or in neither."""
    from ..solvers.request import has_limits

    free = (*LIMITS, "unit_ms", "rounding")
    if knobs_except(was, free) != knobs_except(sc, free) or has_limits(was) != has_limits(sc):
        return False
    return all(_limit(getattr(was, f)) >= _limit(getattr(sc, f)) for f in LIMITS)


def reused_exact(solved: tuple[tuple[Scenario, Result], ...], sc: Scenario, ch: Chains) -> Result | None:
    """The exact answer for `sc` read from one solved at a looser-or-equal scenario, if one serves: its
    policy (or its finding none) is the optimum here too when it meets `sc`; None when none serves."""
    for was, res in solved:
        if not looser_or_equal(was, sc):
            continue
        t0 = time.perf_counter()
        new = score(ch, sc, res.policy, "exact", 0.0)
        if res.policy is None or new.feasible:
            return replace(new, solve_ms=(time.perf_counter() - t0) * 1e3)
    return None


def frontier_top(span_ms: float) -> float:
    """The least value of TOP_STEPS x 10^k at or above `span_ms` (the bucket a coarse frontier is solved to)."""
    exp = math.floor(math.log10(span_ms))
    for k in (exp - 1, exp, exp + 1):
        for m in TOP_STEPS:
            top = round(m * 10.0**k, 12)
            if top >= span_ms:
                return top
    return span_ms   # unreachable: 10^(exp+1) > span_ms


def cut_frontier(front, span_ms: float):
    """The frontier's points at deadlines up to `span_ms` (a Frontier of `splittui.solvers`)."""
    n = int(np.searchsorted(front.deadline_ms, span_ms * (1 + 1e-12), side="right"))
    return replace(front, deadline_ms=front.deadline_ms[:n], server_load=front.server_load[:n],
                   server_share=front.server_share[:n])
