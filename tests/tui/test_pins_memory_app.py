"""Issue 25 in the app: memory limits and pinned layers (SPEC §10), driven with real keys. The app starts on
`--pin-client` / `--client-mem-gb` (the CLI's own parsing), shows the pins on the strip, keeps them in every
solver's placement, cycles a pin with P, says the cost of privacy (the same numbers as `solve` with and
without the pins), says "does not fit" for a placement over a memory limit, opens the memory screen on m
(and sets the limits typed there), and keeps limits and pins through export, load and `--policy`.
"""

from __future__ import annotations

import json
import re

import pytest
from tui_helpers import open_policy_file, settle, shown

from splittui.cli import build_parser
from splittui.commands.app_args import app_start
from splittui.solvers import solve
from splittui.tui.app import make_app

EMBED_HEAD = (0, 193, 194)   # gpt2-like: embed, ln_f, lm_head


def _app(*flags: str):
    profile, sc, doc = app_start(build_parser().parse_args(["--model", "gpt2-like", *flags]))
    return make_app(profile, scenario=sc, policy=doc, show_timings=False)


def _pins_row(app) -> str:
    """The strip's 'pinned' rows, joined over its wrapped segments (label cut off)."""
    lines = shown(app.query_one("#strip"), 120).splitlines()
    strip = app.query_one("#strip")
    return "".join(line[strip._label_width():] for line in lines if line.startswith("pinned"))


def _printed(renderable) -> str:
    import io

    from rich.console import Console

    console = Console(width=108, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _row(app, solver: str) -> str:
    return next(line for line in shown(app.query_one("#numbers"), 120).splitlines() if line.startswith(solver))


async def test_start_pins_show_on_the_strip_and_every_solver_keeps_them():
    app = _app("--pin-client", "embed,head")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.state.scenario.pin_client == EMBED_HEAD
        marks = _pins_row(app)
        assert [i for i, ch in enumerate(marks) if ch == "C"] == list(EMBED_HEAD)   # a letter per pin
        assert set(marks) <= {"C", " "}
        for name, res in app.state.results.items():
            assert res.policy is not None, name
            assert all(res.policy[i] == 1 for i in EMBED_HEAD), name
        # the unpinned dp puts a pinned layer on the server: the pins changed the answer
        free = solve(app.profile, app.state.scenario.replace(pin_client=()), "dp")
        assert any(free.policy[i] == 0 for i in EMBED_HEAD)
    assert app._exception is None


async def test_p_cycles_the_strip_layers_pin_and_the_policy_follows():
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert _pins_row(app) == ""   # no pins: no pins row
        layer = app.state.results["dp"].policy.index(0)   # the first layer dp runs on the server
        strip = app.query_one("#strip")
        strip.focus()
        await pilot.press("home", *["right"] * layer, "P")
        assert strip.cursor == layer
        await settle(pilot)
        assert app.state.scenario.pin_client == (layer,)
        assert app.state.results["dp"].policy[layer] == 1
        assert _pins_row(app).index("C") == layer
        assert "pinned to the client" in shown(app.query_one("#strip"), 120)
        await pilot.press("P")   # client -> server
        await settle(pilot)
        assert app.state.scenario.pin_server == (layer,) and app.state.scenario.pin_client == ()
        assert all(r.policy[layer] == 0 for r in app.state.results.values() if r.policy is not None)
        assert _pins_row(app).index("S") == layer
        await pilot.press("up", "right")   # a knob move keeps the pin (the knobs hold it)
        await settle(pilot)
        assert app.state.scenario.pin_server == (layer,)
        strip.focus()
        await pilot.press("home", *["right"] * layer, "P")   # server -> none
        await settle(pilot)
        assert not app.state.scenario.has_pins and _pins_row(app) == ""
    assert app._exception is None


_PRIVACY = re.compile(r"pins: (.+?) — (\S+) server ([\d.]+) % \(without pins ([\d.]+) %: ([+-][\d.]+) points\)")


async def test_cost_of_privacy_line_equals_solve_with_and_without_pins():
    app = _app("--pin-client", "embed,head")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(3):   # the selected solver's line, for a few solvers (v selects the next)
            text = " ".join(shown(app.query_one("#numbers"), 200).split())
            m = _PRIVACY.search(text)
            assert m, text
            where, solver, pinned, free, delta = m.groups()
            assert where == "embed+head on client" and solver == app.selected
            sc = app.state.scenario
            with_pins = solve(app.profile, sc, solver).server_share
            without = solve(app.profile, sc.replace(pin_client=()), solver).server_share
            assert float(pinned) == pytest.approx(100 * with_pins, abs=0.051)
            assert float(free) == pytest.approx(100 * without, abs=0.051)
            assert float(delta) == pytest.approx(100 * (with_pins - without), abs=0.051)
            await pilot.press("v")
            await pilot.pause()


async def test_memory_limit_greedy_does_not_fit_and_the_m_screen_sets_limits():
    from splittui.tui.screens.memory import MemoryScreen

    app = _app("--client-mem-gb", "1.5")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.state.scenario.client_mem_gb == 1.5
        assert "does not fit" in _row(app, "greedy")
        assert any(v.startswith("does not fit") for v in app.state.results["greedy"].violations)
        text = shown(app.query_one("#numbers"), 200)
        assert f"memory ({app.selected}, estimate): client" in text and "of 1.50 GB: fits" in text
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MemoryScreen)
        await app.screen.workers.wait_for_complete()
        await pilot.pause()
        report = _printed(app.screen.query_one("#fit-report").content)
        assert "weights" in report and "reserve" in report and "1.50 GB" in report
        app.screen.query_one("#client-mem").value = "junk"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemoryScreen)   # refused, with why
        assert "not a number" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#client-mem").value = "off"
        app.screen.query_one("#server-mem").value = "1.4"
        await pilot.press("enter")
        await settle(pilot)
        assert (app.state.scenario.client_mem_gb, app.state.scenario.server_mem_gb) == (None, 1.4)
        assert "does not fit" in _row(app, "no-split")   # all on the server: over 1.4 GB
    assert app._exception is None


