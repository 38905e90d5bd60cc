"""The infeasible banner's fixes (`splittui.solvers.fixes`): every fix, applied as shown, makes the
scenario feasible under the exact solver with its TTFT/TPOT limits; the binding constraint is named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_generation import GEN, LIMITS, _limited, gen_cases, oracle_phases

from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.solvers import solve
from splittui.solvers.fixes import Grids, diagnose, feasible, least_latency_ms

PROFILE = load_profile("gpt2-like")   # the shipped profile: it has decode costs


def _feasible_by_brute_force(prof, sc: Scenario) -> bool:
    """Some policy meets the deadline and the limits, by the brute-force solver (all 2^L policies; the
    fixes use the exact solver)."""
    return solve(prof, sc, "brute-force").feasible


@pytest.mark.parametrize("limits", LIMITS, ids=["none", "ttft", "tpot", "both"])
@GEN
@given(case=gen_cases(), data=st.data())
def test_every_fix_applied_as_shown_makes_the_scenario_feasible(limits, case, data):
    """Random small profiles with decode costs, scenarios around what the policies reach: every fix,
    applied with the value it shows, is feasible by brute force; a feasible scenario gets none."""
    doc, prof, sc = case
    sc = _limited(sc, oracle_phases(doc, prof, sc), data, limits)
    d = diagnose(prof, sc, Grids(bandwidths=(1.0, 2.0, 5.0, 10.0, 100.0, 1000.0), delays=(0.0, 1.0, 2.0, 5.0)))
    if _feasible_by_brute_force(prof, sc):
        assert d.fixes == () and d.binding == ()
        return
    assert d.fixes and d.binding and d.reason
    for fix in d.fixes:
        assert _feasible_by_brute_force(prof, fix.apply(sc)), fix.text
    if d.least_ms is None:   # no deadline is enough: a limit binds, and no fix only raises the deadline
        assert set(d.binding) <= {"TTFT", "TPOT"} and all(f.knob != "deadline" for f in d.fixes)
    elif d.binding != ("deadline",):   # a limit raises the least latency: it is named
        assert d.least_ms > d.free_ms and "bind" in d.reason


def test_the_binding_limit_is_named_and_the_deadline_fix_is_not_offered():
    """The issue's case: a 60 s deadline and a TPOT limit no placement meets: not "raise the deadline"."""
    sc = Scenario(deadline_ms=60_000, seq_len=512, gen_tokens=64, ttft_ms=400, tpot_ms=20)
    d = diagnose(PROFILE, sc)
    assert d.least_ms is None and d.binding == ("TPOT",)
    assert "TPOT ≤ 20.0 ms" in d.reason and "whatever the deadline" in d.reason
    assert d.fixes[0].knob == "TPOT" and not any(f.knob == "deadline" for f in d.fixes)
    assert all(feasible(PROFILE, f.apply(sc)) for f in d.fixes)


def test_two_limits_that_each_bind_are_both_named():
    sc = Scenario(deadline_ms=60_000, seq_len=512, gen_tokens=64, ttft_ms=20, tpot_ms=20)
    d = diagnose(PROFILE, sc)
    assert d.binding == ("TTFT", "TPOT") and "TTFT ≤ 20.0 ms and TPOT ≤ 20.0 ms" in d.reason
    assert d.fixes and all(feasible(PROFILE, f.apply(sc)) for f in d.fixes)


def test_the_deadline_fix_counts_the_output_tokens():
    """The least latency is the whole request's (prefill alone would suggest far too little)."""
    sc = Scenario(deadline_ms=500, seq_len=512, gen_tokens=64)
    d = diagnose(PROFILE, sc)
    least = least_latency_ms(PROFILE, sc)
    assert d.binding == ("deadline",) and least is not None and least > 500
    assert d.fixes[0].changes["deadline_ms"] >= least and feasible(PROFILE, d.fixes[0].apply(sc))


@pytest.mark.parametrize("seq", [1024, 2048])
def test_a_seq_fix_is_never_followed_by_another(seq):
    """At the suggested length the scenario is feasible (not "≤ 939", then at 939 "≤ 861")."""
    at_512 = least_latency_ms(PROFILE, Scenario(seq_len=512, gen_tokens=64))
    assert at_512 is not None
    sc = Scenario(deadline_ms=at_512 + 1.0, seq_len=seq, gen_tokens=64)
    assert not feasible(PROFILE, sc)
    fixes = {f.knob: f for f in diagnose(PROFILE, sc).fixes}
    assert "seq" in fixes and 512 <= fixes["seq"].changes["seq_len"] < seq
    assert all(feasible(PROFILE, f.apply(sc)) for f in fixes.values())
