"""The label route of SPEC §4's DP (splittui.solvers.dp_labels) against the dense table and the oracle.

The label pass must be the dense DP computed another way: every cell a backtrack can read equal to
the plain recurrence's (exact floats, −inf included), the same policy as the dense backtrack (ties
included), the same last row (the frontier), and, against the independent brute force of
core_strategies, the optimum on whole-unit times and SPEC §4's bound otherwise. Chains: the random
ones of core_strategies, and request chains (SPEC §8: prefill plus N decode steps, composite) with
few distinct times and rewards, so that ties between labels are common.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from core_strategies import CORE, chains, meets_spec, oracle, spec_latency, spec_reward, with_deadline
from hypothesis import given
from hypothesis import strategies as st

from splittui.costs import Costs, min_latency
from splittui.errors import SplittuiError
from splittui.generation import Phases, phase_costs
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.solvers import dp_labels, frontier_costs, solve, solve_costs
from splittui.solvers.dp import backtrack, run_dp
from splittui.solvers.dp_labels import dp_end_values, dp_policy, label_backtrack, run_labels

ROUNDINGS = st.sampled_from(("ceil", "round"))
UNLIMITED = 10**9   # max_labels that never triggers the dense fallback


def _units(v: float, T: float, rounding: str) -> int:
    """SPEC §4's integer time, written out (round: the paper's nearest)."""
    if rounding == "round":
        return max(int(math.floor(v / T + 0.5)), 0)
    return max(int(math.ceil(v / T - 1e-9)), 0)


def _ints(c: Costs, T: float, rounding: str) -> dict:
    k = lambda vals: [_units(float(v), T, rounding) for v in vals]  # noqa: E731
    return {"c": k(c.client_ms), "s": k(c.server_ms), "u": k(c.up_ms), "d": k(c.down_ms),
            "u_out": _units(c.up_out_ms, T, rounding), "d_out": _units(c.down_out_ms, T, rounding),
            "W": int(math.floor(c.deadline_ms / T + 1e-9))}


def _all_rows(c: Costs, T: float, rounding: str) -> list[tuple[list[float], list[float]]]:
    """(C[l], S[l]) of SPEC §4 for every l = 0..L, by the plain recurrence (lists, no numpy)."""
    k, neg = _ints(c, T, rounding), -math.inf
    W = k["W"]
    C = [0.0 if c.start_client else neg] * (W + 1)
    S = [neg if c.start_client else 0.0] * (W + 1)
    rows = [(C, S)]
    at = lambda row, i: row[i] if i >= 0 else neg  # noqa: E731
    for i in range(c.n):
        cl, sl, ul, dl = k["c"][i], k["s"][i], k["u"][i], k["d"][i]
        C, S = ([float(c.reward[i]) + max(at(C, w - cl), at(S, w - cl - dl)) for w in range(W + 1)],
                [max(at(S, w - sl), at(C, w - sl - ul)) for w in range(W + 1)])
        rows.append((C, S))
    return rows


def _least_to_end(c: Costs, T: float, rounding: str) -> list[tuple[float, float]]:
    """Least integer latency from 'l layers done, the last on client / server' to the answer, l = 0..L."""
    k = _ints(c, T, rounding)
    on_c = 0 if c.end_client else k["u_out"]
    on_s = k["d_out"] if c.end_client else 0
    out = [(on_c, on_s)]
    for i in range(c.n - 1, -1, -1):
        on_c, on_s = (min(k["c"][i] + on_c, k["u"][i] + k["s"][i] + on_s),
                      min(k["s"][i] + on_s, k["d"][i] + k["c"][i] + on_c))
        out.append((on_c, on_s))
    return out[::-1]


def _int_latency(c: Costs, T: float, rounding: str, x) -> int:
    """SPEC §3's latency of policy x in integer units (what the DP's feasibility is about)."""
    k = _ints(c, T, rounding)
    sides = [int(c.start_client), *x, int(c.end_client)]
    total = 0
    for i in range(c.n):
        total += k["c"][i] if sides[i + 1] else k["s"][i]
        total += k["u"][i] if (sides[i], sides[i + 1]) == (1, 0) else 0
        total += k["d"][i] if (sides[i], sides[i + 1]) == (0, 1) else 0
    total += k["u_out"] if (sides[c.n], sides[c.n + 1]) == (1, 0) else 0
    total += k["d_out"] if (sides[c.n], sides[c.n + 1]) == (0, 1) else 0
    return total


@st.composite
def request_chains(draw, max_layers: int = 9) -> tuple[Costs, float]:
    """A request's composite chain (SPEC §8): prefill plus N decode steps with random per-step costs.

    Times are few whole units (or, half the time, any value) and rewards few small integers, so
    many labels tie in time, in reward or in both; the deadline lies around the least latency.
    """
    L = draw(st.integers(1, max_layers))
    T = draw(st.sampled_from((0.25, 0.5, 1.0)))
    whole = draw(st.booleans())
    n = draw(st.integers(0, 40))

    def times(hi: int) -> np.ndarray:
        if whole:
            return np.array(draw(st.lists(st.integers(0, hi), min_size=L, max_size=L)), dtype=float) * T
        vals = st.floats(0, hi * T, allow_nan=False, allow_subnormal=False).map(lambda v: round(v, 3))
        return np.array(draw(st.lists(vals, min_size=L, max_size=L)))

    def rewards() -> np.ndarray:
        return np.array(draw(st.lists(st.sampled_from((0.0, 1.0, 2.0, 3.0, 0.1)), min_size=L, max_size=L)))

    def chain(scale: int, hops: int) -> Costs:
        out = draw(st.integers(0, hops)) * T
        return Costs(client_ms=times(scale), server_ms=times(scale // 4 + 1), up_ms=times(hops), down_ms=times(hops),
                     reward=rewards(), up_out_ms=out, down_out_ms=out, start_client=True, end_client=True,
                     deadline_ms=1.0)

    sides = dict(start_client=draw(st.booleans()), end_client=draw(st.booleans()))
    pre = replace(chain(40, 12), **sides)
    step = replace(chain(4, 3), **sides)
    dec = replace(step, client_ms=step.client_ms * n, server_ms=step.server_ms * n, up_ms=step.up_ms * n,
                  down_ms=step.down_ms * n, reward=step.reward * n, up_out_ms=step.up_out_ms * n,
                  down_out_ms=step.down_out_ms * n)
    c = Phases(prefill=pre, decode=dec if n else None, gen_tokens=n, mem=None).composite()
    lo = min_latency(c)
    lam = draw(st.floats(max(lo * 0.9, 0.01), max(lo * 1.6, 0.02)))
    return with_deadline(c, lam), T


any_chain = st.one_of(chains().map(lambda ch: (ch.costs, ch.unit_ms)),
                      chains(integer=True).map(lambda ch: (ch.costs, ch.unit_ms)), request_chains())


@CORE
@given(any_chain, ROUNDINGS)
def test_every_cell_a_backtrack_can_read_equals_the_plain_recurrence(chain, rounding):
    """value(l, side, w) is C[l][w] / S[l][w] wherever w + (least latency left) <= W, all l."""
    c, T = chain
    tables = run_labels(c, T, rounding=rounding, max_labels=UNLIMITED)
    rows, rem = _all_rows(c, T, rounding), _least_to_end(c, T, rounding)
    W = tables.ints.W
    for layer, ((C, S), (rc, rs)) in enumerate(zip(rows, rem, strict=True)):
        for client, row, left in ((True, C, rc), (False, S, rs)):
            for w in range(-2, W - left + 1):
                want = row[w] if w >= 0 else -math.inf
                assert tables.value(layer, client, w) == want, (layer, client, w)


@CORE
@given(any_chain, ROUNDINGS)
def test_label_route_gives_the_dense_policy_and_frontier(chain, rounding):
    c, T = chain
    dense = run_dp(c, T, rounding=rounding)
    tables = run_labels(c, T, rounding=rounding, max_labels=UNLIMITED)
    assert label_backtrack(tables) == backtrack(dense)
    assert np.array_equal(tables.end_values(), dense.end_values())


@CORE
@given(st.one_of(chains(integer=True).map(lambda ch: (ch.costs, ch.unit_ms)), request_chains()))
def test_label_route_against_the_oracle(chain):
    """Against brute force (no splittui solver code): meets Λ and the rounded budget W, and is optimal
    on whole-unit times; otherwise within SPEC §4's bound [opt(Λ − (2L+2)T), opt(Λ)]."""
    c, T = chain
    x = label_backtrack(run_labels(c, T, max_labels=UNLIMITED))
    upper, lower = oracle(c), oracle(c, c.deadline_ms - (2 * c.n + 2) * T)
    if x is None:
        assert not lower.feasible
        return
    assert _int_latency(c, T, "ceil", x) <= math.floor(c.deadline_ms / T + 1e-9)
    assert meets_spec(spec_latency(c, x), c.deadline_ms)
    got, tol = spec_reward(c, x), 1e-9 * max(1.0, float(np.abs(c.reward).sum()))
    assert got <= upper.best_reward + tol
    if lower.feasible:
        assert got >= lower.best_reward - tol
    units = [v / T for v in (*c.client_ms, *c.server_ms, *c.up_ms, *c.down_ms, c.up_out_ms, c.down_out_ms)]
    if all(float(u).is_integer() for u in units):
        assert math.isclose(got, upper.best_reward, rel_tol=1e-9, abs_tol=tol)


