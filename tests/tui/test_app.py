"""The main app driven by real key presses: what the knobs, numbers, strip and banner show, and
that every key reaches its screen. Expected values come from `splittui.solve`, never typed in."""

from __future__ import annotations

import json
import random
import threading

import pytest
from textual import events
from tui_helpers import load_policy_file, settle, shown

import splittui
from splittui.solvers import APP_SOLVERS as SOLVERS
from splittui.tui.app import SplitApp, make_app
from splittui.tui.state import AppState
from splittui.tui.widgets.banner import InfeasibleBanner
from splittui.tui.widgets.numbers import NumbersPanel
from splittui.tui.widgets.slider import Slider
from splittui.tui.widgets.strip import PlacementStrip, pack_segments


def pct(share: float) -> str:
    return f"{100 * share:5.1f} %".strip()


@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


def make(profile, **knobs) -> SplitApp:
    return make_app(profile, scenario=splittui.Scenario(**knobs), show_timings=False)


async def test_first_frame_matches_solve(profile):
    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        want = splittui.solve(profile, splittui.Scenario(), "dp")
        assert app.state.results["dp"].policy == want.policy
        assert pct(want.server_share) in shown(app.query_one(NumbersPanel))
        assert "1500 ms" in shown(app.query_one("#deadline", Slider))


async def test_lower_deadline_raises_dp_share_and_changes_strip(profile):
    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before_share = app.state.results["dp"].server_share
        before_strip = shown(app.query_one(PlacementStrip))
        await pilot.press(*["left"] * 8)          # deadline slider has focus on start
        await settle(pilot)
        sc = app.state.scenario
        assert sc.deadline_ms < 1500
        after = app.state.results["dp"]
        assert after.server_share > before_share
        assert after.policy == splittui.solve(profile, sc, "dp").policy
        assert shown(app.query_one(PlacementStrip)) != before_strip
        assert pct(after.server_share) in shown(app.query_one(NumbersPanel))
        assert f"{sc.deadline_ms:g} ms" in shown(app.query_one("#deadline", Slider))


async def test_200_rapid_presses_end_in_solve_of_final_knobs(profile):
    rng = random.Random(7)
    keys = []
    for _ in range(200):
        keys.append(rng.choice(["left", "right", "right", "shift+left", "shift+right", "tab", "pageup",
                                "pagedown", "up", "down"]))
    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        for key in keys:       # queued faster than they are handled, like a held-down key
            app.post_message(events.Key(key, "\t" if key == "tab" else None))
        await pilot.pause()
        await settle(pilot)
        assert app.query_one("#controls").scenario != splittui.Scenario()   # the keys did arrive
        st: AppState = app.state
        sc = st.scenario
        assert sc == app.query_one("#controls").scenario          # knobs and results agree
        for name in SOLVERS:
            want = splittui.solve(st.profile, sc, name)     # the keys may have picked another model
            got = st.results[name]
            assert (got.feasible, got.policy, got.latency_ms) == (want.feasible, want.policy, want.latency_ms)
        dp = st.results["dp"]
        text = shown(app.query_one(NumbersPanel))
        assert (pct(dp.server_share) if dp.feasible else "infeasible") in text


async def test_infeasible_banner_names_least_latency_and_fix(profile):
    app = make(profile)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("home")                  # deadline to its minimum
        await settle(pilot)
        banner = app.query_one(InfeasibleBanner)
        least = splittui.solve(profile, app.state.scenario, "exact").min_latency_ms
        assert banner.has_class("-shown")
        text = shown(banner, 80)
        assert f"{least:,.1f} ms" in text and "raise deadline" in text
        await pilot.press("end")
        await settle(pilot)
        assert not banner.has_class("-shown")


async def test_bandwidth_link_and_unlink(profile):
    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#up").focus()
        await pilot.press("right", "right")
        await settle(pilot)
        assert app.state.scenario.up_mbps == app.state.scenario.down_mbps > 100
        await pilot.press("l", "left", "left", "left")
        await settle(pilot)
        sc = app.state.scenario
        assert sc.up_mbps < sc.down_mbps
        assert splittui.solve(profile, sc, "dp").policy == app.state.results["dp"].policy


