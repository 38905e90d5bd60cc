"""The Experiments screen: the paper's sweep (Figs. 8-11) and throughput simulation (Figs. 12-13)
for the current model, run in a thread worker with progress, drawn with plotext, exportable.

Self-contained: ``ExperimentsScreen(profile, scenario)`` can be pushed by any app. The scenario
supplies the delay, the objective, the output tokens (each cell a whole request) and the TTFT/TPOT
limits (a cell whose placement breaks one counts as infeasible); the grid of deadlines and bandwidths
is `splittui sweep`'s default. The status line says what ran. Keys: r rerun,
c CSV, j JSON (files go to ``export_dir``, never over an existing file), Escape closes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ProgressBar, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from ...confine import app_path
from ...model import Profile, Scenario
from ..delivery import offer_download
from ..widgets.footer import SteadyFooter

if TYPE_CHECKING:
    from ...sim import SimResult
    from ...sweep import Sweep

__all__ = ["ExperimentsScreen"]


class _Cancelled(Exception):
    """Raised inside the worker's progress callback when the worker was cancelled."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    sweep: Sweep
    sim: SimResult


class ExperimentsScreen(Screen):
    """Sweep + simulation for one profile; Escape returns to the caller."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("r", "rerun", "Rerun"),
        Binding("c", "export('csv')", "Export CSV"),
        Binding("j", "export('json')", "Export JSON"),
    ]
    DEFAULT_CSS = """
    ExperimentsScreen #exp-status { height: auto; padding: 0 1; }
    ExperimentsScreen ProgressBar { padding: 0 1; }
    ExperimentsScreen #exp-charts { grid-size: 2; grid-rows: 19; height: auto; }
    ExperimentsScreen .exp-caption { height: auto; padding: 0 1; }
    ExperimentsScreen PlotextPlot { height: 1fr; }
    ExperimentsScreen #exp-summary { height: auto; padding: 0 1; }
    ExperimentsScreen #exp-cell-4 { column-span: 2; }
    """

    class Progressed(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    class Finished(Message):
        def __init__(self, outcome: _Outcome) -> None:
            super().__init__()
            self.outcome = outcome

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, profile: Profile, scenario: Scenario, *, requests: int = 20_000,
                 export_dir: str | Path = ".", show_timings: bool = True, name: str | None = None) -> None:
        super().__init__(name=name)
        self.profile, self.scenario, self.show_timings = profile, scenario, show_timings
        self.requests, self.export_dir = requests, app_path(export_dir)   # served: the files folder
        self.outcome: _Outcome | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Experiments · {self.profile.model} · {ran(self.scenario)} · running…", id="exp-status")
        yield ProgressBar(total=100, show_eta=False, id="exp-progress")
        with VerticalScroll():
            yield Static("", id="exp-summary")
            with Grid(id="exp-charts"):
                for k in range(5):   # a caption (title and legend) over each plot, never on the data
                    with Vertical(id=f"exp-cell-{k}"):
                        yield Static("", id=f"exp-caption-{k}", classes="exp-caption")
                        yield PlotextPlot(id=f"exp-chart-{k}")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.run_experiments()

    # ----- the worker: core calls only; results go back as messages -----

    @work(thread=True, exclusive=True)
    def run_experiments(self) -> None:
        from ...sim import SimConfig, simulate
        from ...sweep import run_sweep
        from ...sweep_sim import sim_cells

        worker = get_current_worker()
        shown = [-1]   # the last whole per cent posted: one message per step of the bar, not per cell

        def report(lo: float, span: float):
            def progress(done: int, total: int) -> None:
                if worker.is_cancelled:
                    raise _Cancelled
                fraction = lo + span * done / max(total, 1)
                if int(100 * fraction) != shown[0]:
                    shown[0] = int(100 * fraction)
                    self.post_message(self.Progressed(fraction))
            return progress

        from ...errors import SplittuiError

        sc = self.scenario
        try:
            sweep = run_sweep(self.profile, sweep_config(sc), progress=report(0.0, 0.6))
            sim = simulate(sim_cells([sweep]), SimConfig(requests=self.requests), progress=report(0.6, 0.4))
        except _Cancelled:
            return
        except SplittuiError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Finished(_Outcome(sweep, sim)))

    @on(Failed)
    def _show_failure(self, event: Failed) -> None:
        self.query_one("#exp-status", Static).update(
            f"Experiments · {self.profile.model} · {ran(self.scenario)} · cannot run: {event.error} · Esc close")

    @on(Progressed)
    def _show_progress(self, event: Progressed) -> None:
        self.query_one(ProgressBar).update(progress=100 * event.fraction)

    @on(Finished)
    def _show_outcome(self, event: Finished) -> None:
        from ...report.formats import pct
        from ...sweep_summary import summary

        self.outcome = out = event.outcome
        self.query_one(ProgressBar).update(progress=100)
        self._draw_all()
        s = summary(out.sweep)
        took = f" in {out.sweep.elapsed_s:.2f} s" if self.show_timings else ""
        lines = [f"{out.sweep.n_cells} cells{took} · DP on client {pct(s['dp'])} · "
                 f"improvement over greedy {pct(s['improvement'], signed=True)} (paper: {_paper(s['paper'])})"]
        for m, st in out.sim.stats.items():
            lines.append(f"{m:>9}: served {st.served:,} · mean wait {st.mean_wait_s:.3g} s · "
                         f"p99 {st.p99_wait_s:.3g} s · max {st.max_wait_s:.3g} s · util {100 * st.utilisation:.0f} %")
        self.query_one("#exp-summary", Static).update("\n".join(lines))
        self.query_one("#exp-status", Static).update(
            f"Experiments · {self.profile.model} · {ran(self.scenario)} · done · r rerun · c CSV · j JSON · Esc close")

    def on_resize(self) -> None:
        if self.outcome is not None:   # captions and ticks fit the plots' new sizes
            self.call_after_refresh(self._draw_all)

    def _draw_all(self) -> None:
        from ...report.charts import wait_chart
        from ...sweep_summary import charts

        out = self.outcome
        assert out is not None   # drawn only once the outcome has arrived
        figures = [*charts(out.sweep), wait_chart(out.sim)]
        lines = [self._draw(k, chart, log_y=k == 4) for k, chart in enumerate(figures)]
        for left in (0, 2):   # side by side captions get the same height, so the two plots start level
            for k in (left, left + 1):
                self.query_one(f"#exp-caption-{k}", Static).styles.height = max(lines[left], lines[left + 1])

    def _draw(self, k: int, chart, *, log_y: bool) -> int:
        """Draw chart k under its caption; the caption's height in lines."""
        from ...report.charts import caption, draw_chart

        plot = self.query_one(f"#exp-chart-{k}", PlotextPlot)
        title = chart.title.split(" · ", 1)[-1]   # the model is in the status line already
        width = max(20, (plot.size.width or self.size.width // (1 if k == 4 else 2)) - 2)
        text = caption(chart, log_y=log_y, width=width, title=title)
        self.query_one(f"#exp-caption-{k}", Static).update(text)
        draw_chart(plot.plt, replace(chart, title=""), log_y=log_y, height=plot.size.height or 16)
        plot.refresh()
        return len(text.wrap(self.app.console, width))

    # ----- actions -----

    def action_close(self) -> None:
        self.workers.cancel_all()
        self.dismiss()

    def action_rerun(self) -> None:
        self.outcome = None
        self.query_one(ProgressBar).update(progress=0)
        self.query_one("#exp-status", Static).update(f"Experiments · {self.profile.model} · {ran(self.scenario)} · "
                                                     "running…")
        self.run_experiments()

    def action_export(self, kind: str) -> None:
        """Ask where to write (a free name in `export_dir` to start with); never over an existing file."""
        if self.outcome is None:
            self.notify("Nothing to export yet: the experiments are still running.", severity="warning")
            return
        from ...report.writers import free_path
        from ..dialogs import PromptScreen

        path = free_path(self.export_dir, f"splittui-experiments-{self.profile.model}", kind).resolve()
        prompt = PromptScreen(f"Write the experiments as {kind.upper()} to", str(path), check=_new_file,
                              hint="Enter writes · Esc cancels · an existing file is never replaced")
        # pushed once this key is handled: with nothing focused here, the key would land in the new field
        self.call_after_refresh(self.app.push_screen, prompt,
                                lambda chosen: None if chosen is None else self._export_to(chosen, kind))

    def _export_to(self, path: Path, kind: str) -> None:
        if self.outcome is None:   # the export key is only offered once the run has finished
            return
        try:
            _write(path, kind, self.outcome)
        except Exception as exc:  # a failed export is a message, never a crash
            self.notify(f"Export failed: {exc}", severity="error")
            return
        offer_download(self.app, path)   # served to a browser: also hand the file to the user
        self.notify(f"Wrote {path.resolve()}", title="Exported")


def sweep_config(sc: Scenario):
    """The sweep this scenario asks for: its delay, objective, output tokens, what the end returns, its
    TTFT/TPOT limits (a cell whose placement breaks one is infeasible; see splittui.sweep) and its radio (each
    cell's client joules). The sweep's solvers maximise a server resource: least client energy sweeps flops."""
    from ...sweep import SweepConfig

    objective = "flops" if sc.objective == "client_energy" else sc.objective
    return SweepConfig(delay_ms=sc.delay_ms, objective=objective, gen_tokens=sc.gen_tokens, exact=False,
                       ttft_ms=sc.ttft_ms, tpot_ms=sc.tpot_ms if sc.gen_tokens > 1 else None, returns=sc.returns,
                       radio=sc.radio)


def ran(sc: Scenario) -> str:
    """What the sweep runs, in one phrase: the knobs of the scenario it honours."""
    what = (f"{sc.gen_tokens} output tokens (each cell a whole request)" if sc.gen_tokens
            else "prefill only (no output tokens)")
    limits = [f"TTFT ≤ {sc.ttft_ms:,.1f} ms"] if sc.ttft_ms is not None else []
    if sc.tpot_ms is not None and sc.gen_tokens:
        limits.append(f"TPOT ≤ {sc.tpot_ms:,.1f} ms")
    if limits:
        what += f" · {' and '.join(limits)} (a placement breaking one is infeasible)"
    objective = ("flops (the sweep does not solve least client energy)" if sc.objective == "client_energy"
                 else sc.objective)
    return f"{what} · delay {sc.delay_ms:g} ms · objective {objective} · radio {sc.radio}"


def _new_file(text: str) -> Path:
    """The typed path, if a new file can go there (ValueError says why not)."""
    if not text.strip():
        raise ValueError("type a file path")
    path = app_path(text.strip())   # served: inside the server's files folder only (SplittuiError)
    if path.is_dir():
        raise ValueError(f"{path} is a directory: add a file name")
    if path.exists():
        raise ValueError(f"{path} exists: choose another name")
    if not path.parent.is_dir():
        raise ValueError(f"no folder {path.parent}")
    return path


def _write(path: Path, kind: str, out: _Outcome) -> None:
    from ...report.documents import simulation_document, sweep_document
    from ...report.writers import write_csv_atomic, write_json
    from ...sweep_summary import sweep_rows

    if kind == "csv":
        write_csv_atomic(path, sweep_rows(out.sweep))
    else:
        write_json(path, {"sweep": sweep_document([out.sweep]),
                          "simulation": simulation_document(out.sim, [out.sweep.model])}, force=False)


def _paper(paper: dict | None) -> str:
    if not paper:
        return "no figure for this model"
    return f"{paper['offload']} % on client, {paper['improvement']:+} %"
