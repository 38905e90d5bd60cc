"""splittui against the independent oracle (tests/core/oracle.py, no splittui code) on random profile
documents: costs_for term by term, evaluate, and the numbers every solver reports (SPEC §2-§5).

The documents have 1-4 sequence lengths and arbitrary (non-monotone) samples, so the scenario's
length falls on a sample, between samples (linear, quadratic, clamped) or at an end; bandwidths are
asymmetric or equal, the delay zero or not, start and end on either side, every objective.
"""

from __future__ import annotations

import math

import numpy as np
import oracle as O
from core_strategies import CORE, oracle_cases
from hypothesis import assume, given
from hypothesis import strategies as st

from splittui.costs import costs_for, min_latency
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.solvers import SOLVERS, evaluate, solve


def _scenario(sc: dict, **over) -> Scenario:
    return Scenario(**{**sc, **over})


def _with_deadline(doc: dict, sc: dict, data) -> tuple[dict, dict]:
    """Set a deadline around the least latency (sometimes below it: infeasible)."""
    k = O.layer_costs(doc, sc)
    lam = max(O.min_latency(k) * data.draw(st.floats(0.7, 3.0)), 0.01)
    return k, {**sc, "deadline_ms": lam}


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(scale)))


def _scale(values) -> float:
    return max([1.0, *(abs(v) for v in values)])


@CORE
@given(oracle_cases())
def test_costs_for_term_by_term(case):
    doc, sc = case
    c = costs_for(profile_from_doc(doc), _scenario(sc))
    k = O.layer_costs(doc, sc)
    for name in ("client_ms", "server_ms", "up_ms", "down_ms", "reward"):
        got, want = getattr(c, name), k[name]
        assert len(got) == len(want)
        for layer, (g, w) in enumerate(zip(got.tolist(), want, strict=True)):
            assert _close(g, w, _scale(want)), (name, layer, g, w)
    assert _close(c.up_out_ms, k["up_out_ms"], k["up_out_ms"])
    assert _close(c.down_out_ms, k["down_out_ms"], k["down_out_ms"])
    assert (c.start_client, c.end_client) == (k["start_client"], k["end_client"])
    assert c.deadline_ms == sc["deadline_ms"]


@CORE
@given(oracle_cases(), st.data())
def test_evaluate_matches_the_oracle(case, data):
    doc, sc = case
    k, sc = _with_deadline(doc, sc, data)
    L = len(doc["layers"])
    x = tuple(data.draw(st.lists(st.integers(0, 1), min_size=L, max_size=L)))
    res = evaluate(profile_from_doc(doc), _scenario(sc), x)
    parts, lat = O.latency_parts(k, x), O.latency(k, x)
    assert _close(res.latency_ms, lat, lat)
    bd = res.breakdown
    for got, part in ((bd.client_ms, "client"), (bd.server_ms, "server"), (bd.upload_ms, "upload"),
                      (bd.download_ms, "download")):
        assert _close(got, parts[part], lat), part
    total = sum(k["reward"])
    assert _close(res.server_load, O.server_load(k, x), total)
    assert _close(res.total_load, total, total)
    assert _close(res.server_share, O.server_share(k, x))
    assert res.switches == O.switches(k, x)
    assert _close(res.min_latency_ms, O.min_latency(k), lat)
    if not math.isclose(lat, sc["deadline_ms"], rel_tol=1e-6):
        assert res.feasible == O.meets(lat, sc["deadline_ms"])


def _check_reported(res, k: dict, deadline_ms: float) -> None:
    """A feasible result's numbers are the oracle's for its policy, and the policy meets Λ."""
    x = res.policy
    lat, total = O.latency(k, x), sum(k["reward"])
    assert O.meets(lat, deadline_ms * (1 + 1e-9)), (res.solver, lat, deadline_ms)
    assert _close(res.latency_ms, lat, lat), res.solver
    assert _close(res.breakdown.total_ms, lat, lat), res.solver
    assert _close(res.server_load, O.server_load(k, x), total), res.solver
    assert _close(res.server_share, O.server_share(k, x)), res.solver
    assert res.switches == O.switches(k, x), res.solver


def _check_fastest_among_best(res, k: dict, lam: float, total: float) -> None:
    """Among the policies of the best reward, the exact solver returns a fastest one.

    Checked only when the near-best rewards are bitwise equal (the oracle and the solver both sum in
    layer order, so a tie is then a tie for both); near-ties that differ by rounding are ambiguous.
    """
    fits = [(sum(r for r, v in zip(k["reward"], x, strict=True) if v), O.latency(k, x)) for x in O.all_policies(k)]
    fits = [(r, t) for r, t in fits if O.meets(t, lam)]
    top = max(r for r, _ in fits)
    tied = [(r, t) for r, t in fits if r >= top - 1e-9 * max(1.0, total)]
    if len({r for r, _ in tied}) == 1:
        fastest = min(t for _, t in tied)
        assert _close(res.latency_ms, fastest, fastest), (res.latency_ms, fastest)