async def test_strip_cursor_names_the_layer(profile):
    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(PlacementStrip).focus()
        await pilot.press("right", "right", "right", "shift+right")
        await pilot.pause()
        strip = app.query_one(PlacementStrip)
        layer = profile.layers[strip.cursor]
        assert strip.cursor > 3 and layer.name.endswith("ln1")   # shift+→ jumps to the next block
        text = shown(strip)
        assert layer.name in text and layer.kind in text and f"{strip.cursor + 1}/{profile.n_layers}" in text


async def test_other_model_and_sides_resolve(profile):
    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#start").focus()
        await pilot.press("right")                 # start on the server
        app.query_one("#objective").focus()
        await pilot.press("right")
        await settle(pilot)
        sc = app.state.scenario
        assert sc.start == "server" and sc.objective != "flops"
        assert app.state.results["exact"].policy == splittui.solve(profile, sc, "exact").policy


@pytest.mark.parametrize("size", [(80, 24), (200, 60), (40, 12)])
async def test_extreme_knobs_never_crash(profile, size):
    app = make(profile)
    async with app.run_test(size=size) as pilot:
        for knob in ("deadline", "unit", "up", "delay", "seq"):
            for key in ("home", "end"):
                app.query_one(f"#{knob}").focus()
                await pilot.press(key)
                await settle(pilot)
        # the frontier tab (2) last: at these knobs its exact-frontier worker runs for many seconds, and
        # while it runs every later press waits out Textual's idle check (1 s, at full CPU); it is still
        # running when the app exits, as before
        for tab in "34512":
            await pilot.press(tab)
            await pilot.pause()
        assert app.state is not None and app.state.scenario == app.query_one("#controls").scenario


async def test_large_tables_solve_in_a_worker_and_drop_stale(profile):
    app = make(profile, unit_ms=0.01, deadline_ms=300)       # W = 30000: worker path
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "right", "right")
        await settle(pilot)
        sc = app.state.scenario
        assert sc.deadline_ms > 300 and app.state.generation == app._generation
        assert app.state.results["dp"].policy == splittui.solve(profile, sc, "dp").policy


def test_pack_segments_breaks_at_blocks():
    starts = [0, 1, 9, 17, 25]
    segs = pack_segments(starts, 27, 10)
    assert segs[0] == (0, 9) and segs[-1][1] == 27
    assert all(b - a <= 10 for a, b in segs) and all(segs[i][1] == segs[i + 1][0] for i in range(len(segs) - 1))


async def test_palette_lists_every_binding(profile):
    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        actions = {a for _, a, _ in app.palette_commands()}
        assert {b.action for b in app.BINDINGS} <= actions
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"save slot", "enter")
        await settle(pilot)
        assert len(app.slots) == 1


async def test_theme_key(profile):
    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        before = app.theme
        await pilot.press("t")
        assert app.theme != before


async def test_save_two_slots_compare_and_recall(profile):
    from splittui.tui.screens.compare import CompareScreen

    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)                        # the first state is there before a slot can hold it
        await pilot.press("s", "left", "left", "left")
        await settle(pilot)
        await pilot.press("s")
        assert [s.scenario.deadline_ms for s in app.slots][0] == 1500
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("r")                     # recall the selected (first) slot
        await settle(pilot)
        assert not isinstance(app.screen, CompareScreen)
        assert app.state.scenario.deadline_ms == 1500
        assert app.query_one("#deadline", Slider).value == 1500


async def test_export_then_load_back(profile, tmp_path):
    from textual.widgets import Input

    app = make(profile)
    target = tmp_path / "p.json"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)                        # export needs a solved state
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        doc = splittui.load_policy(target)
        assert doc["policy"] == list(app.state.results["dp"].policy)
        assert json.loads(target.read_text())["schema"] == "splittui.policy/2"
        await load_policy_file(pilot, target)
        assert app.state.loaded is not None
        assert app.state.loaded.latency_ms == pytest.approx(app.state.results["dp"].latency_ms)


