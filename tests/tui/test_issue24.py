"""Issue 24, the app's part: every knob everywhere. The crash keys replayed with `App.run_test()`, the
banner's fixes and binding limit, the default solver under TTFT/TPOT limits, goal seek on deadline and
uplink, the experiments and compare views with every knob, and the small items of the new-user test."""

from __future__ import annotations

import json

import pytest
from textual import events
from tui_helpers import open_policy_file, settle, shown, workers_done

import splittui
from splittui.llm import load_any
from splittui.policy import policy_document
from splittui.solvers import solve
from splittui.solvers.fixes import feasible
from splittui.tui.app import make_app
from splittui.tui.goal_actions import frontier_points
from splittui.tui.screens.goal import GoalScreen
from splittui.tui.solving import default_solver
from splittui.tui.widgets.banner import InfeasibleBanner
from splittui.tui.widgets.frontier_cursor import FrontierCursor
from splittui.tui.widgets.numbers import NumbersPanel
from splittui.tui.widgets.slider import Slider
from splittui.tui.widgets.status import StatusLine
from splittui.tui.widgets.strip import PlacementStrip


@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


def make(profile, **knobs):
    return make_app(profile, scenario=splittui.Scenario(**knobs), show_timings=False)


async def wait_frontier(pilot) -> FrontierCursor:
    await settle(pilot)
    await workers_done(pilot.app)
    await pilot.pause()
    return pilot.app.query_one(FrontierCursor)


# ----- 1. the crashes -----------------------------------------------------------------------------

async def test_frontier_tab_with_a_ttft_limit_keeps_running(profile):
    """The issue's keys: ↓×6 = 5 0 0 Enter 2 (a TTFT limit of 500 ms, then the Frontier tab)."""
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press(*["down"] * 6, "equals_sign", "5", "0", "0", "enter", "2")
        cursor = await wait_frontier(pilot)
        assert app.scenario.ttft_ms == 500 and app.return_code is None
        assert cursor.points, "the exact frontier is drawn"
    assert app._exception is None


def test_the_frontier_under_limits_meets_them(profile):
    sc = splittui.Scenario(deadline_ms=3000, gen_tokens=64, ttft_ms=500)
    points = frontier_points(profile, sc)
    assert points
    for p in points:
        r = splittui.evaluate(profile, sc.replace(deadline_ms=max(p.deadline_ms, 500.0)), p.policy)
        assert r.ttft_ms is not None and r.ttft_ms <= 500 + 1e-6


async def test_o_then_y_on_the_frontier_tab_with_a_file_made_under_a_ttft_limit(profile, tmp_path):
    sc = splittui.Scenario(deadline_ms=3000, gen_tokens=64, ttft_ms=500)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy_document(profile, sc, solve(profile, sc, "exact"))))
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await open_policy_file(pilot, path)
        await pilot.press("y")
        cursor = await wait_frontier(pilot)
        assert app.scenario.ttft_ms == 500 and cursor.points
    assert app._exception is None


async def test_q_then_e_pressed_at_once_quits_without_a_traceback(profile):
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.post_message(events.Key("q", None))   # both queued before either is handled: typed quickly
        app.post_message(events.Key("e", None))
        await pilot.pause()
        await pilot.pause()
    assert app._exception is None and app.return_code == 0


# ----- 2, 3. the banner and the default solver --------------------------------------------------

