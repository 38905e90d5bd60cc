"""The Experiments screen, standalone in a tiny host app: runs, draws, exports without
overwriting, closes on Escape."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import numpy as np
from textual.app import App
from textual.widgets import Static
from textual.worker import WorkerState
from textual_plotext import PlotextPlot
from tui_helpers import workers_done

from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.tui.screens.experiments import ExperimentsScreen


def small_profile():
    rng = np.random.default_rng(0)
    layers = [{"name": f"l{i}", "kind": "linear", "flops": sorted(rng.uniform(1e6, 1e8, 2).tolist()),
               "client_ms": sorted(rng.uniform(1, 40, 2).tolist()), "server_ms": sorted(rng.uniform(0, 3, 2).tolist()),
               "in_bytes": sorted(rng.uniform(0, 3000, 2).tolist())} for i in range(8)]
    return profile_from_doc({"schema": "splittui.profile/1", "model": "tiny", "seq_lens": [32, 64],
                             "output_bytes": [100.0, 200.0], "layers": layers})


class Host(App):
    def __init__(self, export_dir) -> None:
        super().__init__()
        self.export_dir = export_dir

    def compose(self):
        yield Static("host", id="host")

    def on_mount(self) -> None:
        self.push_screen(ExperimentsScreen(small_profile(), Scenario(), requests=2000, export_dir=self.export_dir))


async def wait_done(pilot, screen) -> None:
    for _ in range(200):
        await workers_done(pilot.app)
        await pilot.pause()
        if screen.outcome is not None:
            return
    raise AssertionError("experiments never finished")


async def test_runs_draws_exports_and_closes(tmp_path):
    app = Host(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ExperimentsScreen)
        await pilot.press("c")                       # too early or not: never a crash
        await wait_done(pilot, screen)
        if app.screen is not screen:                 # the run was quick: c asked for a path
            await pilot.press("escape")
        summary = str(screen.query_one("#exp-summary", Static).render())
        assert "improvement over greedy" in summary and "no-split" in summary
        cap = str(screen.query_one("#exp-caption-0", Static).render())
        assert "s=32" in cap                         # the Fig. 8 legend, above the plot
        plot = screen.query_one("#exp-chart-0", PlotextPlot)
        assert "s=32" not in plot.render().plain     # ... and not on the data
        for f in tmp_path.iterdir():
            f.unlink()
        from splittui.tui.dialogs import PromptScreen

        for key in ("c", "enter", "c", "enter", "j"):   # each export asks for the path (a free name to start)
            await pilot.press(key)
            # the next key only once this one's screen is up (or gone): typed sooner, a key went into the path
            for _ in range(300):
                await pilot.pause()
                asking = isinstance(app.screen, PromptScreen)
                if asking == (key != "enter") and (asking or app.screen is screen):
                    break
            else:
                raise AssertionError(f"{key!r}: the screen never came")

        await pilot.pause()

        assert isinstance(app.screen, PromptScreen)
        field = app.screen.query_one("#answer")
        assert field.value == str((tmp_path / "splittui-experiments-tiny.json").resolve())
        field.value = str(tmp_path / "splittui-experiments-tiny.csv")   # an existing file: refused in place
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen) and "exists" in str(app.screen.query_one("#error").render())
        field.value = str(tmp_path / "splittui-experiments-tiny.json")
        await pilot.press("enter")
        await pilot.pause()
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["splittui-experiments-tiny-2.csv", "splittui-experiments-tiny.csv",
                         "splittui-experiments-tiny.json"]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExperimentsScreen)


async def test_escape_while_running_cancels(tmp_path, monkeypatch):
    """Escape mid-sweep closes the screen, stops the worker (cancelled, never finished), and neither
    the simulation nor any file follows."""
    import splittui.sim
    import splittui.sweep

    started, stopped, simulated = threading.Event(), threading.Event(), threading.Event()

    def endless(profile, cfg, *, progress):
        started.set()
        try:
            for i in itertools.count():
                progress(i, 10**9)   # raises once the worker is cancelled
                time.sleep(0.005)
        finally:
            stopped.set()

    monkeypatch.setattr(splittui.sweep, "run_sweep", endless)
    monkeypatch.setattr(splittui.sim, "simulate", lambda *a, **k: simulated.set())
    app = Host(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ExperimentsScreen)
        for _ in range(400):
            if started.is_set():
                break
            await asyncio.sleep(0.01)
        (worker,) = [w for w in app.workers if w.node is screen]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExperimentsScreen)
        await app.workers.wait_for_complete()
        assert stopped.wait(5)
        assert worker.state == WorkerState.CANCELLED
        assert screen.outcome is None and not simulated.is_set()
        assert list(tmp_path.iterdir()) == []