@CORE
@given(any_chain, ROUNDINGS, st.sampled_from(("labels", "dense", "fallback")))
def test_every_route_of_the_public_dp_answers_alike(chain, rounding, route):
    """dp_policy, dp_end_values, solve_costs and frontier_costs answer the same whichever route the
    dispatch takes: the label pass, the dense table, or the label pass giving up half-way."""
    c, T = chain
    sc = Scenario(deadline_ms=max(c.deadline_ms, 1e-6), unit_ms=T, rounding=rounding)
    c = with_deadline(c, sc.deadline_ms)
    dense = run_dp(c, T, rounding=rounding)
    want, want_row = backtrack(dense), dense.end_values()
    want_res, want_front = solve_costs(c, sc, "dp"), frontier_costs(c, sc)   # the default route
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dp_labels, "SPARSE_MIN_UNITS", 10**12 if route == "dense" else 0)
        if route == "fallback":
            mp.setattr(dp_labels, "_SHARE", 10**12)        # a cap of one label: the pass gives up
        assert dp_policy(c, T, rounding=rounding) == want
        assert np.array_equal(dp_end_values(c, T, rounding=rounding), want_row)
        res, front = solve_costs(c, sc, "dp"), frontier_costs(c, sc)
    assert res.policy == want_res.policy == want
    assert res.server_load == want_res.server_load and res.feasible == want_res.feasible
    assert np.array_equal(front.server_load, want_front.server_load, equal_nan=True)