async def test_export_load_and_policy_flag_keep_limits_and_pins(tmp_path):
    path = tmp_path / "p.json"
    app = _app("--pin-client", "embed,head", "--pin-server", "h5", "--client-mem-gb", "3")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        h5 = app.state.scenario.pin_server
        assert h5 and app.state.scenario.client_mem_gb == 3.0
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#path").value = str(path)
        await pilot.press("enter")
        await pilot.pause()
    doc = json.loads(path.read_text())
    sc = doc["scenario"]
    assert (sc["pin_client"], sc["pin_server"], sc["client_mem_gb"]) == (list(EMBED_HEAD), list(h5), 3.0)
    # o in a plain app: the file's scenario is offered, y takes it (pins and limit included)
    plain = _app()
    async with plain.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await open_policy_file(pilot, path)
        await pilot.press("y")
        await settle(pilot)
        got = plain.state.scenario
        assert (got.pin_client, got.pin_server, got.client_mem_gb) == (EMBED_HEAD, h5, 3.0)
        assert plain.loaded is not None and plain.state.loaded.feasible
        assert _pins_row(plain).count("C") == 3 and "S" in _pins_row(plain)
    # --policy FILE restores them; a flag beside it wins (off lifts the stored limit)
    opened = _app("--policy", str(path))
    assert (opened.scenario.pin_client, opened.scenario.pin_server, opened.scenario.client_mem_gb) == (
        EMBED_HEAD, h5, 3.0)
    lifted = _app("--policy", str(path), "--client-mem-gb", "off", "--pin-client", "0")
    assert (lifted.scenario.client_mem_gb, lifted.scenario.pin_client) == (None, (0,))
    async with opened.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert opened.state.scenario.pin_server == h5
        assert all(r.policy[i] == 0 for i in h5 for r in opened.state.results.values() if r.policy is not None)


@pytest.mark.parametrize("flags, message", [
    (("--pin-client", "nope"), "--pin-client: 'nope' names no layer"),
    (("--pin-client", "0", "--pin-server", "0"), "layer 0 is pinned to both"),
    (("--client-mem-gb", "device"), "--client-mem-gb device"),
])
def test_bad_start_flags_are_one_line_errors(flags, message, capsys):
    from splittui.cli import main

    assert main(["--model", "gpt2-like", *flags]) == 2   # before the UI starts
    err = capsys.readouterr().err.strip()
    assert err.startswith("splittui: error: ") and message in err and "\n" not in err


def test_under_memory_limits_the_unpinned_answers_come_after_the_shown_tabs():
    """The cost of privacy needs every solver again without the pins: under memory limits each may be a label
    search of its own, so the worker answers the shown tab first and the unpinned solvers after that frame
    (the line says "solving…" meanwhile); with pins alone they stay in the first answer."""
    from splittui.tui.privacy import privacy_line
    from splittui.tui.state import EVERY_PART, Parts, complete_state, compute_state

    profile, sc, _ = app_start(build_parser().parse_args(
        ["--model", "gpt2-like", "--pin-client", "embed,head", "--client-mem-gb", "1.5"]))
    shown_tab = Parts(frontier=False, timelines=False, privacy=False)   # what the placement tab asks first
    first = compute_state(profile, sc, 0, None, parts=shown_tab)
    assert "dp" in first.results and not first.parts.privacy
    assert first.unpinned is None or not first.unpinned[1]
    line = privacy_line(first, "dp")
    assert line is not None and "without pins solving…" in line.plain
    done = complete_state(first, EVERY_PART)
    assert done.parts.covers(EVERY_PART) and done.unpinned is not None
    free = sc.replace(pin_client=())
    assert done.unpinned[0] == free
    assert done.unpinned[1]["dp"].server_share == solve(profile, free, "dp").server_share
    assert "solving" not in privacy_line(done, "dp").plain
    pins_only = compute_state(profile, sc.replace(client_mem_gb=None), 0, None, parts=shown_tab)
    assert pins_only.parts.privacy and pins_only.unpinned is not None and "dp" in pins_only.unpinned[1]
