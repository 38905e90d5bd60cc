"""Edge rules of the cost model and the solvers' front door, each pinned on a case small enough to work
out by hand, plus the frontier against the oracle (these were the survivors of mutation testing)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import oracle as O
import pytest
from core_strategies import CORE, oracle_cases
from hypothesis import given
from hypothesis import strategies as st

from splittui.costs import Costs, breakdown, costs_for, latency
from splittui.errors import SplittuiError
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.solvers import evaluate_costs, frontier, frontier_costs, meets, solve, solve_all, solve_costs
from splittui.solvers.dp import check_memory, dp_memory_bytes, integerise, run_dp


def test_meets_absorbs_float_noise_only():
    # slack 1e-9 ms below a 1 ms deadline, 1e-9 relative above it
    assert meets(0.5 + 0.5e-9, 0.5) and not meets(0.5 + 1.5e-9, 0.5)
    assert meets(1000.0 + 0.9e-6, 1000.0) and not meets(1000.0 + 1.1e-6, 1000.0)
    assert meets(3.0, 3.0) and meets(2.0, 3.0) and not meets(3.001, 3.0)


def test_out_of_range_error_names_the_profile(tiny_doc):
    prof = profile_from_doc(tiny_doc, source="tiny.json")
    with pytest.raises(SplittuiError, match=r"^seq_len 512 is outside the profile's range 128\.\.256 \(tiny\.json\)$"):
        costs_for(prof, Scenario(seq_len=512))
    unnamed = profile_from_doc(tiny_doc, source="")
    with pytest.raises(SplittuiError, match=r"\(tiny\)$"):   # no origin: the model's name
        costs_for(unnamed, Scenario(seq_len=100))


def test_mem_objective_needs_mem_bytes_everywhere(tiny_doc):
    del tiny_doc["layers"][1]["mem_bytes"]
    prof = profile_from_doc(tiny_doc, source="t.json")
    with pytest.raises(SplittuiError, match=r"^t\.json: objective mem_bytes needs mem_bytes for every layer"):
        costs_for(prof, Scenario(seq_len=128, objective="mem_bytes"))
    assert costs_for(prof, Scenario(seq_len=128, objective="flops")).reward.tolist() == [1e6, 2e6, 3e6]


@CORE
@given(oracle_cases(max_layers=4), st.sampled_from((0.5, 1.0, 2.0)), st.floats(1.0, 2.5))
def test_frontier_lies_between_the_oracle_optima(case, unit, factor):
    """load[w] is a DP answer for deadline w*T: no better than the exact optimum at w*T, no worse than
    the exact optimum at w*T - (2L+2)*T (SPEC §4); NaN exactly where the DP finds nothing."""
    doc, sc = case
    k = O.layer_costs(doc, sc)
    lam = max(O.min_latency(k) * factor, unit)
    scen = Scenario(**{**sc, "deadline_ms": lam, "unit_ms": unit})
    prof = profile_from_doc(doc)
    fr = frontier(prof, scen)
    same = frontier_costs(costs_for(prof, scen), scen)
    assert np.array_equal(fr.server_load, same.server_load, equal_nan=True)
    total = sum(k["reward"])
    assert math.isclose(fr.total_load, total, rel_tol=1e-9, abs_tol=1e-9)
    W = math.floor(lam / unit + 1e-9)
    assert len(fr.deadline_ms) == W + 1 and fr.deadline_ms[-1] == W * unit
    L, tol = len(doc["layers"]), 1e-9 * max(1.0, total)
    for w in range(W + 1):
        best, worst = O.best_reward(k, w * unit), O.best_reward(k, (w - 2 * L - 2) * unit)
        load = fr.server_load[w]
        if best is None:
            assert math.isnan(load), w
            continue
        if worst is not None:
            assert not math.isnan(load) and load <= total - worst + tol, w
        if not math.isnan(load):
            assert total - best - tol <= load <= total + tol, w
            assert load >= 0.0
            share = fr.server_share[w]
            assert math.isclose(share, load / total if total > 0 else 0.0, rel_tol=1e-9, abs_tol=1e-12)


def test_frontier_refuses_a_table_too_large(tiny_doc):
    prof = profile_from_doc(tiny_doc)
    with pytest.raises(SplittuiError, match="unit_ms 1e-06 is too small"):
        frontier(prof, Scenario(seq_len=128, deadline_ms=1e6, unit_ms=1e-6))


def test_only_the_dp_needs_a_coarse_enough_unit(tiny_doc):
    """unit_ms is the DP's alone: the other solvers answer whatever the unit, the DP refuses a huge table."""
    prof = profile_from_doc(tiny_doc)
    sc = Scenario(seq_len=128, deadline_ms=1e6, unit_ms=1e-6)
    for name in ("exact", "greedy", "single-split", "no-split", "brute-force"):
        assert solve(prof, sc, name).feasible, name
    with pytest.raises(SplittuiError, match="unit_ms 1e-06 is too small"):
        solve(prof, sc, "dp")
    with pytest.raises(SplittuiError, match="unit_ms 1e-06 is too small"):
        solve_all(prof, sc)
    assert set(solve_all(prof, sc, ("exact", "greedy"))) == {"exact", "greedy"}


