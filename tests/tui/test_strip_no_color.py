"""The app's placement strip without colour (NO_COLOR): the sides as letters, as the CLI draws them."""

from __future__ import annotations

from splittui.report.palette import CLIENT_CHAR, SERVER_CHAR
from splittui.tui.widgets.strip import PlacementStrip


def _glyphs(sides: list[int]) -> str:
    # layers 2-3 (client) and 5-6 (server): no transfer at them, so no arrow replaces the cell
    return "".join(PlacementStrip._cell(sides, a, a + 1, False)[0] for a in (2, 3, 5, 6))


def test_cells_are_letters_with_no_color(monkeypatch):
    sides = [1, 1, 1, 1, 0, 0, 0, 0]   # start, 6 layers (3 client, 3 server), end (on the server)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert set(_glyphs(sides)) == {" "}   # colour carries the side
    monkeypatch.setenv("NO_COLOR", "1")
    assert _glyphs(sides) == CLIENT_CHAR * 2 + SERVER_CHAR * 2


def test_the_app_and_the_cli_use_one_share_reading():
    from splittui.report.formats import parse_share as cli_share
    from splittui.tui.screens.goal import parse_share as app_share

    for text in ("0.3", "30", "30%", "30 %", "1", "1%", "0", "100", "≤ 50 %", "12.5"):
        assert cli_share(text) == app_share(text), text
