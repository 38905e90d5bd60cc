"""issue 29 in the app: the radio knob changes the client joules in the table (a column at >= 100 columns);
key j opens the Energy screen, whose points are the core's `energy_points` for the app's scenario, with a
chart and a table; Escape closes it."""

from __future__ import annotations

from tui_helpers import settle, shown, workers_done

import splittui
from splittui.energy_front import energy_points
from splittui.generation import phase_costs
from splittui.llm import profile_for
from splittui.report.tables import joules
from splittui.tui.app import make_app
from splittui.tui.screens.energy import EnergyScreen
from splittui.tui.widgets.numbers import NumbersPanel
from splittui.tui.widgets.slider import Slider


def _profile():
    return profile_for("llama-3.2-1b", client_device="phone-soc", server_device="a100-80gb", seq_lens=(256, 271))


async def test_radio_knob_changes_the_client_joules():
    sc = splittui.Scenario(seq_len=256, gen_tokens=16, deadline_ms=20_000, up_mbps=20.0, down_mbps=50.0)
    app = make_app(_profile(), scenario=sc, show_timings=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = shown(app.query_one(NumbersPanel), 140)
        assert "client J" in table and "J/tok" in table and "client J, J/tok: estimates, radio wifi" in table
        before = app.state.results["no-split"].client_energy_j
        assert _cell(table, "no-split", "client J") == joules(before)
        radio = app.query_one("#radio", Slider)
        radio.focus()
        await pilot.press(*["right"] * (radio.values.index("lte") - radio.index))
        await settle(pilot)
        assert app.state.scenario.radio == "lte"
        after = app.state.results["no-split"].client_energy_j
        assert after > before    # LTE's radio costs more per bit than WiFi's (estimates, docs/energy.md)
        panel = shown(app.query_one(NumbersPanel), 140)
        assert _cell(panel, "no-split", "client J") == joules(after) and "radio lte" in panel
        assert "J per decode token" in panel   # the selected solver's, in its breakdown


def _cell(table: str, solver: str, head: str) -> str:
    """The text of one solver's row under a right-aligned column head."""
    lines = table.splitlines()
    end = lines[0].index(head) + len(head)
    row = next(line for line in lines if line.startswith(solver))
    return row[end - 9:end].strip()


async def test_j_opens_the_energy_screen_with_the_core_points():
    profile = _profile()
    sc = splittui.Scenario(seq_len=256, gen_tokens=16, deadline_ms=20_000, up_mbps=20.0, down_mbps=50.0, radio="lte")
    app = make_app(profile, scenario=sc, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, EnergyScreen)
        for _ in range(600):
            await workers_done(screen)
            await pilot.pause()
            if screen.points is not None:
                break
        assert screen.points, shown(screen.query_one("#en-status"), 300)
        want = energy_points(phase_costs(profile, app.scenario), app.scenario)
        assert [(p.server_share, p.client_j, p.pareto) for p in screen.points] == \
            [(p.server_share, p.client_j, p.pareto) for p in want]
        status = shown(screen.query_one("#en-status"), 300)
        assert "exact points" in status and "radio lte" in status
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, EnergyScreen)
    assert app._exception is None
