"""The goal dialog (g): answer backwards. Choose what to seek (the least deadline, or the least uplink
at the current deadline) and type a target server share; a worker finds it for exact (the optimum)
and dp (the paper's DP at the current T), with `solvers.goal.least_deadline` / `least_bandwidth`, both
meeting the scenario's TTFT/TPOT limits; Enter on an answer applies it to its knob.

The dialog dismisses with a `GoalApplied` (the knob and its value; None on Escape). The UI thread only
draws: the goal seek (seconds for exact on a large model) runs in a thread worker that posts its answer.
An Enter typed while that seek runs does not start it again.
"""

from __future__ import annotations

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
from ...report.formats import parse_share  # one reading of a share, as the CLI's --max-share
from ..dialogs import dialog_css, one_line

__all__ = ["GoalScreen", "GoalApplied", "parse_share", "GOAL_SOLVERS_SHOWN", "SEEKS"]

GOAL_SOLVERS_SHOWN = ("exact", "dp")
SEEKS = ("deadline", "uplink")   # the least deadline; the least upload bandwidth at the current deadline


@dataclass(frozen=True, slots=True)
class GoalApplied:
    """What the dialog applies: the least deadline (ms) or the least uplink (Mbit/s; the downlink keeps
    its ratio to it)."""

    seek: str
    value: float


def _seek_label(seek: str) -> str:
    return "least deadline" if seek == "deadline" else "least uplink (at the current deadline)"


def _has_limits(sc: Scenario) -> bool:
    return sc.ttft_ms is not None or (sc.tpot_ms is not None and sc.gen_tokens > 0)


@dataclass(frozen=True, slots=True)
class Answer:
    """One solver's least deadline for the target (None: no deadline reaches it)."""

    solver: str
    deadline_ms: float | None   # the value sought: a deadline (ms) or an uplink (Mbit/s)
    share: float | None
    latency_ms: float | None
    seek: str = "deadline"


def _label(a: Answer, unit_ms: float) -> str:
    who = "exact (the optimum)" if a.solver == "exact" else f"dp (the paper's DP at T = {unit_ms:g} ms)"
    if a.deadline_ms is None or a.share is None or a.latency_ms is None:
        return f"{who}: no {'deadline' if a.seek == 'deadline' else 'uplink'} reaches this share"
    value = (f"least deadline {a.deadline_ms:,.3f} ms" if a.seek == "deadline"
             else f"least uplink {a.deadline_ms:,.4g} Mbit/s")
    return f"{who}: {value} · server {100 * a.share:.2f} % · latency {a.latency_ms:,.3f} ms — Enter applies"


class GoalScreen(ModalScreen[GoalApplied | None]):
    """Target share in, least deadline (or uplink) per solver out; Enter on an answer applies it."""

    DEFAULT_CSS = dialog_css("GoalScreen") + """
    GoalScreen > Vertical { width: 96; }
    GoalScreen OptionList { height: auto; max-height: 6; margin: 1 0 0 0; display: none; }
    GoalScreen OptionList.-ready { display: block; }
    GoalScreen Choice { height: 1; margin: 1 0 0 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    class Answered(Message):
        def __init__(self, share: float, answers: tuple[Answer, ...] | None, error: str = "",
                     seek: str = "deadline") -> None:
            super().__init__()
            self.share, self.answers, self.error, self.seek = share, answers, error, seek

    def __init__(self, profile: Profile, scenario: Scenario, share: float | None = None,
                 seek: str = "deadline") -> None:
        super().__init__()
        self.profile, self.scenario = profile, scenario
        self.share = share
        self.seek = seek if seek in SEEKS else "deadline"
        self.answers: tuple[Answer, ...] = ()
        self._seeking: tuple[str, float] | None = None   # the (seek, share) a worker is answering

    def compose(self) -> ComposeResult:
        from ..widgets.slider import Choice

        with Vertical():
            yield Label(f"Goal: the least deadline, or the least uplink at the current deadline, at which the "
                        f"server does at most a share of the work ({self.profile.model}, the current knobs"
                        f"{', TTFT/TPOT limits met' if _has_limits(self.scenario) else ''})", classes="title")
            yield Choice(list(SEEKS), self.seek, label="seek", fmt=_seek_label, id="seek")
            start = "" if self.share is None else f"{100 * self.share:g} %"
            yield Input(value=start, placeholder="server share ≤ (e.g. 50 %, 50 or 0.5)", select_on_focus=True,
                        id="share")
            yield Label("", classes="error", id="error")
            yield OptionList(id="answers")
            yield Label("Enter seeks · then Enter applies the highlighted answer · Tab then ←/→ deadline or "
                        "uplink · Esc cancel", classes="hint")

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
        if self._seeking == (self.seek, share):
            return   # an Enter typed while this very seek runs: it is already on its way
        self.share, self._seeking = share, (self.seek, share)
        self._error(f"seeking the least {self.seek} for server share ≤ {100 * share:g} % …")
        self.query_one(OptionList).remove_class("-ready")
        self._seek(self.seek, share)

    def on_slider_changed(self, event) -> None:
        """Deadline or uplink chosen: a shown answer was for the other one."""
        event.stop()
        self.seek = event.value
        self.query_one(OptionList).remove_class("-ready")
        self._error("")

    @work(thread=True, exclusive=True, group="goal")
    def _seek(self, seek: str, share: float) -> None:
        from ...errors import SplittuiError
        from ...solvers.goal import Target, least_bandwidth, least_deadline

        find = least_deadline if seek == "deadline" else least_bandwidth
        try:
            goals = [find(self.profile, self.scenario, name, Target(max_share=share)) for name in GOAL_SOLVERS_SHOWN]
        except SplittuiError as exc:
            self.post_message(self.Answered(share, None, one_line(exc), seek))
            return
        answers = tuple(Answer(g.solver, g.value, g.result.server_share if g.result else None,
                               g.result.latency_ms if g.result else None, seek) for g in goals)
        self.post_message(self.Answered(share, answers, seek=seek))

    @on(Answered)
    def _answered(self, event: Answered) -> None:
        if self._seeking == (event.seek, event.share):
            self._seeking = None
        if event.share != self.share or event.seek != self.seek:
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
        if answer.deadline_ms is not None:
            self.dismiss(GoalApplied(answer.seek, answer.deadline_ms))

    def _error(self, text: str) -> None:
        self.query_one("#error", Label).update(text)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "goal")
        self.dismiss(None)
