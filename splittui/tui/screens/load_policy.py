"""The load-policy dialog: read a `splittui.policy` file so the app can score it under its knobs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ...confine import app_path
from ...errors import SplittuiError
from ...policy import load_policy
from ..dialogs import dialog_css, one_line

__all__ = ["LoadPolicyScreen"]


class LoadPolicyScreen(ModalScreen[dict | None]):
    """Ask for a path, load the first usable policy in it; dismiss with the document (None on Escape)."""

    DEFAULT_CSS = dialog_css("LoadPolicyScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_path: str = "") -> None:
        super().__init__()
        self._default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Load a policy file (splittui.policy) to score under the current knobs",
                        classes="title")
            yield Input(value=self._default_path, placeholder="path/to/policy.json", id="path")
            yield Label("", classes="error", id="error")
            yield Label("Enter load · Esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self._show_error("type the path of a policy file")
            return
        try:
            doc = load_policy(app_path(text, must_exist=True))   # served: inside the files folder only
        except (SplittuiError, OSError) as exc:
            self._show_error(one_line(exc))
            return
        self.dismiss(doc)

    def _show_error(self, text: str) -> None:
        self.query_one("#error", Label).update(text)
