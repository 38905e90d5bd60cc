"""The solve worker's two answers: what the shown tab draws first, the rest after its frame. The first
answer of a chart tab skips exact unless DP finds nothing; the second keeps the first's objects; the
table never shows a half state; saving and exporting always see every solver."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_app import settle

import splittui
from splittui.model import Scenario
from splittui.solvers import APP_SOLVERS
from splittui.tui.app import make_app
from splittui.tui.profile_choice import fit_scenario
from splittui.tui.solving import CHART_SOLVERS
from splittui.tui.state import EVERY_PART, Parts, complete_state, compute_state, full_results
from splittui.tui.widgets.numbers import NumbersPanel


@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


CHART = Parts(CHART_SOLVERS, frontier=False, timelines=True)


def test_a_chart_tab_first_skips_exact_and_the_rest_keeps_what_it_has(profile):
    first = compute_state(profile, splittui.Scenario(), parts=CHART)
    assert set(first.results) == {"dp"} and first.frontier is None and "dp" in first.timelines
    assert not first.has_rows and first.solvers == list(APP_SOLVERS)
    full = complete_state(first, EVERY_PART)
    assert list(full.results) == list(APP_SOLVERS) and full.has_rows and full.frontier is not None
    assert full.results["dp"] is first.results["dp"] and full.timelines["dp"] is first.timelines["dp"]
    every = compute_state(profile, splittui.Scenario())
    for name in APP_SOLVERS:
        assert full.results[name].policy == every.results[name].policy, name
    assert complete_state(full, EVERY_PART) is full


def test_exact_joins_when_dp_finds_nothing(profile):
    """The banner tells an infeasible deadline from DP's rounding with exact's answer."""
    st = compute_state(profile, splittui.Scenario(deadline_ms=80), parts=CHART)
    assert not st.results["dp"].feasible and "exact" in st.results


def test_full_results_solves_what_the_first_answer_left_out(profile):
    first = compute_state(profile, splittui.Scenario(), parts=CHART)
    assert list(full_results(first)) == list(APP_SOLVERS)


async def test_chart_tab_press_then_table_shows_every_row(profile):
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.action_show_tab("flops")
        await settle(pilot)
        await pilot.press("left")
        await settle(pilot)
        assert app.state.has_rows and app.state.parts.covers(EVERY_PART)   # the second answer came
        panel = app.query_one(NumbersPanel)
        assert panel.state is app.state
        half = replace(app.state, results={"dp": app.state.results["dp"]}, parts=CHART)
        whole = app.state
        app.state = half   # a first answer: it never replaces a whole table
        await pilot.pause()
        assert app.state is half and panel.state is whole
        await pilot.press("s")   # saved right after a key press: still every solver
        await pilot.pause()
        assert list(app.slots[-1].results) == list(APP_SOLVERS)


def test_deadline_steps_reuse_one_dp_pass_with_the_fresh_answers(profile, monkeypatch):
    """Steps of the deadline read the DP and the frontier from the pass the last state filled; every
    answer equals a state computed with no pass to reuse."""
    from splittui.tui import state as S

    sc0 = fit_scenario(profile, Scenario(deadline_ms=1500.0, unit_ms=1.0, seq_len=profile.default_seq))[0]
    prev = None
    for d in (1500.0, 1600.0, 1400.0, 1800.0, 1100.0, 2500.0, 1500.0):
        sc = sc0.replace(deadline_ms=d)
        st = S.compute_state(profile, sc, parts=S.Parts(frontier=True, timelines=True), previous=prev)
        with monkeypatch.context() as m:
            m.setattr(S, "SPAN_MAX_UNITS", 0)        # no pass: DP and frontier solved afresh
            fresh = S.compute_state(profile, sc, parts=S.Parts(frontier=True, timelines=True))
        assert fresh.span is None and st.span is not None
        assert st.results["dp"].policy == fresh.results["dp"].policy
        np.testing.assert_array_equal(st.frontier.server_share, fresh.frontier.server_share)
        if prev is not None and d * S.FRONTIER_SPAN <= prev.span.costs.deadline_ms:
            assert st.span is prev.span                # reused, not refilled
        prev = st


def test_sweep_lines_equal_each_solvers_result_at_each_point(profile):
    """The bandwidth chart's points, read from a sweep table (also one built at another deadline),
    are each solver's own server share at that bandwidth and the table's T (NaN: infeasible)."""
    import math

    from splittui.generation import request_costs
    from splittui.solvers import solve_costs
    from splittui.tui.chart_data import SWEEP_SOLVERS, sweep_lines

    sc0 = fit_scenario(profile, Scenario(deadline_ms=1500.0, unit_ms=1.0, seq_len=profile.default_seq))[0]
    table = None
    for d in (1500.0, 1300.0, 1900.0, 300.0, 40_000.0):
        sc = sc0.replace(deadline_ms=d)
        bws, lines, new = sweep_lines(profile, sc, table)
        assert (new is table) == (table is not None and table.lo_ms <= d <= table.hi_ms)
        table = new
        for j, bw in enumerate(bws):
            s2 = sc.replace(up_mbps=float(bw), down_mbps=float(bw), unit_ms=table.unit_ms)
            c = request_costs(profile, s2)
            for name in SWEEP_SOLVERS:
                r = solve_costs(c, s2, name)
                want = 100 * r.server_share if r.feasible and r.server_share is not None else math.nan
                assert lines[name][j] == pytest.approx(want, rel=1e-9, abs=1e-9, nan_ok=True), (name, bw, d)
