"""The Capacity screen (issue 27, key k): how many clients one server holds under percentile targets.

For the app's current model, client device, link and output tokens, the four placement strategies of
`splittui capacity` — (a) everything on the server, (b) the paper's greedy, (c) exact per class under the
per-request limits, (d) a joint choice of canonical cuts — each searched for the largest arrival rate the
server sustains with P90 TTFT and P99 TPOT within the targets (the scenario's TTFT/TPOT limits, else 1,000
and 50 ms). The search runs in a thread worker with progress; the screen shows the capacity table (rate,
clients at once, binding target, saturated resource, client layers) and two charts of every rate tried:
clients in the server against P99 TPOT and against P90 TTFT, the target as a line. Estimates: the server is
the profile's server device's roofline (docs/capacity.md). Keys: r rerun, Escape closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ProgressBar, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from ...model import Profile, Scenario
from ..widgets.footer import SteadyFooter

__all__ = ["CapacityScreen", "capacity_targets", "DEFAULT_TTFT_P90_MS", "DEFAULT_TPOT_P99_MS"]

DEFAULT_TTFT_P90_MS = 1000.0
DEFAULT_TPOT_P99_MS = 50.0


class _Cancelled(Exception):
    """Raised inside the worker's progress callback when the worker was cancelled."""


def capacity_targets(sc: Scenario) -> tuple:
    """P90 TTFT (the scenario's TTFT limit, else 1,000 ms) and, with output tokens, P99 TPOT (its TPOT limit,
    else 50 ms)."""
    from ...sim.search import Target

    out = [Target("ttft", 90.0, sc.ttft_ms if sc.ttft_ms is not None else DEFAULT_TTFT_P90_MS)]
    if sc.gen_tokens > 1:
        out.append(Target("tpot", 99.0, sc.tpot_ms if sc.tpot_ms is not None else DEFAULT_TPOT_P99_MS))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Outcome:
    results: dict           # strategy -> StrategyResult
    targets: tuple
    server: str
    elapsed_s: float


