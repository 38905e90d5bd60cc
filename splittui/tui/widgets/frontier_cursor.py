"""FrontierCursor: a cursor over the exact deadline → server-share frontier (every Pareto-optimal
policy) with a one-line readout: deadline, share, policy. ←/→ move it, Home/End jump to the ends,
Enter applies its deadline to the deadline knob (posts `Applied`)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ...report.formats import pct
from ...report.palette import CLIENT, SERVER

__all__ = ["FrontierCursor", "CursorPoint", "policy_runs"]


@dataclass(frozen=True, slots=True)
class CursorPoint:
    """One Pareto-optimal policy: exact's answer from `deadline_ms` on."""

    deadline_ms: float
    share: float
    policy: tuple[int, ...]
    switches: int


def policy_runs(policy: tuple[int, ...]) -> list[tuple[str, int, int]]:
    """(side, first, last) per run of equal sides, layers numbered from 1."""
    out, i = [], 0
    for side, run in groupby(policy):
        n = len(list(run))
        out.append(("client" if side else "server", i + 1, i + n))
        i += n
    return out


class FrontierCursor(Widget, can_focus=True):
    """The readout; `points` come from the app's frontier worker (fastest first)."""

    DEFAULT_CSS = """
    FrontierCursor { height: 2; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    FrontierCursor:focus { background: $boost; text-style: bold; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Faster", show=False),
        Binding("right", "move(1)", "Slower", show=False),
        Binding("home", "jump(0)", "Fastest", show=False),
        Binding("end", "jump(-1)", "Least server", show=False),
        Binding("enter", "apply", "Apply deadline"),
    ]

    index: reactive[int] = reactive(0)

    @dataclass
    class Applied(Message):
        """Enter: set the deadline knob to this point's deadline."""

        deadline_ms: float

    @dataclass
    class Moved(Message):
        """The cursor is at this deadline now (the chart draws it)."""

        deadline_ms: float | None

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: tuple[CursorPoint, ...] = ()
        self.status = "press f (or Tab here) for a cursor on the exact frontier"

    def show(self, points: tuple[CursorPoint, ...], near_ms: float) -> None:
        """Take a new frontier; the cursor goes to the point in force at `near_ms` (the deadline knob)."""
        self.points = points
        ok = [i for i, p in enumerate(points) if p.deadline_ms <= near_ms + 1e-9]
        self.set_reactive(FrontierCursor.index, ok[-1] if ok else 0)
        self.status = "no placement meets any deadline" if not points else ""
        self._moved()

    def waiting(self, text: str) -> None:
        self.points, self.status = (), text
        self._moved()

    def validate_index(self, index: int) -> int:
        return max(0, min(len(self.points) - 1, index))

    def watch_index(self) -> None:
        self._moved()

    def _moved(self) -> None:
        self.refresh()
        self.post_message(self.Moved(self.point.deadline_ms if self.point else None))

    @property
    def point(self) -> CursorPoint | None:
        return self.points[self.index] if self.points else None

    def action_move(self, step: int) -> None:
        self.index += step

    def action_jump(self, where: int) -> None:
        self.index = 0 if where == 0 else len(self.points) - 1

    def action_apply(self) -> None:
        if self.point is not None:
            self.post_message(self.Applied(self.point.deadline_ms))

    def render(self) -> Text:
        p = self.point
        if p is None:
            return Text(self.status, style="dim")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"cursor {self.index + 1}/{len(self.points)} ", "dim").append("◂ ", "bold")
        text.append(f"deadline {p.deadline_ms:,.3f} ms", "bold").append(" ▸ ", "bold")
        text.append(f"· exact (the optimum) server {pct(p.share, fine=True)} · {p.switches} hops · ")
        text.append("←/→ move · Enter sets the deadline knob", "dim").append("\npolicy ")
        for side, a, b in policy_runs(p.policy):
            text.append(f" {side} {a}–{b} ", style=f"white on {CLIENT if side == 'client' else SERVER}")
        return text
