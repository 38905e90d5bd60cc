"""The automatic deadline of `splittui run` leaves dp and greedy feasible, with a real choice between them
and all-client."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from splittui.analytic import gpt2_like_doc
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.runner.command import auto_scenario
from splittui.solvers import solve

PROFILE = profile_from_doc(gpt2_like_doc())


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
