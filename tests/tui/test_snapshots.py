"""SVG snapshots of every screen (pytest-textual-snapshot, posting's tests/test_snapshots.py is the
model). Solve times are hidden and the profile is the analytic gpt2-like built from code (the
shipped file is re-measured from time to time), so the pictures change only when the app does;
update them with `pytest tests/tui/test_snapshots.py --snapshot-update`.

The app solves in a worker, so every test drives its keys in `run_before` and waits for the
latest answer to be shown before the screenshot.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from textual.app import App
from textual.widgets import Input, Static
from tui_helpers import screen_drawn, settle, workers_done

from splittui.analytic import gpt2_like_doc
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.tui.app import make_app
from splittui.tui.screens.experiments import ExperimentsScreen


@pytest.fixture(scope="module")
def profile():
    return profile_from_doc(gpt2_like_doc(), source="analytic", origin="gpt2-like")


def app(profile):
    return make_app(profile, show_timings=False)


def keys(*presses: str):
    """run_before: settle, press the keys, settle again; then hold still what depends on time
    (toasts that expire, a blinking input cursor). One key at a time, each followed by a pause that lets
    the screen handle what it started (a dialog pushed by `g` is mounted and focused before the next key
    is typed into it; on a loaded CI machine a key typed sooner went to the screen below), and each typed
    only once the screen has drawn what it had (`screen_drawn`)."""
    async def run(pilot) -> None:
        await settle(pilot)
        for key in presses:
            await screen_drawn(pilot)   # a dialog the key opens must not freeze the screen below half-drawn
            await pilot.press(key)
            await pilot.pause()
        await settle(pilot)
        pilot.app.clear_notifications()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await settle(pilot)   # on a loaded machine a layout may still be pending after the last answer
        await pilot.pause()
    return run


def test_main_80x24(snap_compare, profile):
    """The main view on a small terminal: knobs, solver table, placement strip."""
    assert snap_compare(app(profile), terminal_size=(80, 24), run_before=keys())


def test_main_160x50(snap_compare, profile):
    """The main view on a large terminal, with the mini frontier and timeline charts."""
    assert snap_compare(app(profile), terminal_size=(160, 50), run_before=keys())


def test_infeasible_80x24(snap_compare, profile):
    """The deadline at its least value: the infeasible banner says what would help."""
    assert snap_compare(app(profile), terminal_size=(80, 24), run_before=keys("home"))


def test_frontier_tab_80x24(snap_compare, profile):
    """The frontier tab: DP, greedy and no-split share against the deadline."""
    assert snap_compare(app(profile), terminal_size=(80, 24), run_before=keys("left", "left", "2"))


def test_bandwidth_tab_120x40(snap_compare, profile):
    """The bandwidth tab: server share against bandwidth, computed in the worker."""
    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=keys("4"))


def test_strip_cursor_120x40(snap_compare, profile):
    """The placement strip focused, its cursor naming the layer under it."""
    async def move(pilot):
        await settle(pilot)
        pilot.app.query_one("#strip").focus()
        await pilot.press(*["shift+right"] * 5, "right")

    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=move)


def test_compare_120x40(snap_compare, profile):
    """The comparison screen with two saved slots that differ in the deadline."""
    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=keys("s", "left", "left", "s", "c"))


def test_export_dialog_80x24(snap_compare, profile):
    """The export dialog: the file name to write the selected solver's policy to."""
    assert snap_compare(app(profile), terminal_size=(80, 24), run_before=keys("e"))


def test_help_120x40(snap_compare, profile):
    """The help screen: every key of the main view and the other screens."""
    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=keys("question_mark"))


def test_load_policy_80x24(snap_compare, profile):
    """The load-policy dialog, asking for a splittui.policy/1 file."""
    assert snap_compare(app(profile), terminal_size=(80, 24), run_before=keys("o"))


def test_profile_screen_100x30(snap_compare, profile):
    """The live-profiling screen before Start: model, lengths and repeats."""
    assert snap_compare(app(profile), terminal_size=(100, 30), run_before=keys("p"))


def tiny_profile():
    rng = np.random.default_rng(0)
    layers = [{"name": f"b{i // 2}.{'attn' if i % 2 == 0 else 'mlp'}", "kind": "linear",
               "flops": sorted(rng.uniform(1e6, 1e8, 2).tolist()),
               "client_ms": sorted(rng.uniform(1, 40, 2).tolist()), "server_ms": sorted(rng.uniform(0, 3, 2).tolist()),
               "in_bytes": sorted(rng.uniform(0, 3000, 2).tolist())} for i in range(8)]
    return profile_from_doc({"schema": "splittui.profile/1", "model": "tiny", "seq_lens": [32, 64],
                             "output_bytes": [100.0, 200.0], "layers": layers})


class ExperimentsHost(App):
    def compose(self):
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(ExperimentsScreen(tiny_profile(), Scenario(), requests=2000, show_timings=False))


def test_experiments_finished_160x50(snap_compare):
    """The experiments screen once the sweep and the simulation are done: summary and five charts."""
    async def finished(pilot) -> None:
        for _ in range(2000):
            await workers_done(pilot.app)
            await pilot.pause()
            if getattr(pilot.app.screen, "outcome", None) is not None:
                await pilot.pause()
                return
            await asyncio.sleep(0.01)
        raise AssertionError("experiments never finished")

    assert snap_compare(ExperimentsHost(), terminal_size=(160, 50), run_before=finished)


def test_qwen_generation_timeline_120x40(snap_compare):
    """A shipped LLM config (qwen2.5-7b, bf16, roofline estimates named in the status line) generating
    256 tokens: the timeline of prefill then one decode step."""
    from splittui.llm import load_any

    qwen = make_app(load_any("qwen2.5-7b"), scenario=Scenario(gen_tokens=256, deadline_ms=20_000),
                    show_timings=False)
    assert snap_compare(qwen, terminal_size=(120, 40), run_before=keys("5"))


