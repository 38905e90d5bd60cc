"""SVG snapshots of the main app (pytest-textual-snapshot). Solve times are hidden and the profile is
the analytic gpt2-like built from code (the shipped file is re-measured from time to time), so the
pictures change only when the app does; update them with
`pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest

from splittui.analytic import gpt2_like_doc
from splittui.profiles import profile_from_doc
from splittui.tui.app import make_app


@pytest.fixture(scope="module")
def profile():
    return profile_from_doc(gpt2_like_doc(), source="analytic", origin="gpt2-like")


def app(profile):
    return make_app(profile, show_timings=False)


def test_main_80x24(snap_compare, profile):
    assert snap_compare(app(profile), terminal_size=(80, 24))


def test_main_200x60(snap_compare, profile):
    assert snap_compare(app(profile), terminal_size=(200, 60))


def test_infeasible_80x24(snap_compare, profile):
    assert snap_compare(app(profile), terminal_size=(80, 24), press=["home"])


def test_frontier_tab_80x24(snap_compare, profile):
    assert snap_compare(app(profile), terminal_size=(80, 24), press=["left", "left", "2"])


def test_strip_cursor_120x40(snap_compare, profile):
    async def move(pilot):
        pilot.app.query_one("#strip").focus()
        await pilot.press(*["shift+right"] * 5, "right")

    assert snap_compare(app(profile), terminal_size=(120, 40), run_before=move)
