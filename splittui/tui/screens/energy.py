"""The Energy screen (issue 29, key j): server work × request latency × the client's energy, one scenario.

For the app's current profile and scenario, `energy_front.energy_points` solves exact along the latency
axis (least server work and least joules at deadlines up to the scenario's) and the energy axis (least
server work under caps on the client's joules), in a thread worker with progress. The screen shows a chart
of server share against client joules (each point an exact answer; the Pareto-optimal ones marked) and the
table of points: server share, request latency, client J, the cap, whether Pareto-optimal. Joules are
estimates (docs/energy.md) under the scenario's radio and the client's power preset (named on the status
line; "assumed" where the profile names no device with one). Keys: r rerun, Escape closes.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ProgressBar, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from ...model import Profile, Scenario
from ..widgets.footer import SteadyFooter

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
        def __init__(self, points: list, elapsed_s: float, power: str) -> None:
            super().__init__()
            self.points, self.elapsed_s, self.power = points, elapsed_s, power

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
            with Horizontal(id="en-chart-box"):
                yield PlotextPlot(id="en-chart")
                yield PlotextPlot(id="en-latency")
            yield Static("", id="en-table")
        yield SteadyFooter()

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
            ph = phase_costs(self.profile, self.scenario)
            pts = energy_points(ph, self.scenario, progress=tick)
        except _Cancelled:
            return
        except SplittuiError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        power = "none" if ph.energy is None else ph.energy.client_label
        self.post_message(self.Finished(pts, time.perf_counter() - t0, power))

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
            why = "no policy meets the scenario (loosen the deadline or a limit)"
            self.query_one("#en-status", Static).update(f"{self._head()} · {why} · Esc close")
            return
        self.query_one("#en-status", Static).update(
            f"{self._head()} · {len(event.points)} exact points{took} · {sum(p.pareto for p in event.points)} "
            f"Pareto-optimal · client J estimates, power {event.power} · r rerun · Esc close")
        self.query_one("#en-table", Static).update(energy_text(event.points))
        self._draw()

    def on_resize(self) -> None:
        if self.points:
            self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        """Two views of the three axes, client J across both: server share (left) and latency (right)."""
        pts = self.points or []
        front = [p for p in pts if p.pareto]
        for wid, y, label in (("#en-chart", lambda p: 100 * p.server_share, "server share %"),
                              ("#en-latency", lambda p: p.latency_ms / 1e3, "request latency s")):
            plot = self.query_one(wid, PlotextPlot)
            plt = plot.plt
            plt.clear_figure()
            plt.theme("clear")
            plt.scatter([p.client_j for p in pts], [y(p) for p in pts], marker="dot", label="exact points")
            plt.scatter([p.client_j for p in front], [y(p) for p in front], marker="x", label="Pareto-optimal")
            plt.xlabel("client J per request (estimate)")
            plt.ylabel(label)
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
