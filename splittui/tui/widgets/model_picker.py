"""ModelPicker: the model knob. ←/→ only preview another model (marked "enter switches"); Enter
switches to it, leaving the knob (or Escape) keeps the current one. Switching loads a profile and
re-solves everything, so it never happens on a stray arrow key."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding

from .slider import Choice

__all__ = ["ModelPicker"]


class ModelPicker(Choice):
    """A Choice whose steps are a preview until Enter."""

    BINDINGS = [Binding("enter", "commit", "Switch model", show=False),
                Binding("escape", "forget", "Keep model", show=False)]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pending: int | None = None

    def _preview(self, index: int) -> None:
        index %= len(self.values)
        self.pending = None if index == self.index else index
        self.refresh()

    def action_step(self, direction: int) -> None:
        self._preview((self.index if self.pending is None else self.pending) + direction)

    def action_big_step(self, direction: int) -> None:
        self.action_step(direction)

    def action_jump(self, where: int) -> None:
        self._preview(0 if where == 0 else len(self.values) - 1)

    def action_commit(self) -> None:
        if self.pending is not None:
            self.index, self.pending = self.pending, None   # posts Changed
        self.refresh()

    def action_forget(self) -> None:
        self.pending = None
        self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.focus()
        middle = self.label_width + 1 + (self.size.width - self.label_width - 1) // 2
        self.action_step(1 if event.x >= middle else -1)

    def on_blur(self) -> None:
        self.action_forget()

    def render(self) -> Text:
        if self.pending is None:
            return super().render()
        label = self.label[: self.label_width].ljust(self.label_width)
        text = Text(no_wrap=True, overflow="crop")
        text.append(label + " ", self._styled("slider--label"))
        text.append("◂ ", self._styled("slider--fill"))
        text.append(self.fmt(self.values[self.pending]), self._styled("slider--value"))
        text.append(" ▸", self._styled("slider--fill"))
        return text.append("  enter switches", "italic")
