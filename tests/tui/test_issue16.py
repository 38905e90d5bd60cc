"""Bugs found by the new-user test of issue 16, each pinned by a test that failed before its fix
(the visual ones also have a snapshot in test_snapshots.py)."""

from __future__ import annotations

import json

import pytest
from tui_helpers import load_policy_file, settle, shown

import splittui
from splittui.policy import policy_document
from splittui.tui.app import make_app
from splittui.tui.state import MAX_DP_CELLS, compute_state
from splittui.tui.widgets.charts import Chart
from splittui.tui.widgets.numbers import NumbersPanel
from splittui.tui.widgets.strip import PlacementStrip


@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_help_scrolls_to_its_last_row(profile, size):
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        scroll, box = app.screen.query_one("#keys-scroll"), app.screen.query_one("Vertical")
        assert scroll.region.bottom <= box.region.bottom - 1          # inside the border, on screen
        assert scroll.scroll_y == scroll.max_scroll_y > 0


async def test_ansi_theme_keeps_the_charts_and_marks_the_focused_knob(profile):
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        for _ in range(3):
            app.theme = "ansi-dark"
            await pilot.pause()
        app.theme = "textual-dark"
        await pilot.pause()
        app.theme = "ansi-dark"
        await settle(pilot)
        mini = app.query_one("#mini-frontier", Chart)
        assert mini.query("ChartPlot") and "┌" in str(mini.query_one("ChartPlot").render())
        assert app.query_one("#deadline").styles.text_style.reverse


async def test_strip_header_labels_every_block_and_the_loaded_row_in_full(profile, tmp_path):
    sc = splittui.Scenario()
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy_document(profile, sc, splittui.solve(profile, sc, "exact"))))
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await load_policy_file(pilot, path)
        text = shown(app.query_one(PlacementStrip))
        header = text.splitlines()[0]
        assert "┊h0" in header and "▼" not in header
        assert "file:exact" in text


async def test_cmt_s_cursor_is_never_drawn_on_a_header_row():
    """cmt-s (stages, wrapped over several strip sections): ▼ marks the cursor in the rows only."""
    from splittui.tui.widgets.strip import blocks

    cmt = splittui.load_profile("cmt-s")
    app = make_app(cmt, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        strip = app.query_one(PlacementStrip)
        starts = [i for i, _ in blocks([x.name for x in cmt.layers])] + [cmt.n_layers]
        middles = [(a + b) // 2 for a, b in zip(starts, starts[1:])]   # mid-block: a blank header cell
        for cursor in sorted({*starts[:-1], *middles}):
            strip.cursor = cursor
            await pilot.pause()
            lines = shown(strip).splitlines()
            assert not any("▼" in line for line in lines if line.startswith("layer")), (cursor, lines)
            assert any("▼" in line for line in lines), cursor


async def test_short_terminal_says_rows_are_cut(profile, tmp_path):
    sc = splittui.Scenario(deadline_ms=80)      # infeasible: the banner takes rows
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy_document(profile, splittui.Scenario(), splittui.solve(profile,
                                                                                        splittui.Scenario()))))
    app = make_app(profile, scenario=splittui.Scenario(), show_timings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await load_policy_file(pilot, path)
        app.query_one("#controls").show(profile, sc)
        app.scenario = sc
        app.resolve()
        await settle(pilot)
        strip = app.query_one(PlacementStrip)
        rows = len(app.state.rows())
        if strip.size.height - 2 < rows:
            assert "more row" in shown(strip)
        else:
            pytest.skip("the strip had room for every row at this size")


def test_dp_skipped_note_names_a_unit_that_fits(profile):
    sc = splittui.Scenario(deadline_ms=100_000, unit_ms=0.1)
    st = compute_state(profile, sc)
    assert "DP skipped" in st.note
    unit = float(st.note.split("raise T to ≥ ")[1].split(" ms")[0])
    assert profile.n_layers * sc.deadline_ms / unit <= MAX_DP_CELLS


async def test_wide_terminal_uses_the_width(profile):
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        table = shown(app.query_one(NumbersPanel)).splitlines()
        assert max(len(line.rstrip()) for line in table) >= 140   # was 86 whatever the width
        strip = shown(app.query_one(PlacementStrip)).splitlines()
        assert max(len(line.rstrip()) for line in strip) >= 180


def test_vs_greedy_column_uses_the_shared_gain_format(profile):
    """Greedy keeping ~0 % on the client made this column print +2857025.7 %: now ×N."""
    from splittui.model import Result
    from splittui.report.formats import gain

    panel = NumbersPanel(show_timings=False)
    greedy = splittui.solve(profile, splittui.Scenario(), "greedy")
    tiny = Result(**{**{f: getattr(greedy, f) for f in greedy.__dataclass_fields__},
                     "server_share": 1 - 1e-6})
    best = splittui.solve(profile, splittui.Scenario(), "exact")
    cells = panel._row("exact", best, tiny, 10, 1500)
    assert cells[4] == gain((best.client_share - 1e-6) / 1e-6) and "%" not in cells[4]
