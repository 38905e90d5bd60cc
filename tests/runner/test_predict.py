"""The automatic deadline of `splittui run` leaves dp and greedy feasible, with a real choice between them
and all-client."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splittui.analytic import gpt2_like_doc
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.runner.planning import all_client_ms, scenario_for
from splittui.solvers import solve

PROFILE = profile_from_doc(gpt2_like_doc())


def _args(deadline=None, up=100.0, delay=0.0):
    return SimpleNamespace(deadline_ms=deadline, up_mbps=up, down_mbps=None, delay_ms=delay, unit_ms=1.0,
                           objective="flops", rounding="ceil")


def auto_scenario(profile, sc):
    return scenario_for(_args(up=sc.up_mbps, delay=sc.delay_ms), profile, sc.seq_len)


@settings(max_examples=25, deadline=None)
@given(seq=st.sampled_from(PROFILE.seq_lens), up=st.floats(1.0, 2000.0, allow_subnormal=False),
       delay=st.floats(0.0, 50.0, allow_subnormal=False))
def test_auto_deadline_keeps_dp_and_greedy_feasible(seq, up, delay):
    sc = auto_scenario(PROFILE, Scenario(deadline_ms=1e6, up_mbps=up, delay_ms=delay, seq_len=seq))
    dp, greedy = solve(PROFILE, sc, "dp"), solve(PROFILE, sc, "greedy")
    assert dp.feasible and greedy.feasible
    # a real choice: the deadline sits above the fastest placement and below all-client when that is slower
    assert dp.min_latency_ms < sc.deadline_ms
    all_client = solve(PROFILE, sc.replace(deadline_ms=1e9), "all-client").latency_ms
    assert sc.deadline_ms < all_client or sc.deadline_ms <= 1.1 * dp.min_latency_ms * 1.05 + 1e-9


@settings(max_examples=25, deadline=None)
@given(seq=st.sampled_from(PROFILE.seq_lens), frac=st.floats(0.3, 1.5), up=st.floats(1.0, 2000.0))
def test_fractional_deadline_is_that_fraction_of_planned_all_client(seq, frac, up):
    sc = scenario_for(_args(deadline=f"{frac}x", up=up), PROFILE, seq)
    assert sc.deadline_ms == pytest.approx(frac * all_client_ms(PROFILE, sc))
    everything_client = solve(PROFILE, sc.replace(deadline_ms=1e9), "all-client").latency_ms
    assert all_client_ms(PROFILE, sc) == pytest.approx(everything_client)
    dp = solve(PROFILE, sc, "dp")
    if dp.feasible:  # the DP's own time unit never makes it miss the deadline it was given
        assert dp.latency_ms <= sc.deadline_ms + 1e-6
