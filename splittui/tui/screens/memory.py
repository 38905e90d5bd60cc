"""The memory screen (key m, SPEC §10): the selected solver's memory per side — weights, KV cache,
activations, runtime reserve, total against the limit, fits or over by how much — what binds and the
fixes `splittui fit` would give, and the two memory limits to type (GB, `device`: the preset's usable
memory, `off`). The report is computed by `splittui.fit` in a thread worker: under a binding limit it
re-solves the scenario a few times.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ...errors import SplittuiError
from ...fit import FitReport, fit_policy, fit_solver
from ...memory import fmt_gb
from ...model import Profile, Result, Scenario
from ..dialogs import dialog_css, one_line
from ..privacy import device_gb, limit_text, parse_limit

__all__ = ["MemoryScreen", "report_table"]

Limits = tuple[float | None, float | None]   # (client, server) GB; None: no limit


def report_table(report: FitReport) -> Table:
    """Per side: weights, KV, activations, reserve, total, limit and whether it fits (estimates)."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for head in ("side", "weights", "KV", "activations", "reserve", "total", "limit", "fits"):
        table.add_column(head, justify="left" if head in ("side", "fits") else "right", no_wrap=True)
    for s in report.sides or ():
        fits = Text("yes", "green") if s.fits else Text(f"over by {fmt_gb(s.over)}", "bold red")
        table.add_row(s.side, fmt_gb(s.weights), fmt_gb(s.kv), fmt_gb(s.act), fmt_gb(s.reserve), fmt_gb(s.total),
                      "none" if s.limit is None else fmt_gb(s.limit), fits)
    return table


def report_text(report: FitReport) -> Text:
    """What binds and the fixes, each re-checked (✓ it works, ✗ it was tried and does not)."""
    text = Text().append("what binds: ", "bold")
    text.append(report.binding)
    for fix in report.fixes:
        text.append(f"\n  {'✓' if fix.ok else '✗'} {fix.change}: {fix.result}")
    return text


class MemoryScreen(ModalScreen[Limits | None]):
    """The fit report of `solver` under `scenario`; dismisses with the typed limits (None on Escape)."""

    DEFAULT_CSS = dialog_css("MemoryScreen") + """
    MemoryScreen > Vertical { width: 110; }
    MemoryScreen Horizontal { height: auto; }
    MemoryScreen Horizontal Label { width: 18; padding: 1 1 0 0; }
    MemoryScreen Horizontal Input { width: 1fr; }
    MemoryScreen #fit-report { height: auto; margin: 1 0 0 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close")]

    class Reported(Message):
        """The fit worker's answer (a report, or the one-line reason there is none)."""

        def __init__(self, report: FitReport | None, error: str = "") -> None:
            super().__init__()
            self.report, self.error = report, error

    def __init__(self, profile: Profile, scenario: Scenario, solver: str, result: Result | None) -> None:
        super().__init__()
        self.profile, self.scenario, self.solver, self.result = profile, scenario, solver, result
        self.report: FitReport | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Memory per side of {self.solver}'s placement (estimates, GB = 1e9 bytes)", classes="title")
            yield Static("computing…", id="fit-report")
            for side in ("client", "server"):
                with Horizontal():
                    yield Label(f"{side} limit (GB)")
                    yield Input(value=limit_text(getattr(self.scenario, f"{side}_mem_gb")), id=f"{side}-mem",
                                placeholder="GB, device or off")
            yield Label("", classes="error", id="error")
            dev = [f"{side} {gb:g} GB" for side in ("client", "server")
                   if (gb := device_gb(self.profile, side)) is not None]
            yield Label("Enter apply the limits · Tab next field · Esc close · off: no limit · device: the preset's "
                        f"usable memory{' (' + ', '.join(dev) + ')' if dev else ''}", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#client-mem", Input).focus()
        self._fit(self.profile, self.scenario, self.solver, self.result)

    @work(thread=True, exclusive=True, group="fit")
    def _fit(self, profile: Profile, sc: Scenario, solver: str, result: Result | None) -> None:
        """A feasible placement: its breakdown (cheap); none: the solver's fit, which re-solves to find
        what binds."""
        try:
            if result is not None and result.feasible and result.policy is not None:
                report = fit_policy(profile, sc, result.policy, label=solver)
            else:
                report = fit_solver(profile, sc, solver)
        except SplittuiError as exc:
            self.post_message(self.Reported(None, one_line(exc)))
            return
        self.post_message(self.Reported(report))

    def on_memory_screen_reported(self, event: Reported) -> None:
        event.stop()
        self.report = event.report
        out = self.query_one("#fit-report", Static)
        if event.report is None:
            out.update(Text(event.error, "yellow"))
            return
        if event.report.sides is None:
            out.update(report_text(event.report))
            return
        out.update(_stack(event.report))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            limits = tuple(parse_limit(self.query_one(f"#{side}-mem", Input).value, self.profile, side)
                           for side in ("client", "server"))
        except ValueError as exc:
            self.query_one("#error", Label).update(one_line(exc))
            return
        if any(v is not None for v in limits) and not self.profile.has_server_mem:
            self.query_one("#error", Label).update(f"{self.profile.model} lacks weight_bytes and kv_bytes: "
                                                   "its memory is unknown (SPEC §10)")
            return
        self.dismiss((limits[0], limits[1]))


def _stack(report: FitReport) -> Table:
    grid = Table.grid()
    grid.add_row(report_table(report))
    grid.add_row(report_text(report))
    return grid
