"""Goal seek under TTFT/TPOT limits (issue 24, item 3): every answer's policy meets the limits, and exact's
least deadline is the least request latency of any policy that meets them within the target (brute force
over 2^L from SPEC §8 step by step, see test_generation's oracle), on random profiles with decode costs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_generation import GEN, _limited, _meets_all, gen_cases, oracle_phases

from splittui.cli import main
from splittui.solvers import evaluate
from splittui.solvers.goal import GOAL_SOLVERS, Target, least_bandwidth, least_deadline, request_frontier

shares = st.sampled_from((0.0, 0.25, 0.5, 0.75, 1.0))
LIMITS = [(True, False), (False, True), (True, True)]


def _meets_limits(v, sc) -> bool:
    """The limits alone (a goal seek chooses the deadline itself)."""
    return _meets_all(v, sc.replace(deadline_ms=1e300))


@pytest.mark.parametrize("limits", LIMITS, ids=["ttft", "tpot", "both"])
@GEN
@given(case=gen_cases(), share=shares, data=st.data())
def test_least_deadline_meets_the_limits_and_exact_is_least(limits, case, share, data):
    doc, prof, sc = case
    orc = oracle_phases(doc, prof, sc)
    sc = _limited(sc, orc, data, limits)
    total = max(v[2] for v in orc.values())          # all-client reward = the whole model's load
    cap = Target(max_share=share).load_cap(total)
    want = min((v[0] + v[1] for v in orc.values() if _meets_limits(v, sc) and total - v[2] <= cap), default=None)
    for solver in GOAL_SOLVERS:
        goal = least_deadline(prof, sc, solver, Target(max_share=share))
        if goal.value is None:
            if solver == "exact":
                assert want is None
            continue
        v = orc[goal.result.policy]
        assert _meets_limits(v, sc), (solver, goal.result.violations)
        assert goal.result.feasible and not goal.result.violations, solver
        assert v[0] + v[1] <= goal.value * (1 + 1e-9) + 1e-9, solver
        assert total - v[2] <= cap, solver
        if solver == "exact":
            assert want is not None and math.isclose(goal.value, want, rel_tol=1e-9, abs_tol=1e-6)


@GEN
@given(case=gen_cases(), data=st.data())
def test_request_frontier_points_meet_the_limits_and_are_pareto(case, data):
    doc, prof, sc = case
    orc = oracle_phases(doc, prof, sc)
    sc = _limited(sc, orc, data, (True, True))
    from splittui.generation import phase_costs

    points = request_frontier(phase_costs(prof, sc), sc)
    ok = [v for v in orc.values() if _meets_limits(v, sc)]
    assert bool(points) == bool(ok)
    for a, b in zip(points, points[1:]):
        assert a.deadline_ms < b.deadline_ms and a.result.server_load > b.result.server_load + 1e-12   # strictly
    for p in points:
        assert _meets_limits(orc[p.result.policy], sc)


@GEN
@given(case=gen_cases(), share=shares, data=st.data())
def test_least_bandwidth_answer_meets_the_limits(case, share, data):
    doc, prof, sc = case
    orc = oracle_phases(doc, prof, sc)
    sc = _limited(sc, orc, data, (True, True))
    goal = least_bandwidth(prof, sc, "exact", Target(max_share=share), rel_tol=1e-3)
    if goal.value is not None:
        at = sc.replace(up_mbps=goal.value, down_mbps=goal.value * sc.down_mbps / sc.up_mbps)
        assert evaluate(prof, at, goal.result.policy).feasible


def test_issue_24_goal_seek_with_limits_on_gpt2(capsys):
    """The issue's two commands: no answer breaks a limit, and a TTFT limit above a trial deadline is
    no error."""
    import json

    for argv in (["--ttft-ms", "1200", "--max-share", "0.9"], ["--ttft-ms", "500", "--max-share", "0.5"]):
        assert main(["solve", "--model", "gpt2-like", "--gen-tokens", "64", "--tpot-ms", "60", *argv,
                     "--json"]) == 0
        docs = json.loads(capsys.readouterr().out)
        for d in docs:
            if d.get("policy") is not None:
                assert d["violations"] == [] and d["ttft_ms"] <= float(argv[1]) and d["tpot_ms"] <= 60


def test_dp_least_deadline_with_a_ttft_limit_above_the_dp_horizon():
    """CI found it: the DP's frontier stops at all-client + slack; a TTFT limit above that horizon is
    implied there and must not make the scenario at the horizon invalid (ttft > deadline)."""
    from splittui.model import Scenario
    from splittui.profiles import load_profile

    prof = load_profile("gpt2-like")
    sc = Scenario(deadline_ms=1e7, seq_len=128, up_mbps=8.0, down_mbps=8.0, ttft_ms=1e6)
    goal = least_deadline(prof, sc, "dp", Target(max_share=1.0))
    assert goal.value is not None and goal.result.feasible and not goal.result.violations


def _same_front(a, b) -> bool:
    keys = ("policy", "latency_ms", "server_load", "feasible", "ttft_ms", "tpot_ms", "deadline_ms")
    return len(a) == len(b) and all(p.deadline_ms == q.deadline_ms and all(
        getattr(p.result, k) == getattr(q.result, k) for k in keys) for p, q in zip(a, b, strict=True))


def _per_point(ph, sc):
    """request_frontier as it was under pins: one constrained exact solve per point."""
    from splittui.solvers import goal

    with pytest.MonkeyPatch.context() as m:
        m.setattr(goal, "_pins_reader", lambda *args: None)
        return request_frontier(ph, sc)


@GEN
@given(case=gen_cases(), data=st.data())
def test_frontier_under_pins_in_one_pass_is_the_per_point_frontier(case, data):
    """Pins alone: every point read from one pass over the barred chain is the constrained exact solver's
    answer at that deadline (policy, latency, load, TTFT/TPOT), as one solve per point gives it."""
    from splittui.generation import phase_costs

    doc, prof, sc = case
    layers = st.integers(0, prof.n_layers - 1)
    on_client = data.draw(st.sets(layers, max_size=2))
    on_server = data.draw(st.sets(layers, max_size=2).map(lambda s: s - on_client))
    sc = sc.replace(pin_client=tuple(sorted(on_client)), pin_server=tuple(sorted(on_server)))
    ph = phase_costs(prof, sc)
    assert _same_front(request_frontier(ph, sc), _per_point(ph, sc))


@pytest.mark.parametrize("model, knobs", [("gpt2-like", dict(pin_client=(0, 193, 194))),
                                          ("gpt2-like", dict(pin_server=(5, 6), gen_tokens=8)),
                                          ("gpt2-like", dict(pin_client=(0,), client_mem_gb=8.0))])
def test_frontier_under_pins_on_shipped_profiles(model, knobs):
    import splittui
    from splittui.generation import phase_costs

    prof = splittui.load_profile(model)
    sc = splittui.Scenario(seq_len=prof.default_seq, **knobs)
    ph = phase_costs(prof, sc)
    fast = request_frontier(ph, sc)
    assert len(fast) > 5 and _same_front(fast, _per_point(ph, sc))