def test_qwen_generation_numbers_80x24(snap_compare):
    """The metrics table with request latency, TTFT and TPOT on a small terminal."""
    from splittui.llm import load_any

    qwen = make_app(load_any("qwen2.5-7b"), scenario=Scenario(gen_tokens=256, deadline_ms=20_000),
                    show_timings=False)
    assert snap_compare(qwen, terminal_size=(80, 24), run_before=keys())


# ---- issue 16: the bugs a new user found, and the goal-seek views ------------------------------------
def _policy_file(profile, tmp_path, scenario: Scenario | None = None, solver: str = "exact") -> str:
    import json

    from splittui.policy import policy_document
    from splittui.solvers import solve

    sc = scenario or Scenario(seq_len=profile.default_seq)
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy_document(profile, sc, solve(profile, sc, solver))))
    return str(path)


def load_then(path: str, *presses: str):
    """run_before: load the policy file with o, then press the keys."""
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("o")
        await pilot.pause()
        pilot.app.screen.query_one("#path").value = path
        await pilot.press("enter")
        await keys(*presses)(pilot)
    return run


def test_help_end_80x24(snap_compare, profile):
    """Help scrolled to its end at 80x24: the last rows (legend) are on screen, inside the border."""
    assert snap_compare(app(profile), terminal_size=(80, 24), run_before=keys("question_mark", "end"))


def test_ansi_dark_160x50(snap_compare, profile):
    """ANSI theme: the mini charts are still drawn and the focused knob is reversed."""
    async def ansi(pilot) -> None:
        pilot.app.theme = "ansi-dark"
        await keys()(pilot)
    assert snap_compare(app(profile), terminal_size=(160, 50), run_before=ansi)


def test_loaded_policy_strip_120x40(snap_compare, profile, tmp_path):
    """A loaded policy: its row label in full (file:exact); every block labelled, no ▼ on the header."""
    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=load_then(_policy_file(profile, tmp_path)))


def test_loaded_policy_timeline_120x40(snap_compare, profile, tmp_path):
    """Timeline after loading a policy: the transfer labels sit on their network bars."""
    assert snap_compare(app(profile), terminal_size=(120, 40),
                        run_before=load_then(_policy_file(profile, tmp_path), "5"))


def test_short_loaded_infeasible_80x24(snap_compare, profile, tmp_path):
    """80x24 with a loaded policy and the infeasible banner: the strip says what it cuts."""
    assert snap_compare(app(profile), terminal_size=(80, 24),
                        run_before=load_then(_policy_file(profile, tmp_path), "home"))


def test_wide_200x60(snap_compare, profile):
    """A wide terminal: the table's bars and the strip's rows use the width."""
    assert snap_compare(app(profile), terminal_size=(200, 60), run_before=keys())


def test_goal_dialog_120x40(snap_compare, profile):
    """g, 50, Enter: the least deadline for server share <= 50 %, exact and dp (the picture is taken once
    both answers are listed, not while the seek runs)."""
    async def run(pilot) -> None:
        await keys("g", "5", "0", "enter")(pilot)
        end = asyncio.get_running_loop().time() + 30
        while not pilot.app.screen.query_one("#answers").has_class("-ready"):
            assert asyncio.get_running_loop().time() < end, "the goal seek never answered"
            await pilot.pause(0.02)
        await keys()(pilot)

    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=run)


def test_frontier_cursor_120x40(snap_compare, profile):
    """f: the exact frontier drawn with the cursor, and the readout (deadline, share, policy); ← moves
    the cursor one Pareto point left of the deadline's (once the frontier is there: pressed at once,
    it raced the frontier worker and was often lost)."""
    async def run(pilot) -> None:
        await keys("f")(pilot)
        await keys("left")(pilot)

    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=run)


def test_typed_value_refused_80x24(snap_compare, profile):
    """Enter on the deadline knob, a bad value: refused in place with the reason."""
    assert snap_compare(app(profile), terminal_size=(80, 24), run_before=keys("enter", "a", "b", "c", "enter"))


def test_flops_tab_120x40(snap_compare, profile):
    """The FLOPs tab: per-layer FLOPs coloured by side; the 24 identical blocks draw identical bars."""
    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=keys("3"))


def _tiers_app():
    """Three tiers (issue 28), as `splittui --model llama-3.2-1b --tier … --hop …` opens them (an analytic
    profile from the shipped config on roofline presets: the same numbers on every machine)."""
    from splittui.cli import build_parser
    from splittui.commands.app_args import app_start

    argv = ["--model", "llama-3.2-1b", "--tier", "phone=phone-soc", "--tier", "edge=jetson-orin", "--tier",
            "cloud=a100-80gb", "--hop", "50/100/5", "--hop", "200/500/20", "--seq", "512", "--deadline-ms", "500"]
    profile, sc, doc = app_start(build_parser().parse_args(argv))
    return make_app(profile, scenario=sc, policy=doc, show_timings=False)


def test_tiers_120x40(snap_compare):
    """Three tiers: the hop knobs' column, each tier's share per solver, the strip's tier colours and letters."""
    assert snap_compare(_tiers_app(), terminal_size=(120, 40), run_before=keys())


def test_tiers_strip_cursor_80x24(snap_compare):
    """Three tiers on a small terminal, the strip focused and its cursor moved: the layer's tier per row."""
    async def move(pilot):
        await settle(pilot)
        pilot.app.query_one("#strip").focus()
        await pilot.press(*["shift+right"] * 3)
        await keys()(pilot)

    assert snap_compare(_tiers_app(), terminal_size=(80, 24), run_before=move)