async def test_banner_names_the_binding_limit_and_each_fix_is_feasible(profile):
    sc = splittui.Scenario(deadline_ms=60_000, gen_tokens=64, ttft_ms=400, tpot_ms=20)
    app = make_app(profile, scenario=sc, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await workers_done(app)
        await pilot.pause()
        banner = app.query_one(InfeasibleBanner)
        text = " ".join(shown(banner).split())
        assert "no placement meets TPOT ≤ 20.0 ms, whatever the deadline" in text
        assert "raise deadline" not in text and "60,000.0 ms" in text     # one format: ms, never "60 s"
        assert banner.diagnosis is not None and banner.diagnosis.fixes
        for fix in banner.diagnosis.fixes:
            assert fix.text in text and feasible(app.profile, fix.apply(app.state.scenario))


async def test_dp_that_breaks_a_limit_is_said_plainly_and_exact_is_selected(profile, tmp_path):
    app = make(profile, deadline_ms=3000, gen_tokens=64, ttft_ms=500)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        st = app.state
        assert not st.dp.feasible and any(v.startswith("TTFT") for v in st.dp.violations)
        assert app.selected == "exact" == default_solver(st)
        assert st.results[app.selected].feasible                         # meets the deadline and every limit
        panel = shown(app.query_one(NumbersPanel))
        assert "dp does not enforce the TTFT/TPOT limits: it breaks TTFT" in panel
        assert not app.query_one(InfeasibleBanner).has_class("-shown")   # the warning is the status line's
        status = shown(app.query_one(StatusLine))
        assert "dp breaks TTFT (it ignores TTFT/TPOT limits); exact meets them" in status and "lower T" not in status
        await pilot.press("v")                                           # the user's choice wins from now on
        chosen = app.selected
        assert chosen != "exact"
        app.query_one("#deadline", Slider).set_value(3100.0)
        await settle(pilot)
        assert app.selected == chosen


async def test_dp_s_warning_comes_and_goes_on_the_status_line_without_moving_the_tabs(profile):
    """Issue 32: a walk of the deadline slider that makes DP break a limit and then meet it again shows and
    hides the warning in the status line's row; the tabs stay where they are (no layout of the screen)."""
    app = make(profile, deadline_ms=3000, gen_tokens=64, ttft_ms=500)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        status, tabs = app.query_one(StatusLine), app.query_one("#tabs")
        where = (status.region, tabs.region)
        assert status.has_class("-warning") and "dp breaks TTFT" in shown(status)
        for deadline, warned in ((2000.0, False), (3000.0, True), (2000.0, False)):
            app.query_one("#deadline", Slider).set_value(deadline)
            await settle(pilot)
            assert app.state.dp.feasible is not warned
            assert status.has_class("-warning") is warned
            assert ("dp breaks TTFT" in shown(status)) is warned
            assert ("gpt2-like" in shown(status)) is not warned                # the profile's line is back
            assert (status.region, tabs.region) == where


async def test_dp_skipped_at_no_deadline_keeps_its_strip_row_so_nothing_moves():
    """Issue 32: at the deadline slider's top (no request deadline) the app skips DP (its table would be too
    large) and says so in the note; the strip keeps DP's row, marked skipped, so walking onto the top and
    back lays out nothing (llama-3.1-8b at 120x40: the strip is as tall as its rows)."""
    from splittui.commands.common import default_deadline
    from splittui.llm import load_any

    prof = load_any("llama-3.1-8b")
    sc = splittui.Scenario(deadline_ms=1e15, seq_len=prof.default_seq, gen_tokens=256, ttft_ms=5000, tpot_ms=150)
    app = make_app(prof, scenario=sc.replace(deadline_ms=default_deadline(prof, sc)), show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await workers_done(app)
        slider, strip = app.query_one("#deadline", Slider), app.query_one(PlacementStrip)
        assert slider.index == len(slider.values) - 1 and "dp" not in app.state.results
        assert app.state.note.startswith("DP skipped") and "skipped: see the note" in shown(strip)
        where = {id(w): w.region for w in app.screen.walk_children()}
        for step in (-1, 1):
            slider.index += step
            await settle(pilot)
            await workers_done(app)
            await settle(pilot)
            assert ("dp" in app.state.results) is (step == -1)
            assert ("skipped: see the note" in shown(strip)) is (step == 1)
            assert {id(w): w.region for w in app.screen.walk_children()} == where


async def test_the_default_solver_meets_the_limits_and_is_exported(profile, tmp_path):
    app = make(profile, deadline_ms=3000, gen_tokens=64, ttft_ms=500)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert app.screen.chosen == "exact"                              # the export dialog's solver
        path = tmp_path / "out.json"
        app.screen.query_one("#path").value = str(path)
        await pilot.press("enter")
        await pilot.pause()
    doc = json.loads(path.read_text())
    assert doc["solver"] == "exact" and doc["feasible"]


async def test_a_met_deadline_never_looks_missed(profile):
    r = solve(profile, splittui.Scenario(deadline_ms=5000), "dp")
    deadline = r.latency_ms + 0.04                                       # met, and 0.04 ms to spare
    app = make(profile, deadline_ms=deadline)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        row = next(line for line in shown(app.query_one(NumbersPanel)).splitlines() if line.startswith(" dp")
                   or line.startswith("dp"))
        lat, dl = row.split("/")[0].split()[-1], row.split("/")[1].split()[0]
        assert float(lat.replace(",", "")) <= float(dl.replace(",", ""))


# ----- 4. experiments and compare ----------------------------------------------------------------

def test_experiments_run_with_output_tokens_and_limits(profile):
    from dataclasses import replace

    from splittui.sweep import run_sweep
    from splittui.tui.screens.experiments import ran, sweep_config

    sc = splittui.Scenario(gen_tokens=8, ttft_ms=300)
    assert "8 output tokens" in ran(sc) and "TTFT ≤ 300.0 ms" in ran(sc)
    cfg = replace(sweep_config(sc), bandwidths=(10.0, 100.0), max_steps=4)
    assert (cfg.gen_tokens, cfg.ttft_ms) == (8, 300)
    sw = run_sweep(profile, replace(cfg, ttft_ms=None))
    limited = run_sweep(profile, cfg)
    dp = limited.share("dp")
    assert (~(dp == dp)).sum() >= (~(sw.share("dp") == sw.share("dp"))).sum()   # NaN where a limit breaks
    from splittui.generation import phase_costs, request_times
    for i in range(limited.n_cells):
        x = limited.policy("dp")[i]
        if x[0] >= 0:
            cell = splittui.Scenario(up_mbps=float(limited.bandwidth[i]), seq_len=int(limited.seq[i]), gen_tokens=8)
            assert request_times(phase_costs(profile, cell), x).ttft_ms <= 300 + 1e-6


async def test_compare_has_every_knob_and_four_columns_fit_in_80(profile):
    from splittui.tui.screens.compare import CompareScreen

    app = make(profile, deadline_ms=3000, gen_tokens=64, ttft_ms=500, tpot_ms=60)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("s", "left", "s", "left", "s", "left", "s"):
            await settle(pilot)
            await pilot.press(key)
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        table = app.screen.query_one("#compare-table")
        labels = [str(row.label).strip("≠ ") for row in table.rows.values()]
        for want in ("client", "server", "dtype", "attention", "output", "TTFT ≤", "TPOT ≤"):
            assert want in labels
        assert table.virtual_size.width <= table.scrollable_content_region.width   # nothing cut, no scrolling
        assert len(table.columns) == 4


# ----- 5. goal seek ------------------------------------------------------------------------------

async def test_goal_seeks_the_least_uplink_and_applies_it(profile):
    from splittui.solvers.goal import Target, least_bandwidth

    app = make(profile, deadline_ms=5000, up_mbps=100)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g", "tab", "right", "shift+tab", "5", "0", "enter")
        assert isinstance(app.screen, GoalScreen) and app.screen.seek == "uplink"
        await workers_done(app)
        await pilot.pause()
        want = least_bandwidth(profile, app.scenario, "exact", Target(max_share=0.5)).value
        assert want is not None
        await pilot.press("enter")
        await settle(pilot)
        assert app.scenario.up_mbps == pytest.approx(want) and app.scenario.down_mbps == pytest.approx(want)


async def test_a_second_enter_during_a_goal_seek_starts_nothing(profile, monkeypatch):
    import time

    from splittui.solvers import goal

    real_seek = goal.least_deadline
    monkeypatch.setattr(goal, "least_deadline", lambda *a: (time.sleep(0.3), real_seek(*a))[1])  # a slow seek
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g", "5", "0")
        screen = app.screen
        started = []
        real = screen._seek
        screen._seek = lambda *a: (started.append(a), real(*a))
        await pilot.press("enter", "enter")
        await workers_done(app)
        await pilot.pause()
        assert len(started) == 1 and isinstance(app.screen, GoalScreen)   # one seek; nothing applied yet
        assert app.screen.answers


# ----- 6. small items ----------------------------------------------------------------------------

async def test_p_without_torch_says_so_before_the_form(profile, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert len(app.screen_stack) == 1
        assert any("needs torch" in str(n.message) for n in app._notifications)


def test_this_cpu_is_a_client_choice():
    from splittui.tui.profile_choice import device_choices

    assert "this-cpu" in device_choices("client", measured=False)
    assert "this-cpu" not in device_choices("server", measured=False)


async def test_80x24_with_generation_and_a_banner_shows_a_strip_row():
    app = make_app(load_any("llama-3.2-1b"), scenario=splittui.Scenario(gen_tokens=64, deadline_ms=1200),
                   show_timings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await workers_done(app)
        await pilot.pause()
        assert app.query_one(InfeasibleBanner).has_class("-shown")
        strip = app.query_one(PlacementStrip)
        visible = strip.region.intersection(app.query_one("#placement").region)
        assert visible.height >= 3        # the header, at least one solver's row, the "… more rows" line
        assert " dp " in shown(strip) or shown(strip).lstrip().startswith("dp") or "dp" in shown(strip)
