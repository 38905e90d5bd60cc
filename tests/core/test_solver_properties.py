"""Property tests of the solvers on random small chains, against an independent brute force (SPEC §3-5)."""

from __future__ import annotations

import math

import numpy as np
from core_strategies import (
    CORE,
    chains,
    meets_spec,
    oracle,
    profile_docs,
    scenario_for,
    spec_latency,
    spec_reward,
    with_deadline,
)
from hypothesis import given
from hypothesis import strategies as st

from splittui.costs import costs_for, min_latency
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.solvers import evaluate, evaluate_costs, frontier_costs, solve, solve_costs
from splittui.solvers.baselines import prefix_latencies
from splittui.solvers.dp import run_dp


def _reward(res) -> float:
    """Client-side reward of a result (total - server load)."""
    return res.total_load - res.server_load


def _close(a: float, b: float, scale: float = 0.0) -> bool:
    """Equal up to float noise; scale: the size of the sums a and b were derived from (total load)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


def _le(a: float, b: float, scale: float) -> bool:
    """a <= b up to float noise on sums of size `scale`."""
    return a <= b + 1e-9 * max(1.0, scale)


def _check_solution(ch, res) -> None:
    """A feasible result's policy really meets the deadline, and its numbers are the exact ones."""
    c = ch.costs
    assert res.policy is not None and len(res.policy) == c.n
    lat = spec_latency(c, res.policy)
    assert meets_spec(lat, c.deadline_ms), (lat, c.deadline_ms)
    assert math.isclose(res.latency_ms, lat, rel_tol=1e-12, abs_tol=1e-9)
    assert _close(_reward(res), spec_reward(c, res.policy), res.total_load)


@CORE
@given(chains(integer=True))
def test_dp_equals_brute_force_on_integer_times(ch):
    o = oracle(ch.costs)
    res = solve_costs(ch.costs, scenario_for(ch), "dp")
    assert res.feasible == o.feasible
    if o.feasible:
        _check_solution(ch, res)
        assert _close(_reward(res), o.best_reward, res.total_load)
    else:
        assert res.policy is None


@CORE
@given(chains())
def test_dp_meets_deadline_and_lies_within_spec_bound(ch):
    c = ch.costs
    res = solve_costs(c, scenario_for(ch), "dp")
    upper = oracle(c)
    lower = oracle(c, c.deadline_ms - (2 * c.n + 2) * ch.unit_ms)
    if lower.feasible:
        assert res.feasible
    if not res.feasible:
        return
    _check_solution(ch, res)
    assert _le(_reward(res), upper.best_reward, res.total_load)
    if lower.feasible:
        assert _le(lower.best_reward, _reward(res), res.total_load)


@CORE
@given(chains())
def test_exact_and_library_brute_force_equal_the_oracle(ch):
    o = oracle(ch.costs)
    for solver in ("exact", "brute-force"):
        res = solve_costs(ch.costs, scenario_for(ch), solver)
        assert res.feasible == o.feasible, solver
        assert _close(res.min_latency_ms, o.min_latency)
        if o.feasible:
            _check_solution(ch, res)
            assert _close(_reward(res), o.best_reward, res.total_load), solver


@CORE
@given(chains())
def test_client_share_greedy_le_single_split_le_exact(ch):
    sc = scenario_for(ch)
    g, s, e = (solve_costs(ch.costs, sc, name) for name in ("greedy", "single-split", "exact"))
    if g.feasible:
        _check_solution(ch, g)
        assert s.feasible and _le(_reward(g), _reward(s), s.total_load)
    if s.feasible:
        _check_solution(ch, s)
        assert e.feasible and _le(_reward(s), _reward(e), e.total_load)
        assert s.client_share <= e.client_share + 1e-9


@CORE
@given(chains(integer=True))
def test_greedy_le_dp_on_integer_times(ch):
    sc = scenario_for(ch)
    g, d = solve_costs(ch.costs, sc, "greedy"), solve_costs(ch.costs, sc, "dp")
    if g.feasible:
        assert d.feasible and _le(_reward(g), _reward(d), d.total_load)
        assert g.client_share <= d.client_share + 1e-9