@pytest.fixture
def held_solves(monkeypatch):
    """Every solve waits until the test sets the returned event: a first answer that has not landed yet,
    as in a browser's first seconds (`splittui serve`) or on a loaded machine."""
    import splittui.tui.solving as solving

    gate, solve = threading.Event(), solving.compute_choice
    monkeypatch.setattr(solving, "compute_choice", lambda *a, **kw: gate.wait(30) and solve(*a, **kw))
    yield gate
    gate.set()   # never leave a worker waiting


async def test_export_pressed_before_the_first_answer_opens_once_it_lands(profile, held_solves):
    from splittui.tui.screens.export import ExportScreen

    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        assert app.state is None and len(app.screen_stack) == 1       # nothing to export yet ...
        toasts = [str(n.message) for n in app._notifications]
        assert any("solving" in t for t in toasts) and not any("no solver" in t for t in toasts), toasts
        held_solves.set()
        await settle(pilot)
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)                   # ... and not refused: it opens now
        assert app.screen.chosen == "dp" and app.screen._docs[0]["policy"] == list(app.state.results["dp"].policy)


async def test_save_pressed_while_solving_saves_what_the_knobs_show(profile, held_solves):
    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        held_solves.set()
        await settle(pilot)
        held_solves.clear()
        await pilot.press("left", "s")                 # the answer for the new deadline is still held
        await pilot.pause()
        assert app.slots == ()
        held_solves.set()
        await settle(pilot)
        await pilot.pause()
        deadline = app.query_one("#deadline", Slider).value
        assert deadline < 1500 and [s.scenario.deadline_ms for s in app.slots] == [deadline]


@pytest.mark.parametrize("key,module,cls", [("question_mark", "help", "HelpScreen"),
                                            ("x", "experiments", "ExperimentsScreen"),
                                            ("p", "profile", "ProfileScreen")])
async def test_keys_open_their_screens(profile, key, module, cls):
    app = make(profile)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert type(app.screen).__name__ == cls


def tiny_profile():
    from splittui.profiles import profile_from_doc

    def layer(i):
        return {"name": f"b{i}.mlp", "kind": "linear", "flops": [1e9 * (i + 1), 4e9 * (i + 1)],
                "client_ms": [50.0 + i, 200.0 + i], "server_ms": [0.5, 2.0], "in_bytes": [4e5, 8e5]}
    doc = {"schema": "splittui.profile/1", "model": "tiny", "seq_lens": [64, 128],
           "output_bytes": [1e3, 2e3], "layers": [layer(i) for i in range(6)]}
    return profile_from_doc(doc, source="tiny.json", origin="tiny.json")


async def test_switch_to_a_loaded_profile_and_back(profile):
    app = make(profile)
    tiny = tiny_profile()
    async with app.run_test(size=(100, 30)) as pilot:
        app.switch_profile(tiny)
        await settle(pilot)
        sc = app.state.scenario
        assert app.state.profile is tiny and sc.seq_len in (64, 128)       # seq clamped to its range
        assert app.state.results["dp"].policy == splittui.solve(tiny, sc, "dp").policy
        assert "tiny.json" in shown(app.query_one("#model", Slider))
        app.query_one("#model").focus()
        await pilot.press("left", "enter")                                          # the previous model in the list
        await settle(pilot)
        chosen = app.query_one("#model", Slider).value
        assert chosen != "tiny.json" and app.state.profile.origin == chosen
        assert app.state.results["dp"].policy == splittui.solve(app.state.profile, app.state.scenario).policy


async def test_mouse_click_sets_slider_and_cursor(profile):
    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.click("#deadline", offset=(10, 0))                      # left end of the track
        await settle(pilot)
        assert app.state.scenario.deadline_ms == app.query_one("#deadline", Slider).values[0]
        strip = app.query_one(PlacementStrip)
        await pilot.click("#strip", offset=(20, 1))
        await pilot.pause()
        assert strip.cursor > 0


async def test_tab_keys_switch_tabs_and_keep_the_knob(profile):
    from textual.widgets import TabbedContent

    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "frontier"
        assert app.focused is app.query_one("#deadline")
        await pilot.press("left", "E", "5")
        await settle(pilot)
        assert app.query_one(TabbedContent).active == "timeline" and app.state.scenario.deadline_ms < 1500


