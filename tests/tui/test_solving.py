"""The solve worker's two answers: what the shown tab draws first, the rest after its frame. The first
answer of a chart tab skips exact unless DP finds nothing; the second keeps the first's objects; the
table never shows a half state; saving and exporting always see every solver."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_app import settle

import splittui
from splittui.solvers import APP_SOLVERS
from splittui.tui.app import make_app
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
