"""The export dialog: policy documents to a JSON file the user confirms (dialogs live in `tui/dialogs.py`).

Nothing is ever overwritten silently: an existing file needs an explicit "y" in `ConfirmScreen`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ...confine import app_path
from ...errors import SplittuiError
from ...profiles import write_json_atomic
from ..delivery import offer_download
from ..dialogs import ConfirmScreen, dialog_css, one_line

__all__ = ["ExportScreen", "ConfirmScreen", "one_line"]

class ExportScreen(ModalScreen[Path | None]):
    """Write `docs` to a path the user confirms: one document as an object, several as a list.

    With `solvers` (solver name -> its document) the dialog also offers a solver choice, starting at
    `chosen`; "{solver}" in `default_path` follows the choice until the user edits the path.
    Dismisses with the written Path, or None on Escape. Errors stay inline, on one line.
    """

    DEFAULT_CSS = dialog_css("ExportScreen") + "ExportScreen Choice { height: 1; margin: 1 0 0 0; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("enter", "write", "Write", show=False)]

    def __init__(self, default_path: str, docs: Sequence[dict] = (), *, title: str | None = None,
                 solvers: dict[str, dict] | None = None, chosen: str | None = None) -> None:
        super().__init__()
        self._solvers = dict(solvers or {})
        self.chosen = chosen if chosen in self._solvers else next(iter(self._solvers), None)
        self._pattern = default_path
        self._docs = [self._solvers[self.chosen]] if self.chosen else list(docs)
        n = len(self._docs)
        self._title = title or f"Export {n} policy document{'s' if n != 1 else ''} (splittui.policy)"

    def _path_for(self, solver: str | None) -> str:
        return self._pattern.replace("{solver}", solver or "policy")

    def _solver_label(self, name: str) -> str:
        doc = self._solvers[name]
        if doc["latency_ms"] is None or doc["server_share"] is None:
            return name
        state = "" if doc["feasible"] else ", misses the deadline"
        return f"{name}: server {100 * doc['server_share']:.1f} %, {doc['latency_ms']:,.1f} ms{state}"

    def compose(self) -> ComposeResult:
        from ..widgets.slider import Choice

        with Vertical():
            yield Label(self._title, classes="title")
            if self._solvers:
                yield Choice(list(self._solvers), self.chosen, label="solver", fmt=self._solver_label, id="solver")
            yield Input(value=self._path_for(self.chosen), placeholder="path/to/file.json", id="path")
            yield Label("", classes="error", id="error")
            hint = "Tab then ←/→ picks the solver · " if self._solvers else ""
            yield Label(hint + "Enter write · Esc cancel · an existing file is only replaced after y",
                        classes="hint")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_slider_changed(self, event) -> None:
        event.stop()
        path = self.query_one("#path", Input)
        if path.value == self._path_for(self.chosen):   # the user has not edited it: follow the choice
            path.value = self._path_for(event.value)
        self.chosen = event.value
        self._docs = [self._solvers[self.chosen]]

    def show_error(self, text: str) -> None:
        self.query_one("#error", Label).update(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_write(self) -> None:
        """Enter anywhere in the dialog (the path field handles its own Enter)."""
        self._try_write(self.query_one("#path", Input).value.strip())

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._try_write(event.value.strip())

    def _try_write(self, text: str) -> None:
        if not self._docs:
            self.show_error("nothing to export")
            return
        if not text:
            self.show_error("type a file path")
            return
        try:
            path = app_path(text)   # served: inside the server's files folder only
        except SplittuiError as exc:
            self.show_error(one_line(exc))
            return
        if path.is_dir():
            self.show_error(f"{path} is a directory: add a file name")
        elif path.exists():
            self.app.push_screen(ConfirmScreen(f"{path} already exists. Overwrite it?"),
                                 lambda yes: self._confirmed(path, yes))
        else:
            self._write(path, force=False)

    def _confirmed(self, path: Path, yes: bool | None) -> None:
        if yes:
            self._write(path, force=True)
        else:
            self.show_error(f"not written: {path} exists (choose another path, or answer y)")

    def _write(self, path: Path, *, force: bool) -> None:
        payload = self._docs[0] if len(self._docs) == 1 else self._docs
        try:
            written = write_json_atomic(path, payload, force=force)
        except (SplittuiError, OSError, TypeError, ValueError) as exc:
            self.show_error(one_line(exc))
            return
        offer_download(self.app, written)   # served to a browser: the file is on the server, so also download it
        self.dismiss(written)
