"""The app's reuse rules (splittui/tui/reuse.py): a knob step recomputes what depends on that knob, and
the state equals one computed from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from splittui.generation import phase_costs
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.tui import chart_data, reuse
from splittui.tui.state import EVERY_PART, Parts, complete_state, compute_state

ALL = EVERY_PART | Parts(sweep=True)


def _same(a, b) -> None:
    assert list(a.results) == list(b.results)
    for name in a.results:
        ra, rb = a.results[name], b.results[name]
        assert (ra.policy, ra.feasible, ra.latency_ms, ra.server_share, ra.violations) == \
            (rb.policy, rb.feasible, rb.latency_ms, rb.server_share, rb.violations), name
    assert dict(a.timelines) == dict(b.timelines) and dict(a.prefill_end_ms) == dict(b.prefill_end_ms)
    np.testing.assert_array_equal(a.frontier.server_share, b.frontier.server_share)
    np.testing.assert_array_equal(a.frontier.deadline_ms, b.frontier.deadline_ms)
    assert a.frontier_unit_ms == b.frontier_unit_ms
    for k in (0, 1, 2):
        np.testing.assert_array_equal(a.baselines[k], b.baselines[k])
    for name, ys in a.sweep.lines.items():
        np.testing.assert_array_equal(ys, b.sweep.lines[name])


@pytest.fixture(scope="module")
def llama():
    from splittui.llm import load_any

    return load_any("llama-3.1-8b")


def _fresh(profile, sc):
    """The state computed from scratch: no previous state, and no sweep table built before."""
    kept = dict(chart_data._TABLES)
    chart_data._TABLES.clear()
    try:
        return complete_state(compute_state(profile, sc, parts=ALL), ALL)
    finally:
        chart_data._TABLES.clear()
        chart_data._TABLES.update(kept)


def _walk(profile, sc, deadlines):
    prev = None
    for d in deadlines:
        s = sc.replace(deadline_ms=d)
        st = complete_state(compute_state(profile, s, parts=ALL, previous=prev), ALL)
        _same(st, _fresh(profile, s))
        prev = st
    return prev


def test_deadline_walk_equals_fresh_solves_gpt2():
    p = load_profile("gpt2-like")
    _walk(p, Scenario(seq_len=p.default_seq), [1500, 1600, 1800, 1600, 1500, 1300, 1500])


def test_deadline_walk_equals_fresh_solves_llama_with_limits(llama):
    sc = Scenario(deadline_ms=99_125.0, seq_len=llama.default_seq, gen_tokens=256, ttft_ms=5000.0, tpot_ms=150.0)
    _walk(llama, sc, [99_125.0, 90_000.0, 80_000.0, 36_000.0, 33_000.0, 36_000.0, 90_000.0])


def test_chains_redated_equal_phase_costs():
    p = load_profile("gpt2-like")
    sc = Scenario(seq_len=p.default_seq, gen_tokens=8)
    ch = reuse.chains(p, sc)
    moved = sc.replace(deadline_ms=2000.0, unit_ms=2.0, tpot_ms=50.0)
    again = reuse.chains(p, moved, ch)
    assert again.phases is not ch.phases and again.min_lat == ch.min_lat   # re-dated, not rebuilt
    want = phase_costs(p, moved)
    for got, ref in ((again.phases.prefill, want.prefill), (again.phases.decode, want.decode)):
        assert got.deadline_ms == ref.deadline_ms
        for f in ("client_ms", "server_ms", "up_ms", "down_ms", "reward"):
            np.testing.assert_array_equal(getattr(got, f), getattr(ref, f))
    assert reuse.chains(p, sc.replace(up_mbps=50.0), ch).key != ch.key   # a bandwidth step rebuilds them


def test_exact_is_reused_only_from_a_looser_scenario(monkeypatch, llama):
    """A tighter deadline the previous exact answer meets reads it; a looser one solves again."""
    import splittui.solvers as solvers

    calls = []
    real = solvers.solve_all

    def counting(profile, sc, names, **kw):
        calls.append(tuple(names))
        return real(profile, sc, names, **kw)

    monkeypatch.setattr(solvers, "solve_all", counting)
    sc = Scenario(deadline_ms=99_125.0, seq_len=llama.default_seq, gen_tokens=256, ttft_ms=5000.0, tpot_ms=150.0)
    first = compute_state(llama, sc, parts=EVERY_PART)
    assert any("exact" in c for c in calls)
    calls.clear()
    tighter = compute_state(llama, sc.replace(deadline_ms=80_000.0), parts=EVERY_PART, previous=first)
    assert not any("exact" in c for c in calls)
    assert tighter.exact.policy == first.exact.policy
    calls.clear()
    compute_state(llama, sc.replace(tpot_ms=200.0), parts=EVERY_PART, previous=tighter)   # a looser limit
    assert any("exact" in c for c in calls)
    assert not reuse.looser_or_equal(sc, sc.replace(ttft_ms=None))   # limits off: another solver runs


def test_timelines_of_an_unmoved_policy_are_kept():
    p = load_profile("gpt2-like")
    sc = Scenario(seq_len=p.default_seq)
    a = compute_state(p, sc, parts=EVERY_PART)
    b = compute_state(p, sc.replace(deadline_ms=1510.0), parts=EVERY_PART, previous=a)
    for name in b.timelines:
        if b.results[name].policy == a.results[name].policy:
            assert b.timelines[name] is a.timelines[name]


def test_prefetched_sweep_tables_are_the_next_buckets_and_equal_fresh_builds(llama):
    """After a key, the worker builds the sweep tables of the deadline buckets above and below (issue 32):
    a step into either reads that table, whose lines equal a table built from scratch; a cancelled
    prefetch builds nothing."""
    sc = Scenario(deadline_ms=99_125.0, seq_len=llama.default_seq, gen_tokens=256, ttft_ms=5000.0, tpot_ms=150.0)
    chart_data._TABLES.clear()
    table = chart_data.sweep_table(llama, sc)
    chart_data.prefetch_sweep(llama, sc, table, lambda: True)
    assert len(chart_data._TABLES) == 1   # cancelled: nothing more built
    chart_data.prefetch_sweep(llama, sc, table, lambda: False)
    assert len(chart_data._TABLES) == 3
    for deadline in (table.hi_ms * 1.1, table.lo_ms / 1.1):
        s = sc.replace(deadline_ms=deadline)
        before = len(chart_data._TABLES)
        _bws, lines, got = chart_data.sweep_lines(llama, s, table)
        assert len(chart_data._TABLES) == before and got.serves(s) and got is not table   # read, not built
        chart_data._TABLES.clear()
        _bws, fresh, _t = chart_data.sweep_lines(llama, s)
        for name, ys in fresh.items():
            np.testing.assert_array_equal(ys, lines[name])
        chart_data.prefetch_sweep(llama, sc, table, lambda: False)
        chart_data._TABLES[chart_data._cache_key(llama, sc, table.hi_ms)] = (llama, table)
    far = table.hi_ms * 20   # a slider step may leave the neighbouring buckets (off-grid start values)
    chart_data.prefetch_sweep(llama, sc, table, lambda: False, (far,))
    assert chart_data._cached(llama, chart_data._cache_key(llama, sc, chart_data.sweep_top(far))) is not None
