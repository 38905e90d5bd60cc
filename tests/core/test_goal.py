"""Inverse queries (splittui.solvers.goal) on random chains, checked against brute force.

exact's least deadline must equal the least latency of any policy within the target (brute force over
2^L, independent of the solvers). For every solver, the answer must be *least*: the solver reaches the
target at the returned deadline and not just below it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from core_strategies import CORE, chains, scenario_for, spec_latency, spec_reward
from hypothesis import given
from hypothesis import strategies as st

from splittui.errors import SplittuiError
from splittui.solvers import solve_costs
from splittui.solvers.goal import GOAL_SOLVERS, Target, exact_frontier, least_deadline_costs

shares = st.sampled_from((0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0))


def _brute_least(c, cap: float) -> float | None:
    import itertools

    total = float(sum(c.reward))
    best = None
    for x in itertools.product((0, 1), repeat=c.n):
        if total - spec_reward(c, x) <= cap:
            lat = spec_latency(c, x)
            best = lat if best is None else min(best, lat)
    return best


def _reaches(c, sc, solver: str, deadline: float, cap: float) -> bool:
    if deadline < 0:
        return False
    res = solve_costs(replace(c, deadline_ms=deadline), sc.replace(deadline_ms=max(deadline, 1e-12)), solver)
    return res.feasible and res.server_load <= cap


@CORE
@given(chains(max_layers=7), shares)
def test_exact_least_deadline_is_brute_force(ch, share):
    c, sc = ch.costs, scenario_for(ch)
    target = Target(max_share=share)
    cap = target.load_cap(c.total_reward)
    goal = least_deadline_costs(c, sc, "exact", target)
    want = _brute_least(c, cap)
    if want is None:
        assert goal.value is None
        return
    assert goal.value is not None and math.isclose(goal.value, want, rel_tol=1e-9, abs_tol=1e-9)
    assert goal.result.server_load <= cap


@CORE
@given(chains(max_layers=7), shares, st.sampled_from(GOAL_SOLVERS))
def test_every_solver_answer_is_least(ch, share, solver):
    c, sc = ch.costs, scenario_for(ch)
    target = Target(max_share=share)
    cap = target.load_cap(c.total_reward)
    goal = least_deadline_costs(c, sc, solver, target)
    if goal.value is None:
        # nothing reaches the target even with a generous deadline
        big = max(spec_latency(c, x) for x in ((1,) * c.n, (0,) * c.n)) * 4 + 10 * sc.unit_ms * (c.n + 2)
        assert not _reaches(c, sc, solver, big, cap)
        return
    assert _reaches(c, sc, solver, goal.value, cap)
    step = sc.unit_ms if solver == "dp" else 0.0
    below = goal.value - max(step * 1e-6, 1e-7 * max(1.0, goal.value))
    assert not _reaches(c, sc, solver, below, cap)


@CORE
@given(chains(max_layers=6))
def test_exact_frontier_is_the_pareto_front(ch):
    import itertools

    c, sc = ch.costs, scenario_for(ch)
    pts = exact_frontier(c, sc)
    total = c.total_reward
    pairs = [(spec_latency(c, x), total - spec_reward(c, x)) for x in itertools.product((0, 1), repeat=c.n)]
    lats = [p.deadline_ms for p in pts]
    loads = [p.result.server_load for p in pts]
    assert lats == sorted(lats) and all(a >= b for a, b in zip(loads, loads[1:]))
    for lat, load in pairs:   # no policy is faster than a point of the front with no more load
        assert not any(lat < p.deadline_ms - 1e-9 * max(1.0, lat) and load <= q - 1e-9 * max(1.0, total)
                       for p, q in zip(pts, loads))
    # every brute-force Pareto point appears on the front
    for lat, load in pairs:
        dominated = any(l2 <= lat + 1e-12 and ld2 < load - 1e-9 * max(1.0, total) for l2, ld2 in pairs)
        dominated |= any(l2 < lat - 1e-9 and ld2 <= load + 1e-9 * max(1.0, total) for l2, ld2 in pairs)
        if not dominated:
            assert any(math.isclose(p.deadline_ms, lat, rel_tol=1e-9, abs_tol=1e-9) for p in pts)


def test_target_needs_exactly_one_cap():
    with pytest.raises(SplittuiError):
        Target()
    with pytest.raises(SplittuiError):
        Target(max_share=0.5, max_load=1.0)
    with pytest.raises(SplittuiError, match="max_share"):
        Target(max_share=1.5)


def _per_point(c, sc, monkeypatch):
    """exact_frontier as it was: one exact solve per point (the one-pass fronts turned off)."""
    from splittui.solvers import exact

    with monkeypatch.context() as m:
        m.setattr(exact, "final_fronts", lambda c, deadline_ms: None)
        return exact_frontier(c, sc)


def _same_points(a, b) -> bool:
    return len(a) == len(b) and all(
        p.deadline_ms == q.deadline_ms and p.result.policy == q.result.policy and p.result.latency_ms ==
        q.result.latency_ms and p.result.server_load == q.result.server_load and p.result.feasible == q.result.feasible
        for p, q in zip(a, b, strict=True))


@CORE
@given(chains(max_layers=12))
def test_one_pass_frontier_is_the_per_point_frontier(ch):
    """Every point read from one pass's last fronts is exact's answer at that deadline: the same policy,
    latency and load as one exact solve per point (issue 31/32: 5-12x faster on the shipped profiles)."""
    import pytest as _pytest

    c, sc = ch.costs, scenario_for(ch)
    with _pytest.MonkeyPatch.context() as mp:
        assert _same_points(exact_frontier(c, sc), _per_point(c, sc, mp))


@pytest.mark.parametrize("model, knobs", [("gpt2-like", dict(seq_len=256)),
                                          ("bert-base", dict(seq_len=128, up_mbps=20))])
def test_one_pass_frontier_on_shipped_profiles(model, knobs, monkeypatch):
    import splittui
    from splittui.generation import request_costs

    sc = splittui.Scenario(**knobs)
    c = request_costs(splittui.load_profile(model), sc)
    fast = exact_frontier(c, sc)
    assert len(fast) > 20 and _same_points(fast, _per_point(c, sc, monkeypatch))
