"""App tests: saved slots in a temporary folder, never the real home; snapshots taken once the screen holds still."""

from __future__ import annotations

import inspect

import pytest


@pytest.fixture(autouse=True)
def _no_heap_settling(request, monkeypatch):
    """The app's first answer runs a full garbage collection and freezes the heap (`SplitApp._settle_heap`):
    ~90 ms per app in a test process holding many apps' garbage, paid by every app test (issue 31). Tests run
    it only where they ask for it (`@pytest.mark.heap`)."""
    if request.node.get_closest_marker("heap") is None:
        from splittui.tui.app import SplitApp

        monkeypatch.setattr(SplitApp, "_settle_heap", lambda self: None)


@pytest.fixture(autouse=True)
def _slots_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path / "splittui-data"))


async def _still(pilot, tries: int = 40) -> None:
    """Wait until two screenshots 50 ms apart agree: on a loaded machine a layout (a strip or table that
    grew with its first answer) may still be pending when the answer is on screen, and the snapshot
    would catch the frame before it. Gives up quietly after `tries` (then the comparison shows the
    difference)."""
    before = None
    for _ in range(tries):
        await pilot.pause(0.05)
        now = pilot.app.export_screenshot()
        if now == before:
            return
        before = now


@pytest.fixture
def snap_compare(snap_compare):
    """pytest-textual-snapshot's snap_compare, taking its picture only once the screen holds still."""
    def compare(app, *args, run_before=None, **kwargs):
        async def run(pilot) -> None:
            if run_before is not None:
                done = run_before(pilot)
                if inspect.isawaitable(done):
                    await done
            await _still(pilot)
        return snap_compare(app, *args, run_before=run, **kwargs)
    return compare