@CORE
@given(chains(), st.data())
def test_frontier_is_monotone_and_matches_per_deadline_dp(ch, data):
    c, sc = ch.costs, scenario_for(ch)
    fr = frontier_costs(c, sc)
    W = len(fr.deadline_ms) - 1
    assert W == math.floor(c.deadline_ms / ch.unit_ms + 1e-9)
    load = fr.server_load
    feasible = ~np.isnan(load)
    # once some deadline is feasible every larger one is, and the load never rises with the deadline
    assert not np.any(feasible[:-1] & ~feasible[1:])
    f = load[feasible]
    assert np.all(np.diff(f) <= 1e-9 * max(1.0, fr.total_load))
    assert np.allclose(fr.server_share[feasible] * fr.total_load, f, rtol=1e-9, atol=1e-9)
    picks = {W, *data.draw(st.lists(st.integers(0, W), max_size=5))}
    for w in picks:
        if w == 0:
            continue  # a Scenario needs a positive deadline
        sub = with_deadline(c, w * ch.unit_ms)
        res = solve_costs(sub, sc.replace(deadline_ms=w * ch.unit_ms), "dp")
        assert res.feasible == bool(feasible[w]), w
        if res.feasible:
            assert math.isclose(res.server_load, load[w], rel_tol=1e-9, abs_tol=1e-9)


@CORE
@given(chains(deadline="infeasible"))
def test_infeasible_gives_no_policy_and_least_latency(ch):
    o = oracle(ch.costs)
    assert not o.feasible
    assert _close(min_latency(ch.costs), o.min_latency)
    for solver in ("dp", "exact", "greedy", "single-split", "no-split", "all-client", "brute-force"):
        res = solve_costs(ch.costs, scenario_for(ch), solver)
        assert not res.feasible and res.policy is None and res.latency_ms is None, solver
        assert _close(res.min_latency_ms, o.min_latency), solver