def _client_reward(res) -> float:
    return res.total_load - res.server_load


@CORE
@given(oracle_cases(), st.data())
def test_every_solver_reports_the_oracle_numbers(case, data):
    doc, sc = case
    k, sc = _with_deadline(doc, sc, data)
    lam = sc["deadline_ms"]
    prof = profile_from_doc(doc)
    unit = data.draw(st.sampled_from((0.05, 0.25, 1.0)))
    scen = _scenario(sc, unit_ms=unit)
    total, best = sum(k["reward"]), O.best_reward(k, lam)
    assume(not any(math.isclose(O.latency(k, x), lam, rel_tol=1e-7) for x in O.all_policies(k)))
    results = {name: solve(prof, scen, name) for name in SOLVERS}
    for name, res in results.items():
        assert _close(res.min_latency_ms, O.min_latency(k), O.min_latency(k)), name
        assert _close(res.total_load, total, total), name
        if res.feasible:
            _check_reported(res, k, lam)
        else:
            assert res.policy is None and res.latency_ms is None, name
    for name in ("exact", "brute-force"):
        assert results[name].feasible == (best is not None), name
        if best is not None:
            assert _close(_client_reward(results[name]), best, total), name
    if best is not None:
        _check_fastest_among_best(results["exact"], k, lam, total)
    assert results["greedy"].policy == O.greedy(k, lam)
    ss = O.single_split_reward(k, lam)
    assert results["single-split"].feasible == (ss is not None)
    if ss is not None:
        assert _close(_client_reward(results["single-split"]), ss, total)
    L = len(doc["layers"])
    for name, x in (("no-split", (0,) * L), ("all-client", (1,) * L)):
        assert results[name].feasible == O.meets(O.latency(k, x), lam), name
    dp = results["dp"]
    if dp.feasible:
        assert _client_reward(dp) <= best + 1e-9 * max(1.0, total)
    lower = O.best_reward(k, lam - (2 * L + 2) * unit)
    if lower is not None:
        assert dp.feasible and _client_reward(dp) >= lower - 1e-9 * max(1.0, total)


@CORE
@given(oracle_cases())
def test_least_latency_is_the_oracle_minimum(case):
    doc, sc = case
    k = O.layer_costs(doc, sc)
    c = costs_for(profile_from_doc(doc), _scenario(sc))
    m = O.min_latency(k)
    assert _close(min_latency(c), m, m)


def test_oracle_agrees_with_a_hand_computed_scenario():
    """The oracle itself, on numbers worked out by hand (so it cannot drift along with splittui)."""
    doc = {"seq_lens": [100], "output_bytes": [500.0],
           "layers": [{"client_ms": [3.0], "server_ms": [1.0], "in_bytes": [1000.0], "flops": [10.0]},
                      {"client_ms": [5.0], "server_ms": [2.0], "in_bytes": [2000.0], "flops": [30.0]}]}
    sc = {"up_mbps": 8.0, "down_mbps": 16.0, "delay_ms": 2.0, "seq_len": 100, "start": "client",
          "end": "client", "objective": "flops"}
    k = O.layer_costs(doc, sc)
    # 8 Mbit/s = 1000 byte/ms up, 2000 byte/ms down; each crossing also pays the 2 ms delay
    assert k["up_ms"] == [3.0, 4.0] and k["down_ms"] == [2.5, 3.0]
    assert (k["up_out_ms"], k["down_out_ms"]) == (2.5, 2.25)
    # x = (1, 0): client 3, up 4, server 2, answer down 2.25
    assert O.latency_parts(k, (1, 0)) == {"client": 3.0, "server": 2.0, "upload": 4.0, "download": 2.25}
    assert O.server_load(k, (1, 0)) == 30.0 and O.server_share(k, (1, 0)) == 0.75
    assert O.switches(k, (1, 0)) == 2 and O.latency(k, (1, 1)) == 8.0
    assert O.min_latency(k) == 8.0 and O.best_reward(k, 8.0) == 40.0 and O.best_reward(k, 7.9) is None
    # greedy stops at the first prefix that misses: at 8.25 prefix 0 (8.25) fits, prefix 1 (11.25) not
    assert O.greedy(k, 8.25) == (0, 0) and O.single_split_reward(k, 8.25) == 40.0
    assert O.greedy(k, 8.1) is None and O.single_split_reward(k, 8.1) == 40.0
    sc_server = {**sc, "start": "server", "end": "server"}
    k = O.layer_costs(doc, sc_server)
    assert O.latency_parts(k, (1, 1)) == {"client": 8.0, "server": 0.0, "upload": 2.5, "download": 2.5}
    assert np.isclose(O.latency(k, (0, 0)), 3.0)
