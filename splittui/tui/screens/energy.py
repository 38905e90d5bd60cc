"""The Energy screen (issue 29, key j): server work × request latency × the client's energy, one scenario.

For the app's current profile and scenario, `energy_front.energy_points` solves exact at caps on the
client's joules (from the least any policy reaches to what the least-server-work policy spends), in a
thread worker with progress. The screen shows a chart of server share against client joules (each point
an exact answer; the Pareto-optimal ones marked) and the table of points: server share, request latency,
client J, the cap, whether Pareto-optimal. Joules are estimates (docs/energy.md), radio as the scenario's.
Keys: r rerun, Escape closes.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from ...model import Profile, Scenario

__all__ = ["EnergyScreen", "energy_text"]


class _Cancelled(Exception):
    """Raised inside the worker's progress callback when the worker was cancelled."""


class EnergyScreen(Screen):
    """The server work × latency × client energy trade-off of one scenario; Escape returns."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("r", "rerun", "Rerun")]
    DEFAULT_CSS = """
    EnergyScreen #en-status { height: auto; padding: 0 1; }
    EnergyScreen ProgressBar { padding: 0 1; }
    EnergyScreen #en-chart-box { height: 16; }
    EnergyScreen #en-table { height: auto; padding: 0 1; }
    EnergyScreen PlotextPlot { height: 1fr; }
    """

    class Progressed(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    class Finished(Message):
        def __init__(self, points: list, elapsed_s: float) -> None:
            super().__init__()
            self.points, self.elapsed_s = points, elapsed_s

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, profile: Profile, scenario: Scenario, *, show_timings: bool = True,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        self.profile, self.scenario, self.show_timings = profile, scenario, show_timings
        self.points: list | None = None

    def _head(self) -> str:
        sc = self.scenario
        return (f"Energy · {self.profile.model} · client {self.profile.source.get('client_device') or 'measured'} "
                f"· radio {sc.radio} · prompt {sc.seq_len:,} + {sc.gen_tokens:,} output tokens · up "
                f"{sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s")

    def compose(self) -> ComposeResult:
        yield Static(f"{self._head()} · solving…", id="en-status")
        yield ProgressBar(total=100, show_eta=False, id="en-progress")
        with VerticalScroll():
            with Vertical(id="en-chart-box"):
                yield PlotextPlot(id="en-chart")
            yield Static("", id="en-table")
        yield Footer()

    def on_mount(self) -> None:
        self.run_points()

    @work(thread=True, exclusive=True)
    def run_points(self) -> None:
        import time

        from ...energy_front import energy_points
        from ...errors import SplittuiError
        from ...generation import phase_costs

        worker = get_current_worker()

        def tick(i: int, n: int) -> None:
            if worker.is_cancelled:
                raise _Cancelled
            self.post_message(self.Progressed(min(i / n, 0.99)))

        t0 = time.perf_counter()
        try:
            pts = energy_points(phase_costs(self.profile, self.scenario), self.scenario, progress=tick)
        except _Cancelled:
            return
        except SplittuiError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Finished(pts, time.perf_counter() - t0))

    @on(Failed)
    def _show_failure(self, event: Failed) -> None:
        self.query_one("#en-status", Static).update(f"{self._head()} · cannot solve: {event.error} · Esc close")

    @on(Progressed)
    def _show_progress(self, event: Progressed) -> None:
        self.query_one(ProgressBar).update(progress=100 * event.fraction)

    @on(Finished)
    def _show_points(self, event: Finished) -> None:
        self.points = event.points
        self.query_one(ProgressBar).update(progress=100)
        took = f" in {event.elapsed_s:.1f} s" if self.show_timings else ""
        if not event.points:
            why = ("no policy meets the scenario, or the profile's client has no power model "
                   "(a measured profile: pick a client device)")
            self.query_one("#en-status", Static).update(f"{self._head()} · {why} · Esc close")
            return
        self.query_one("#en-status", Static).update(
            f"{self._head()} · {len(event.points)} exact points{took} · estimates · r rerun · Esc close")
        self.query_one("#en-table", Static).update(energy_text(event.points))
        self._draw()

    def on_resize(self) -> None:
        if self.points:
            self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        pts = self.points or []
        plot = self.query_one("#en-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        plt.theme("clear")
        plt.scatter([p.client_j for p in pts], [100 * p.server_share for p in pts], marker="dot", label="exact points")
        front = [p for p in pts if p.pareto]
        plt.scatter([p.client_j for p in front], [100 * p.server_share for p in front], marker="x",
                    label="Pareto-optimal")
        plt.xlabel("client J per request (estimate)")
        plt.ylabel("server share %")
        plot.refresh()

    def action_close(self) -> None:
        self.workers.cancel_all()
        self.dismiss()

    def action_rerun(self) -> None:
        self.points = None
        self.query_one(ProgressBar).update(progress=0)
        self.query_one("#en-status", Static).update(f"{self._head()} · solving…")
        self.run_points()


def energy_text(points: list):
    """The points as a table: server share, request latency, client J, the cap solved under, Pareto-optimal."""
    from rich.table import Table

    from ...report.tables import joules

    t = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("server share", "latency ms", "client J", "cap J", "Pareto"):
        t.add_column(col, justify="right")
    for p in points:
        t.add_row(f"{100 * p.server_share:.1f} %", f"{p.latency_ms:,.1f}", joules(p.client_j),
                  "—" if p.cap_j is None else joules(p.cap_j), "✓" if p.pareto else "")
    return t