@pytest.mark.parametrize("knobs", [dict(deadline_ms=1), dict(deadline_ms=100_000, unit_ms=100),
                                   dict(up_mbps=1), dict(start="server", end="server", deadline_ms=60),
                                   dict(seq_len=4096, delay_ms=200), dict(deadline_ms=5000, unit_ms=0.01)])
def test_every_chart_builds_at_extreme_knobs(profile, knobs):
    from textual_plotext.plot import Plot

    from splittui.tui.state import Parts, compute_state
    from splittui.tui.widgets.chart_kinds import CHARTS, View
    from splittui.tui.widgets.charts import build_chart
    from splittui.tui.widgets.plotext_canvas import runs_text

    lo, hi = profile.seq_range
    knobs = {**knobs, "seq_len": min(hi, max(lo, knobs.get("seq_len", 512)))}
    state = compute_state(profile, splittui.Scenario(**knobs), parts=Parts(sweep=True))
    for selected in ("dp", "no-split"):
        for size in ((60, 15), (30, 6)):
            for kind, (_draw, caption) in CHARTS.items():
                view = View(selected=selected, width=size[0], height=size[1])
                out = runs_text(build_chart(Plot(), kind, state, view)).plain
                assert out and "unavailable" not in out, kind
                assert caption(state, view).render(size[0]).plain, kind


def test_share_charts_run_0_to_100_and_mark_the_knob(profile):
    """The frontier's y axis is 0..100 % (no tick above 100) and its x ticks name the deadline."""
    from textual_plotext.plot import Plot

    from splittui.tui.state import Parts, compute_state
    from splittui.tui.widgets.chart_kinds import View
    from splittui.tui.widgets.charts import build_chart
    from splittui.tui.widgets.plotext_canvas import runs_text

    state = compute_state(profile, splittui.Scenario(deadline_ms=1234), parts=Parts(sweep=True))
    for kind, mark in (("frontier", "[1,234]"), ("bandwidth", "[100M]"), ("timeline", "[1,234]")):
        out = runs_text(build_chart(Plot(), kind, state, View(width=80, height=20))).plain
        assert mark in out, kind
        if kind != "timeline":
            assert "100%" in out and "0%" in out and "101" not in out, kind


async def test_v_selects_a_solver_that_export_writes(profile, tmp_path):
    from textual.widgets import Input

    app = make(profile)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v", "v")                   # dp -> exact -> greedy
        names = list(app.state.results)
        assert app.selected == names[2] and app.query_one(NumbersPanel).selected == app.selected
        await pilot.press("e")
        await pilot.pause()
        path = app.screen.query_one(Input)
        assert app.selected in path.value             # the default file name follows the solver
        await pilot.press("shift+tab", "right")         # the solver choice: one further
        await pilot.pause()
        chosen = app.screen.chosen
        assert chosen == names[3] and chosen in path.value
        path.value = str(tmp_path / "p.json")
        path.focus()
        await pilot.press("enter")
        await settle(pilot)
        doc = splittui.load_policy(tmp_path / "p.json")
        assert doc["solver"] == chosen and doc["policy"] == list(app.state.results[chosen].policy)


async def test_main_view_keys_do_nothing_over_the_compare_screen(profile):
    from splittui.tui.screens.compare import CompareScreen

    app = make(profile)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)                        # saving needs a solved state
        await pilot.press("s", "c")
        await pilot.pause()
        screen = app.screen
        await pilot.press("c", "s", "e")                    # would stack screens or save behind it
        await pilot.pause()
        assert app.screen is screen and isinstance(screen, CompareScreen) and len(app.slots) == 1
        assert not app.check_action("save_slot", ()) and app.check_action("quit", ())


@pytest.mark.heap
async def test_first_answer_freezes_the_heap_and_unmount_thaws_it(profile):
    """After the first answer the app's long-lived objects leave the collector's passes (gc.freeze); an app
    that ends thaws them, so another app in the same process is collected as usual."""
    import gc

    app = make(profile)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for _ in range(20):
            if gc.get_freeze_count():
                break
            await pilot.pause(0.01)
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
