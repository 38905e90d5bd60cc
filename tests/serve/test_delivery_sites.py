"""Every place the app writes a file also offers it as a browser download when served (issue 14, item 2):
the experiments' CSV/JSON here, the export dialog end to end in test_serve.py. `is_web` is faked; the
real websocket path is covered there."""

from __future__ import annotations

import numpy as np
from textual.app import App
from textual.widgets import Static

from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.tui.screens.experiments import ExperimentsScreen


def _profile():
    rng = np.random.default_rng(1)
    layers = [{"name": f"l{i}", "kind": "linear", "flops": sorted(rng.uniform(1e6, 1e8, 2).tolist()),
               "client_ms": sorted(rng.uniform(1, 40, 2).tolist()), "server_ms": sorted(rng.uniform(0, 3, 2).tolist()),
               "in_bytes": sorted(rng.uniform(0, 3000, 2).tolist())} for i in range(6)]
    return profile_from_doc({"schema": "splittui.profile/1", "model": "tiny", "seq_lens": [32, 64],
                             "output_bytes": [100.0, 200.0], "layers": layers})


class ServedHost(App):
    """Pretends to run in a browser and records what it would deliver."""

    def __init__(self, export_dir) -> None:
        super().__init__()
        self.export_dir, self.delivered = export_dir, []

    @property
    def is_web(self) -> bool:
        return True

    def deliver_text(self, path, **options):
        self.delivered.append((path.name, path.read_text()))

    def compose(self):
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(ExperimentsScreen(_profile(), Scenario(), requests=1000, export_dir=self.export_dir))


async def test_experiment_exports_are_offered_as_downloads(tmp_path):
    app = ServedHost(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        for _ in range(200):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if screen.outcome is not None:
                break
        assert screen.outcome is not None, "experiments never finished"
        for key in ("c", "enter", "j", "enter"):   # each export asks for the path first (issue 16)
            await pilot.press(key)
            await pilot.pause()
    written = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert set(written) == {"splittui-experiments-tiny.csv", "splittui-experiments-tiny.json"}
    assert dict(app.delivered) == written      # the same names and the same bytes as on disk