class CapacityScreen(Screen):
    """Capacity of each placement strategy for one profile and scenario; Escape returns to the caller."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("r", "rerun", "Rerun")]
    DEFAULT_CSS = """
    CapacityScreen #cap-status { height: auto; padding: 0 1; }
    CapacityScreen ProgressBar { padding: 0 1; }
    CapacityScreen #cap-table { height: auto; padding: 0 1; }
    CapacityScreen #cap-charts { grid-size: 2; grid-rows: 17; height: auto; }
    CapacityScreen .cap-caption { height: auto; padding: 0 1; }
    CapacityScreen PlotextPlot { height: 1fr; }
    """

    class Progressed(Message):
        def __init__(self, text: str, fraction: float) -> None:
            super().__init__()
            self.text, self.fraction = text, fraction

    class Finished(Message):
        def __init__(self, outcome: _Outcome) -> None:
            super().__init__()
            self.outcome = outcome

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, profile: Profile, scenario: Scenario, *, requests: int = 800, rel_tol: float = 0.05,
                 show_timings: bool = True, name: str | None = None) -> None:
        super().__init__(name=name)
        self.profile, self.scenario, self.show_timings = profile, scenario, show_timings
        self.requests, self.rel_tol = requests, rel_tol
        self.outcome: _Outcome | None = None

    def _head(self) -> str:
        sc = self.scenario
        targets = " · ".join(t.label for t in capacity_targets(sc))
        return (f"Capacity · {self.profile.model} · prompt {sc.seq_len:,} + {sc.gen_tokens:,} output tokens · "
                f"up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s · {targets}")

    def compose(self) -> ComposeResult:
        yield Static(f"{self._head()} · searching…", id="cap-status")
        yield ProgressBar(total=100, show_eta=False, id="cap-progress")
        with VerticalScroll():
            yield Static("", id="cap-table")
            with Grid(id="cap-charts"):
                for k in range(2):
                    with Vertical():
                        yield Static("", id=f"cap-caption-{k}", classes="cap-caption")
                        yield PlotextPlot(id=f"cap-chart-{k}")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.run_search()

    # ----- the worker: core calls only; results come back as messages -----

    @work(thread=True, exclusive=True)
    def run_search(self) -> None:
        import time

        from ...devices import DEFAULT_SERVER, resolve_device
        from ...errors import SplittuiError
        from ...sim.capacity import SimOptions
        from ...sim.search import SearchOptions
        from ...sim.strategies import STRATEGIES, ClassSpec, compare

        worker = get_current_worker()
        count = [0]
        total = len(STRATEGIES) * 14

        def tick(name: str, i: int, n: int) -> None:
            if worker.is_cancelled:
                raise _Cancelled
            count[0] += 1
            self.post_message(self.Progressed(name, min(count[0] / total, 0.99)))

        sc = self.scenario
        try:
            if not (self.profile.has_decode and self.profile.has_server_mem):
                raise SplittuiError(f"{self.profile.model} has no decode costs or weight/KV bytes: capacity needs an "
                                    "LLM config (pick one in the model picker, or start with --model llama-3.1-8b)")
            name = str(self.profile.source.get("server_device") or DEFAULT_SERVER)
            device = resolve_device(name, flag="server device")
            targets = capacity_targets(sc)
            client = str(self.profile.source.get("client_device") or "client")
            specs = [ClassSpec(client, 1.0, self.profile, sc)]
            opt = SearchOptions(requests=self.requests, seeds=(0,), rel_tol=self.rel_tol, sim=SimOptions())
            t0 = time.perf_counter()
            res = compare(specs, device, targets, opt, progress=tick)
        except _Cancelled:
            return
        except SplittuiError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(self.Finished(_Outcome(res, targets, name, time.perf_counter() - t0)))

    @on(Failed)
    def _show_failure(self, event: Failed) -> None:
        self.query_one("#cap-status", Static).update(f"{self._head()} · cannot run: {event.error} · Esc close")

    @on(Progressed)
    def _show_progress(self, event: Progressed) -> None:
        self.query_one(ProgressBar).update(progress=100 * event.fraction)
        self.query_one("#cap-status", Static).update(f"{self._head()} · searching {event.text}…")

    @on(Finished)
    def _show_outcome(self, event: Finished) -> None:
        self.outcome = out = event.outcome
        self.query_one(ProgressBar).update(progress=100)
        self.query_one("#cap-table", Static).update(capacity_text(out))
        took = f" in {out.elapsed_s:.1f} s" if self.show_timings else ""
        self.query_one("#cap-status", Static).update(
            f"{self._head()} · server {out.server} (roofline estimate) · done{took} · r rerun · Esc close")
        self._draw_all()

    def on_resize(self) -> None:
        if self.outcome is not None:
            self.call_after_refresh(self._draw_all)

    def _draw_all(self) -> None:
        out = self.outcome
        assert out is not None
        for k, t in enumerate(out.targets[::-1][:2] if len(out.targets) > 1 else out.targets):
            self._draw(k, out, t)

    def _draw(self, k: int, out: _Outcome, target) -> None:
        plot = self.query_one(f"#cap-chart-{k}", PlotextPlot)
        idx = out.targets.index(target)
        plt = plot.plt
        plt.clear_figure()
        plt.theme("clear")
        for res in out.results.values():
            probes = sorted((p for p in res.capacity.probes if p.values[idx] == p.values[idx]),
                            key=lambda p: p.in_server)
            if probes:
                plt.plot([p.in_server for p in probes], [p.values[idx] for p in probes], marker="braille",
                         label=res.label)
        plt.hline(target.ms)
        plt.xlabel("clients in the server")
        plt.ylabel("ms")
        plot.refresh()
        self.query_one(f"#cap-caption-{k}", Static).update(
            f"clients in the server vs {target.label.split(' <=')[0]} (ms); the line: the target")

    # ----- actions -----

    def action_close(self) -> None:
        self.workers.cancel_all()
        self.dismiss()

    def action_rerun(self) -> None:
        self.outcome = None
        self.query_one(ProgressBar).update(progress=0)
        self.query_one("#cap-status", Static).update(f"{self._head()} · searching…")
        self.run_search()


def _rate(v: float) -> str:
    import math

    return "unbounded" if math.isinf(v) else f"{v:,.2f}"


def capacity_text(out: _Outcome):
    """The capacity table (a rich Table: long cells wrap within their column) and a closing line: per
    strategy the rate met, clients at once, what binds, the client layers per class."""
    import math

    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ...sim.strategies import LABELS

    t = Table(box=None, header_style="bold", expand=True, pad_edge=False)
    for col, just in (("strategy", "left"), ("req/s", "right"), ("clients", "right"), ("binding target", "left"),
                      ("saturates", "left"), ("client layers", "right")):
        t.add_column(col, justify=just, overflow="fold")   # type: ignore[arg-type]
    for s, r in out.results.items():
        cap = r.capacity
        unbounded = math.isinf(cap.rate_per_s)
        t.add_row(LABELS[s], _rate(cap.rate_per_s), "—" if unbounded else f"{cap.concurrency:,.1f}",
                  cap.binding or "—", cap.resource or "—", "/".join(str(n) for n in r.client_layers()))
    best = max(out.results.values(), key=lambda r: r.capacity.rate_per_s)
    if math.isinf(best.capacity.rate_per_s):
        line = (f"{best.label}: every layer stays on the clients, so the server is no limit; the finite rows "
                "are what the server holds when it does work")
    else:
        line = (f"most clients: {best.label} ({best.capacity.concurrency:,.1f} at once, "
                f"{best.capacity.rate_per_s:,.2f} req/s)")
    return Group(t, Text(line + " · estimates: simulated on the roofline server model"))