@CORE
@given(oracle_cases(max_layers=4), st.sampled_from(("ceil", "round")), st.floats(0.9, 2.0))
def test_frontier_end_is_the_dp_answer_in_either_rounding(case, rounding, factor):
    doc, sc = case
    k = O.layer_costs(doc, sc)
    scen = Scenario(**{**sc, "deadline_ms": max(O.min_latency(k) * factor, 0.5), "unit_ms": 0.5,
                       "rounding": rounding})
    prof = profile_from_doc(doc)
    fr, dp = frontier(prof, scen), solve(prof, scen, "dp")
    if dp.policy is not None:   # round mode: a DP policy may miss Λ in exact floats, yet it is the answer
        assert math.isclose(fr.server_load[-1], max(dp.server_load, 0.0), rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert math.isnan(fr.server_load[-1]) and not dp.feasible


def test_brute_force_layer_limit(monkeypatch):
    """brute-force enumerates 2^L policies: up to BRUTE_FORCE_MAX_LAYERS layers, an error beyond."""
    from splittui.solvers import baselines

    monkeypatch.setattr(baselines, "BRUTE_FORCE_MAX_LAYERS", 3)
    c = Costs(client_ms=np.ones(3), server_ms=np.ones(3), up_ms=np.ones(3), down_ms=np.ones(3), reward=np.ones(3),
              up_out_ms=1.0, down_out_ms=1.0, start_client=True, end_client=True, deadline_ms=10.0)
    assert baselines.brute_force_policy(c) == (1, 1, 1)
    c4 = replace(c, client_ms=np.ones(4), server_ms=np.ones(4), up_ms=np.ones(4), down_ms=np.ones(4),
                 reward=np.ones(4))
    with pytest.raises(SplittuiError, match="^brute-force is limited to 3 layers, this chain has 4$"):
        baselines.brute_force_policy(c4)


def test_costs_latency_is_the_breakdown_total(tiny_doc):
    c = costs_for(profile_from_doc(tiny_doc), Scenario(seq_len=128, up_mbps=8.0, delay_ms=1.0))
    # x = (1, 0, 1): client 5 + 7, server 0.5; up 1 + 4096 B / 1000 B/ms, down the same; answer stays
    assert math.isclose(latency(c, (1, 0, 1)), 12.5 + 2 * 5.096, rel_tol=1e-12)
    assert latency(c, (1, 1, 1)) == breakdown(c, (1, 1, 1)).total_ms == 18.0


def _chain(**kw) -> Costs:
    base = dict(client_ms=[10.0], server_ms=[1.0], up_ms=[2.0], down_ms=[2.0], reward=[0.0], up_out_ms=8.0,
                down_out_ms=8.0, start_client=True, end_client=True, deadline_ms=20.0)
    base.update(kw)
    return Costs(**{k: np.array(v, dtype=np.float64) if isinstance(v, list) else v for k, v in base.items()})


@pytest.mark.parametrize("end_client, want", [(True, (1,)), (False, (0,))])
def test_exact_ties_go_to_the_fastest_counting_the_answer_transfer(end_client, want):
    # no reward anywhere: every policy ties, the fastest wins. End on the client: x=1 takes 10 ms,
    # x=0 takes 2 + 1 + 8 (answer down) = 11 ms. End on the server: x=1 takes 10 + 8 (answer up) = 18,
    # x=0 takes 2 + 1 = 3.
    c = _chain(end_client=end_client)
    assert solve_costs(c, Scenario(deadline_ms=20.0), "exact").policy == want
    assert solve_costs(c, Scenario(deadline_ms=20.0), "brute-force").policy == want


@pytest.mark.parametrize("end_client", [True, False])
@pytest.mark.parametrize("start_client", [True, False])
def test_exact_finds_a_policy_that_meets_the_deadline_exactly(start_client, end_client):
    # reward only on the client; the deadline is exactly the latency of all-client, so exact must
    # return all-client (any other policy has less reward) although it has no slack at all
    c = _chain(client_ms=[3.0, 4.0], server_ms=[1.0, 1.0], up_ms=[2.0, 2.0], down_ms=[2.0, 2.0], reward=[5.0, 7.0],
               up_out_ms=0.5, down_out_ms=0.5, start_client=start_client, end_client=end_client)
    lam = 7.0 + (0.0 if start_client else 2.0) + (0.0 if end_client else 0.5)
    c = replace(c, deadline_ms=lam)
    for name in ("exact", "brute-force", "dp"):
        res = solve_costs(c, Scenario(deadline_ms=lam, unit_ms=0.5), name)
        assert res.policy == (1, 1) and res.latency_ms == lam, name


def test_front_door_defaults_and_unknown_solver(monkeypatch):
    c = _chain()
    sc = Scenario(deadline_ms=20.0)
    assert solve_costs(c, sc).solver == "dp"                      # the default solver
    res = evaluate_costs(c, (1,))
    assert res.solver == "given" and res.solve_ms == 0.0
    with pytest.raises(SplittuiError, match=r"^unknown solver 'fast': choose from dp, exact, greedy, single-split, "):
        solve_costs(c, sc, "fast")
    ticks = iter((10.0, 10.25))                                   # a fake clock: the solve takes 0.25 s
    monkeypatch.setattr("splittui.solvers.time.perf_counter", lambda: next(ticks))
    assert solve_costs(c, sc, "greedy").solve_ms == 250.0         # reported in ms
    ticks = iter((10.0, 10.5))
    late = solve_costs(replace(c, deadline_ms=1.0), Scenario(deadline_ms=1.0), "exact")
    assert not late.feasible and late.solve_ms == 500.0       # infeasible: still timed


def test_round_mode_rounds_to_nearest_and_can_miss_the_deadline():
    c = _chain(client_ms=[1.4], reward=[1.0], deadline_ms=1.0)
    assert integerise(c, 1.0, "ceil").c.tolist() == [2] and integerise(c, 1.0, "round").c.tolist() == [1]
    assert integerise(c, 1.0, "round").d_out == 8 and integerise(c, 1.0).W == 1
    ceil = solve_costs(c, Scenario(deadline_ms=1.0), "dp")
    rnd = solve_costs(c, Scenario(deadline_ms=1.0, rounding="round"), "dp")
    assert ceil.policy is None and rnd.policy == (1,) and not rnd.feasible and rnd.latency_ms == 1.4


def test_run_dp_itself_refuses_a_table_over_its_memory_limit():
    c = _chain(deadline_ms=1000.0)
    need = dp_memory_bytes(1, 1000)
    run_dp(c, 1.0, mem_limit=int(need))                          # fits exactly
    with pytest.raises(SplittuiError, match="too small for deadline_ms 1000"):
        run_dp(c, 1.0, mem_limit=int(need) - 1)


def test_a_unit_so_small_that_the_table_is_unbounded():
    with pytest.raises(SplittuiError, match=r"W=inf units x 3 layers needs unbounded memory"):
        check_memory(3, 1e10, 1e-308)
