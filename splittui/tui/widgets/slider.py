"""Slider: a one-line, focusable control over an ordered list of values (linear or log grids).

Textual 8 has no slider, and an integer-stepped one drifts on float steps, so this one moves an
index over explicit values. Keys: ←/→ one step, shift+←/→ or PgUp/PgDn a large step, Home/End the
ends; the mouse clicks or drags along the track. A ``Choice`` is the same control drawn as
``◂ value ▸`` for a few named options (model, side, objective).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

__all__ = ["Slider", "Choice", "log_values", "linear_values", "NICE_MANTISSAS"]

NICE_MANTISSAS = (1, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2, 2.2, 2.5, 2.7, 3, 3.3, 3.6, 4, 4.5, 5, 5.5,
                  6, 6.5, 7, 7.5, 8, 9)


def log_values(lo: float, hi: float, mantissas: Sequence[float] = NICE_MANTISSAS) -> list[float]:
    """Round numbers from lo to hi, evenly spaced on a log scale (mantissas per decade)."""
    out = []
    for exp in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in mantissas:
            v = round(m * 10.0 ** exp, 12)
            if lo - 1e-12 <= v <= hi + 1e-12:
                out.append(v)
    return out


def linear_values(lo: float, hi: float, step: float) -> list[float]:
    n = int(round((hi - lo) / step))
    return [round(lo + i * step, 12) for i in range(n + 1)]


class Slider(Widget, can_focus=True):
    """Pick one of `values`; shows `label`, a track and the value formatted by `fmt`."""

    DEFAULT_CSS = """
    Slider { height: 1; width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    Slider:focus { background: $boost; }
    Slider > .slider--label { color: $foreground-muted; }
    Slider:focus > .slider--label { color: $foreground; text-style: bold; }
    Slider > .slider--track { color: $foreground 25%; }
    Slider > .slider--fill { color: $accent; }
    Slider > .slider--value { color: $foreground; text-style: bold; }
    """
    # component colours use $foreground, not $text: "auto" text colours resolve against no background
    # here and come out white on light themes
    COMPONENT_CLASSES = {"slider--label", "slider--track", "slider--fill", "slider--value"}
    BINDINGS = [
        Binding("left", "step(-1)", "−", show=False),
        Binding("right", "step(1)", "+", show=False),
        Binding("shift+left,pagedown", "big_step(-1)", "−−", show=False),
        Binding("shift+right,pageup", "big_step(1)", "++", show=False),
        Binding("home", "jump(0)", "min", show=False),
        Binding("end", "jump(-1)", "max", show=False),
        Binding("up", "app.focus_previous", show=False),
        Binding("down", "app.focus_next", show=False),
    ]

    index: reactive[int] = reactive(0, layout=False)

    class Changed(Message):
        """The slider moved (by key, mouse or `set_value`)."""

        def __init__(self, slider: "Slider", value: Any) -> None:
            super().__init__()
            self.slider = slider
            self.value = value

        @property
        def control(self) -> "Slider":
            return self.slider

    def __init__(self, values: Sequence[Any], value: Any = None, *, label: str = "",
                 fmt: Callable[[Any], str] = str, label_width: int = 9, value_width: int = 11,
                 big_step: int | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.values = list(values)
        self.label = label
        self.fmt = fmt
        self.label_width = label_width
        self.value_width = value_width
        self.big = big_step or max(2, len(self.values) // 8)
        self.set_reactive(Slider.index, self._index_of(value if value is not None else self.values[0]))

    @property
    def value(self) -> Any:
        return self.values[self.index]

    def _index_of(self, value: Any) -> int:
        """Index of `value`, inserting it in order when it is off the grid (so it is kept exactly)."""
        if value in self.values:
            return self.values.index(value)
        if isinstance(value, (int, float)) and all(isinstance(v, (int, float)) for v in self.values):
            pos = sum(1 for v in self.values if v < value)
            self.values.insert(pos, value)
            return pos
        return 0

    def set_values(self, values: Sequence[Any], value: Any) -> None:
        """Replace the grid (e.g. a new profile's sequence lengths) and select `value`."""
        self.values = list(values)
        self.big = max(2, len(self.values) // 8)
        self.index = self._index_of(value)
        self.refresh()

    def set_value(self, value: Any) -> None:
        before = self.value
        index = self._index_of(value)
        if index == self.index and self.values[index] != before:
            # an off-grid value inserted just before the current one keeps the index: still a change
            self.refresh()
            self.post_message(self.Changed(self, self.value))
        self.index = index

    def validate_index(self, index: int) -> int:
        return max(0, min(len(self.values) - 1, index))

    def watch_index(self, old: int, new: int) -> None:
        if old != new:
            self.post_message(self.Changed(self, self.value))

    def action_step(self, direction: int) -> None:
        self.index += direction

    def action_big_step(self, direction: int) -> None:
        self.index += direction * self.big

    def action_jump(self, where: int) -> None:
        self.index = 0 if where == 0 else len(self.values) - 1

    # mouse: click or drag along the track
    def _track_span(self) -> tuple[int, int]:
        start = self.label_width + 1
        return start, max(1, self.size.width - start - self.value_width - 1)

    def _index_at(self, x: int) -> int:
        start, width = self._track_span()
        frac = (x - start) / max(1, width - 1)
        return round(max(0.0, min(1.0, frac)) * (len(self.values) - 1))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.focus()
        self.capture_mouse()
        self.index = self._index_at(event.x)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self.app.mouse_captured is self:
            self.index = self._index_at(event.x)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self.release_mouse()

    def _styled(self, name: str):
        return self.get_component_rich_style(name, partial=True)

    def render(self) -> Text:
        label = self.label[: self.label_width].ljust(self.label_width)
        value = self.fmt(self.value)[: self.value_width].rjust(self.value_width)
        start, width = self._track_span()
        n = len(self.values)
        pos = 0 if n <= 1 else round(self.index / (n - 1) * (width - 1))
        text = Text(no_wrap=True, overflow="crop")
        text.append(label + " ", self._styled("slider--label"))
        text.append("━" * pos, self._styled("slider--fill"))
        text.append("●", self._styled("slider--value"))
        text.append("─" * (width - pos - 1), self._styled("slider--track"))
        text.append(" " + value, self._styled("slider--value"))
        return text


class Choice(Slider):
    """A few named options, drawn ``label  ◂ value ▸``; a click on the left/right half steps."""

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.focus()
        middle = self.label_width + 1 + (self.size.width - self.label_width - 1) // 2
        self.index = (self.index + (1 if event.x >= middle else -1)) % len(self.values)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        pass

    def action_step(self, direction: int) -> None:
        self.index = (self.index + direction) % len(self.values)

    def render(self) -> Text:
        label = self.label[: self.label_width].ljust(self.label_width)
        room = max(1, self.size.width - self.label_width - 5)
        value = self.fmt(self.value)
        value = value if len(value) <= room else value[: room - 1] + "…"
        text = Text(no_wrap=True, overflow="crop")
        text.append(label + " ", self._styled("slider--label"))
        text.append("◂ ", self._styled("slider--fill"))
        text.append(value, self._styled("slider--value"))
        text.append(" ▸", self._styled("slider--fill"))
        return text
