"""The goal dialog (g): answer backwards. Type a target server share; a worker finds the least
deadline that reaches it for exact (the optimum) and dp (the paper's DP at the current T), with
`solvers.goal.least_deadline`; Enter on an answer applies its deadline to the deadline knob.

The dialog dismisses with the chosen deadline in ms (None on Escape). The UI thread only draws:
the goal seek (seconds for exact on a large model) runs in a thread worker that posts its answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ...model import Profile, Scenario
from ..dialogs import dialog_css, one_line

__all__ = ["GoalScreen", "parse_share", "GOAL_SOLVERS_SHOWN"]

GOAL_SOLVERS_SHOWN = ("exact", "dp")


def parse_share(text: str) -> float:
    """A target share: "50 %", "50" (a number above 1 is a percentage) or "0.5"; ValueError if not."""
    raw = text.strip().removeprefix("≤").removeprefix("<=").strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip().replace(",", ""))
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a share: type e.g. 50 %, 50 or 0.5") from None
    if not math.isfinite(value):
        raise ValueError("the share must be a finite number")
    share = value / 100 if percent or value > 1 else value
    if not 0 <= share <= 1:
        raise ValueError(f"the share must be between 0 and 100 %, got {text.strip()}")
    return share


@dataclass(frozen=True, slots=True)
class Answer:
    """One solver's least deadline for the target (None: no deadline reaches it)."""

    solver: str
    deadline_ms: float | None
    share: float | None
    latency_ms: float | None


def _label(a: Answer, unit_ms: float) -> str:
    who = "exact (the optimum)" if a.solver == "exact" else f"dp (the paper's DP at T = {unit_ms:g} ms)"
    if a.deadline_ms is None or a.share is None or a.latency_ms is None:
        return f"{who}: no deadline reaches this share"
    return (f"{who}: least deadline {a.deadline_ms:,.3f} ms · server {100 * a.share:.2f} % · "
            f"latency {a.latency_ms:,.3f} ms — Enter applies")


class GoalScreen(ModalScreen[float | None]):
    """Target share in, least deadline per solver out; Enter on an answer applies it."""

    DEFAULT_CSS = dialog_css("GoalScreen") + """
    GoalScreen > Vertical { width: 96; }
    GoalScreen OptionList { height: auto; max-height: 6; margin: 1 0 0 0; display: none; }
    GoalScreen OptionList.-ready { display: block; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    class Answered(Message):
        def __init__(self, share: float, answers: tuple[Answer, ...] | None, error: str = "") -> None:
            super().__init__()
            self.share, self.answers, self.error = share, answers, error

    def __init__(self, profile: Profile, scenario: Scenario, share: float | None = None) -> None:
        super().__init__()
        self.profile, self.scenario = profile, scenario
        self.share = share
        self.answers: tuple[Answer, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Goal: the least deadline at which the server does at most a share of the work "
                        f"({self.profile.model}, the current knobs)", classes="title")
            start = "" if self.share is None else f"{100 * self.share:g} %"
            yield Input(value=start, placeholder="server share ≤ (e.g. 50 %, 50 or 0.5)", select_on_focus=True,
                        id="share")
            yield Label("", classes="error", id="error")
            yield OptionList(id="answers")
            yield Label("Enter seeks · then Enter applies the highlighted deadline · Esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#share", Input).focus()

    @on(Input.Submitted, "#share")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            share = parse_share(event.value)
        except ValueError as exc:
            self._error(one_line(exc))
            return
        self.share = share
        self._error(f"seeking the least deadline for server share ≤ {100 * share:g} % …")
        self.query_one(OptionList).remove_class("-ready")
        self._seek(share)

    @work(thread=True, exclusive=True, group="goal")
    def _seek(self, share: float) -> None:
        from ...errors import SplittuiError
        from ...solvers.goal import Target, least_deadline

        try:
            goals = [least_deadline(self.profile, self.scenario, name, Target(max_share=share))
                     for name in GOAL_SOLVERS_SHOWN]
        except SplittuiError as exc:
            self.post_message(self.Answered(share, None, one_line(exc)))
            return
        answers = tuple(Answer(g.solver, g.value, g.result.server_share if g.result else None,
                               g.result.latency_ms if g.result else None) for g in goals)
        self.post_message(self.Answered(share, answers))

    @on(Answered)
    def _answered(self, event: Answered) -> None:
        if event.share != self.share:
            return   # an older target's answer
        if event.answers is None:
            self._error(event.error)
            return
        self.answers = event.answers
        self._error("")
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(_label(a, self.scenario.unit_ms), id=a.solver, disabled=a.deadline_ms is None)
                             for a in event.answers])
        options.add_class("-ready")
        if any(a.deadline_ms is not None for a in event.answers):
            options.highlighted = next(i for i, a in enumerate(event.answers) if a.deadline_ms is not None)
            options.focus()

    @on(OptionList.OptionSelected, "#answers")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        answer = next(a for a in self.answers if a.solver == event.option.id)
        self.dismiss(answer.deadline_ms)

    def _error(self, text: str) -> None:
        self.query_one("#error", Label).update(text)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "goal")
        self.dismiss(None)
