"""The app's small reusable dialogs (frogmouth's ``dialogs/`` is the model): a yes/no question and a
one-line prompt that checks its answer in place, plus their shared look.

A prompt with a ``check`` never closes on bad input: the reason shows under the field, on one line,
and the user edits the text (Escape gives up). Nothing here knows about scenarios or solvers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ..errors import SplittuiError

__all__ = ["ConfirmScreen", "PromptScreen", "dialog_css", "one_line"]

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; max-width: 100%; height: auto; padding: 0 1;
    border: thick $primary; background: $panel;
}}
{name} .title {{ text-style: bold; width: 100%; }}
{name} .error {{ color: $error; height: 1; width: 100%; text-wrap: nowrap; text-overflow: ellipsis; }}
{name} .hint {{ color: $text-muted; width: 100%; }}
"""


def dialog_css(name: str) -> str:
    """The shared look of splittui's small centred dialogs, scoped to one screen class."""
    return _DIALOG_CSS.format(name=name)


def one_line(exc: BaseException) -> str:
    """An error as a single line for an inline message."""
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; y confirms, n or Escape declines."""

    DEFAULT_CSS = dialog_css("ConfirmScreen")
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, *, hint: str = "y yes · n no") -> None:
        super().__init__()
        self._question, self._hint = question, hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._question, classes="title", id="question")
            yield Label(self._hint, classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PromptScreen(ModalScreen[Any]):
    """Ask for one line; Enter answers ``check(text)`` (the text itself without a check), Escape None.

    `check` raises ValueError or SplittuiError with the reason when the text is refused; the dialog
    then stays open with the reason under the field.
    """

    DEFAULT_CSS = dialog_css("PromptScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", *, check: Callable[[str], Any] | None = None,
                 hint: str = "Enter OK · Esc cancel", placeholder: str = "") -> None:
        super().__init__()
        self._question, self._value, self._check = question, value, check
        self._hint, self._placeholder = hint, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._question, classes="title", id="question")
            yield Input(value=self._value, placeholder=self._placeholder, select_on_focus=True, id="answer")
            yield Label("", classes="error", id="error")
            yield Label(self._hint, classes="hint")

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()

    @on(Input.Submitted, "#answer")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._check is None:
            self.dismiss(event.value)
            return
        try:
            answer = self._check(event.value)
        except (ValueError, SplittuiError) as exc:
            self.show_error(one_line(exc))
            return
        self.dismiss(answer)

    def show_error(self, text: str) -> None:
        self.query_one("#error", Label).update(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
