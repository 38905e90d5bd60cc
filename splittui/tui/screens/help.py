"""The help screen: every key the app binds, with what it does, in one table."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

__all__ = ["HelpScreen"]


class HelpScreen(ModalScreen[None]):
    """Show (key, description) pairs; Escape, q or ? closes."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $panel; padding: 0 1;
    }
    HelpScreen .title { text-style: bold; width: 100%; }
    HelpScreen DataTable { height: auto; max-height: 100%; }
    HelpScreen .hint { color: $text-muted; width: 100%; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = list(bindings)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Keys", classes="title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="keys")
            yield Label("Esc, q or ? closes · every action is also in the command palette (ctrl+p)",
                        classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_columns("key", "action")
        for key, description in self._keys:
            table.add_row(key, description)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
