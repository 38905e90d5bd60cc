"""The Capacity screen (issue 27, key k): the four strategies searched in a worker, the table and the two
charts drawn, the same answer as the core's `compare`; a model without decode costs says why in one line."""

from __future__ import annotations

from textual_plotext import PlotextPlot
from tui_helpers import settle, shown, workers_done

import splittui
from splittui.devices import resolve_device
from splittui.llm import profile_for
from splittui.sim.capacity import SimOptions
from splittui.sim.search import SearchOptions
from splittui.sim.strategies import ClassSpec, compare
from splittui.tui.app import make_app
from splittui.tui.screens.capacity import CapacityScreen, capacity_targets, capacity_text


def _text(renderable) -> str:
    import io

    from rich.console import Console

    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


async def _done(pilot, screen) -> None:
    for _ in range(600):
        await workers_done(screen)
        await pilot.pause()
        if screen.outcome is not None or "cannot run" in shown(screen.query_one("#cap-status")):
            return
    raise AssertionError("capacity never finished")


async def test_k_opens_capacity_and_matches_the_core():
    profile = profile_for("llama-3.2-1b", client_device="jetson-orin", server_device="a100-80gb",
                          seq_lens=(256, 288))
    sc = splittui.Scenario(seq_len=256, gen_tokens=32, up_mbps=20.0, down_mbps=100.0, deadline_ms=1e6,
                           ttft_ms=900.0, tpot_ms=60.0)
    app = make_app(profile, scenario=sc, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("k")
        screen = app.screen
        assert isinstance(screen, CapacityScreen)
        await _done(pilot, screen)
        out = screen.outcome
        assert out is not None, shown(screen.query_one("#cap-status"))
        assert [t.label for t in out.targets] == ["p90 TTFT <= 900 ms", "p99 TPOT <= 60 ms"]
        table = _text(capacity_text(out))
        for label in ("(a) all on server", "(b) paper's greedy", "(c) exact per class", "(d) joint"):
            assert label in table
        # the screen's numbers are the core's for the same options
        want = compare([ClassSpec("jetson-orin", 1.0, profile, sc)], resolve_device("a100-80gb"),
                       capacity_targets(app.scenario), SearchOptions(requests=screen.requests, seeds=(0,),
                                                                     rel_tol=screen.rel_tol, sim=SimOptions()))
        for s, r in want.items():
            assert out.results[s].capacity.rate_per_s == r.capacity.rate_per_s
            rate = r.capacity.rate_per_s
            assert ("unbounded" if rate == float("inf") else f"{rate:,.2f}") in table
        for k in range(2):
            assert screen.query_one(f"#cap-chart-{k}", PlotextPlot).plt is not None
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CapacityScreen)


async def test_capacity_on_a_profile_without_memory_fields_says_why():
    from splittui.profiles import load_profile

    app = make_app(load_profile("bert-base"), show_timings=False)   # no weight/KV bytes, no decode costs
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("k")
        screen = app.screen
        await _done(pilot, screen)
        status = shown(screen.query_one("#cap-status"), width=300)
        assert "cannot run" in status and "LLM config" in status
