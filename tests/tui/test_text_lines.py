"""`TextLines` widgets (the placement strip, the solver table) draw exactly the strips Textual's own
conversion of their whole `render()` Text gives, line by line and segment by segment (styles with
their offsets included), after key presses that change some lines and keep others, at two sizes
and with the strip focused (another widget style)."""

from __future__ import annotations

import pytest
from textual.visual import Visual, visualize
from tui_helpers import settle

import splittui
from splittui.tui.app import make_app
from splittui.tui.widgets.numbers import NumbersPanel
from splittui.tui.widgets.strip import PlacementStrip


def reference(widget) -> list[list[tuple]]:
    """What Textual draws for the widget's whole Text (Widget._render_content does this)."""
    h = widget.size.height
    strips = Visual.to_strips(widget, visualize(widget, widget.render()), widget.size.width, h, widget.visual_style)
    return [[(s.text, s.style) for s in strip] for strip in strips[:h]]


def drawn(widget) -> list[list[tuple]]:
    lines = [widget.render_line(y) for y in range(widget.size.height)]
    return [[(s.text, s.style) for s in strip] for strip in lines]


def same(widget) -> None:
    want, got = reference(widget), drawn(widget)
    assert got[: len(want)] == want
    assert all("".join(t for t, _ in row).strip() == "" for row in got[len(want):])   # blank below the text


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_text_lines_draw_what_textual_draws(size):
    app = make_app(splittui.load_profile("gpt2-like"), show_timings=False)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for keys in ((), ("left",) * 3, ("right",)):
            await pilot.press(*keys)
            await settle(pilot)
            await pilot.pause()
            for widget in (app.query_one(PlacementStrip), app.query_one(NumbersPanel)):
                same(widget)
        app.query_one(PlacementStrip).focus()
        await pilot.press("right", "right")   # the layer cursor moves: one row's cells and the detail line
        await pilot.pause()
        same(app.query_one(PlacementStrip))