@CORE
@given(chains(), st.data())
def test_evaluate_matches_spec_formula(ch, data):
    c = ch.costs
    x = tuple(data.draw(st.lists(st.integers(0, 1), min_size=c.n, max_size=c.n)))
    res = evaluate_costs(c, x)
    lat = spec_latency(c, x)
    assert math.isclose(res.latency_ms, lat, rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(res.breakdown.total_ms, lat, rel_tol=1e-12, abs_tol=1e-9)
    assert res.feasible == meets_spec(lat, c.deadline_ms)
    assert _close(res.server_load, sum(float(r) for r, v in zip(c.reward, x, strict=False) if not v), c.total_reward)
    sides = [int(c.start_client), *x, int(c.end_client)]
    assert res.switches == sum(a != b for a, b in zip(sides, sides[1:], strict=False))
    bd = res.breakdown
    assert _close(bd.client_ms, sum(float(t) for t, v in zip(c.client_ms, x, strict=False) if v))
    assert _close(bd.server_ms, sum(float(t) for t, v in zip(c.server_ms, x, strict=False) if not v))


@CORE
@given(chains())
def test_prefix_latencies_and_min_latency(ch):
    c = ch.costs
    pre = prefix_latencies(c)
    for k in range(c.n + 1):
        assert math.isclose(pre[k], spec_latency(c, (1,) * k + (0,) * (c.n - k)), rel_tol=1e-12, abs_tol=1e-9)
    assert _close(min_latency(c), oracle(c).min_latency)


@CORE
@given(chains(integer=True))
def test_dp_end_values_give_best_reward_for_every_budget(ch):
    """run_dp's last row answers every deadline w*T at once (checked against the oracle at a few)."""
    c = ch.costs
    best = run_dp(c, ch.unit_ms).end_values()
    for w in {0, len(best) // 2, len(best) - 1}:
        o = oracle(c, w * ch.unit_ms)
        assert (best[w] > -np.inf) == o.feasible
        if o.feasible:
            assert _close(float(best[w]), o.best_reward, c.total_reward)


@CORE
@given(profile_docs(), st.data())
def test_public_api_on_profile_documents(doc, data):
    """splittui.solve / evaluate through a Profile built by profile_from_doc agree with the oracle."""
    prof = profile_from_doc(doc, source="<hypothesis>")
    base = Scenario(deadline_ms=1.0, up_mbps=data.draw(st.floats(1.0, 1000.0)),
                    down_mbps=data.draw(st.floats(1.0, 1000.0)), delay_ms=data.draw(st.floats(0.0, 20.0)),
                    seq_len=doc["seq_lens"][0], unit_ms=0.5, start=data.draw(st.sampled_from(("client", "server"))),
                    end=data.draw(st.sampled_from(("client", "server"))),
                    objective=data.draw(st.sampled_from(("flops", "mem_bytes", "server_ms"))))
    c0 = costs_for(prof, base)
    lam = max(min_latency(c0) * data.draw(st.floats(0.8, 3.0)), 0.01)
    sc = base.replace(deadline_ms=lam)
    c = costs_for(prof, sc)
    o = oracle(c)
    ex = solve(prof, sc, "exact")
    assert ex.feasible == o.feasible
    if o.feasible:
        assert _close(ex.total_load - ex.server_load, o.best_reward, ex.total_load)
        again = evaluate(prof, sc, ex.policy)
        assert again.latency_ms == ex.latency_ms and again.server_load == ex.server_load
    dp = solve(prof, sc, "dp")
    if dp.feasible:
        assert meets_spec(spec_latency(c, dp.policy), lam)


def _reference_rows(c, unit_ms):
    """SPEC §4's C[L][w], S[L][w] by the plain recurrence (full shifted copies, no tricks)."""
    T = unit_ms
    units = lambda v: max(int(math.ceil(v / T - 1e-9)), 0)  # noqa: E731
    W = int(math.floor(c.deadline_ms / T + 1e-9))
    neg = -math.inf
    C = [0.0 if c.start_client else neg] * (W + 1)
    S = [neg if c.start_client else 0.0] * (W + 1)
    for k in range(c.n):
        cl, sl, ul, dl = (units(float(v[k])) for v in (c.client_ms, c.server_ms, c.up_ms, c.down_ms))
        at = lambda row, i: row[i] if i >= 0 else neg  # noqa: E731
        C, S = ([float(c.reward[k]) + max(at(C, w - cl), at(S, w - cl - dl)) for w in range(W + 1)],
                [max(at(S, w - sl), at(C, w - sl - ul)) for w in range(W + 1)])
    return np.array(C), np.array(S)


@CORE
@given(chains())
def test_dp_rows_equal_the_plain_recurrence(ch):
    tables = run_dp(ch.costs, ch.unit_ms)
    C, S = _reference_rows(ch.costs, ch.unit_ms)
    assert np.array_equal(tables.C, C) and np.array_equal(tables.S, S)


@CORE
@given(chains(integer=True))
def test_round_mode_equals_ceil_on_integer_times(ch):
    sc = scenario_for(ch)
    up, down = solve_costs(ch.costs, sc, "dp"), solve_costs(ch.costs, sc.replace(rounding="round"), "dp")
    assert up.feasible == down.feasible
    if up.feasible:
        assert _close(_reward(up), _reward(down), up.total_load)


def test_dp_is_safe_to_run_from_several_threads(gpt2_doc):
    """run_dp reuses per-thread work rows: concurrent solves must not see each other's numbers."""
    from concurrent.futures import ThreadPoolExecutor

    prof = profile_from_doc(gpt2_doc)
    scs = [Scenario(deadline_ms=d, up_mbps=u, seq_len=s, unit_ms=0.5)
           for d, u, s in ((800, 100, 512), (1500, 20, 1024), (400, 1000, 128), (3000, 50, 2048))]
    want = [solve(prof, sc, "dp") for sc in scs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda i: solve(prof, scs[i % 4], "dp"), range(24)))
    for i, res in enumerate(got):
        assert res.policy == want[i % 4].policy and res.server_load == want[i % 4].server_load


@CORE
@given(chains())
def test_exact_with_reward_bounds_equals_the_oracle(ch):
    """The bounded pass (exact_pruned) that exact takes on long chains without repeating blocks, forced on
    every instance (PLAIN_WORK = 0): the same best reward as the independent brute force."""
    from splittui.solvers import exact as ex

    o = oracle(ch.costs)
    saved = ex.PLAIN_WORK
    ex.PLAIN_WORK = 0
    try:
        res = solve_costs(ch.costs, scenario_for(ch), "exact")
    finally:
        ex.PLAIN_WORK = saved
    assert res.feasible == o.feasible
    if o.feasible:
        _check_solution(ch, res)
        assert _close(_reward(res), o.best_reward, res.total_load)