def test_the_label_pass_gives_up_past_its_label_cap():
    c = Costs(client_ms=np.array([1.0, 2.0, 3.0]), server_ms=np.array([0.0, 0.0, 0.0]),
              up_ms=np.array([0.0, 0.0, 0.0]), down_ms=np.array([0.0, 0.0, 0.0]), reward=np.array([1.0, 2.0, 4.0]),
              up_out_ms=0.0, down_out_ms=0.0, start_client=True, end_client=True, deadline_ms=10.0)
    assert run_labels(c, 1.0, max_labels=1) is None
    tables = run_labels(c, 1.0, max_labels=UNLIMITED)
    assert tables is not None and max(t.size for t in tables.times) > 1
    assert label_backtrack(tables) == backtrack(run_dp(c, 1.0)) == (1, 1, 1)


def test_the_label_pass_refuses_what_the_dense_table_refuses():
    c = Costs(client_ms=np.array([1.0]), server_ms=np.array([1.0]), up_ms=np.array([1.0]), down_ms=np.array([1.0]),
              reward=np.array([1.0]), up_out_ms=0.0, down_out_ms=0.0, start_client=True, end_client=True,
              deadline_ms=1e12)
    for fn in (run_dp, run_labels, dp_policy, dp_end_values):
        with pytest.raises(SplittuiError, match="too small for deadline_ms"):
            fn(c, 1e-3)


@pytest.mark.parametrize("tokens, deadline", [(0, 30_000.0), (256, 30_000.0), (1024, 120_000.0), (1024, 30_000.0)])
def test_gpt2_request_chains_take_the_label_route_and_match_the_dense_dp(tokens, deadline):
    """The issue-12 benchmark cases (W >= 30,000 units: the labels' route) answer as the dense table."""
    prof = load_profile("gpt2-like")
    sc = Scenario(deadline_ms=deadline, seq_len=512, gen_tokens=tokens, up_mbps=100.0, unit_ms=1.0)
    c = phase_costs(prof, sc).composite()
    tables = run_labels(c, 1.0)
    assert tables is not None                      # no fallback: the fronts stay small
    dense = run_dp(c, 1.0)
    assert label_backtrack(tables) == backtrack(dense)
    assert np.array_equal(tables.end_values(), dense.end_values())
    res = solve(prof, sc, "dp")
    assert res.policy == backtrack(dense)
