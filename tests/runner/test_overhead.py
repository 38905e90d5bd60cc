"""The per-transfer overhead: measured by `splittui profile` in separate processes, stored in the profile,
and used by the prediction (a profile with a larger overhead predicts more per transfer, and by exactly
that much per transfer)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splittui.analytic import gpt2_like_doc
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.runner.overhead import measure_transfer_overhead
from splittui.runner.predict import planned_overhead_ms, predict

DOC = gpt2_like_doc()
N = len(DOC["layers"])


def _with_overhead(ms: float | None):
    doc = dict(DOC)
    if ms is not None:
        doc["transfer"] = {"overhead_ms": ms, "method": "test"}
    return profile_from_doc(doc)


def test_profile_without_the_field_has_no_overhead():
    assert planned_overhead_ms(_with_overhead(None)) == 0.0


@settings(max_examples=30, deadline=None)
@given(small=st.floats(0.0, 5.0), extra=st.floats(0.01, 20.0), cuts=st.sets(st.integers(1, N - 1), max_size=6),
       seq=st.sampled_from(gpt2_like_doc()["seq_lens"]))
def test_larger_overhead_predicts_more_per_transfer(small, extra, cuts, seq):
    policy, side = [], 1
    for i in range(N):
        side = 1 - side if i in cuts else side
        policy.append(side)
    sc = Scenario(deadline_ms=1e9, up_mbps=100.0, seq_len=seq)
    lo, hi = _with_overhead(small), _with_overhead(small + extra)
    p_lo = predict(lo, sc, policy, planned_overhead_ms(lo))
    p_hi = predict(hi, sc, policy, planned_overhead_ms(hi))
    assert p_hi.transfers == p_lo.transfers
    assert p_hi.latency_ms - p_lo.latency_ms == pytest.approx(extra * p_lo.transfers, rel=1e-9, abs=1e-9)
    if p_lo.transfers:
        assert p_hi.latency_ms > p_lo.latency_ms


def test_measured_overhead_is_a_small_positive_number():
    got = measure_transfer_overhead(rounds=5)
    assert len(got["samples_ms"]) == 5
    assert 0.0 <= got["overhead_ms"] < 1000.0 and math.isfinite(got["overhead_ms"])
    assert got["overhead_ms"] == pytest.approx(sorted(got["samples_ms"])[2], abs=1e-3)


def test_the_profiles_own_server_process_hosts_the_echo_and_no_process_is_spawned_for_it(monkeypatch):
    """`splittui profile --server cpu:N` measures the overhead against its own server process while it lives
    (`ServerProcess.call`), through the same round trips; the echo server ends with the measurement and the
    process keeps timing passes afterwards."""
    from splittui.attention import FULL
    from splittui.profiler.server_proc import ServerProcess, zoo_recipe
    from splittui.runner import overhead

    with ServerProcess(zoo_recipe("bert-base", True, FULL), 1) as proc:
        starts = []
        real = overhead.torch_context
        monkeypatch.setattr(overhead, "torch_context", lambda: starts.append(1) or real())
        got = measure_transfer_overhead(rounds=5, via=proc)
        assert not starts    # no echo process of its own
        assert len(got["samples_ms"]) == 5 and 0.0 <= got["overhead_ms"] < 1000.0
        assert "the profile's own server process" in got["method"]
        assert proc.call(len, overhead._ECHO) == 0   # the echo server was stopped in that process
        assert len(proc.pass_times(16, True)) == len(proc.pass_times(16, False)) > 0
