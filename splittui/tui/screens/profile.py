"""The live-profiling screen: pick a zoo model and sequence lengths, profile in a worker, use the result.

The profiler (and so torch) is imported only inside the worker thread, when the user presses Start:
opening this screen stays cheap, and a machine without torch gets a clear message instead of a crash.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, Label, ProgressBar, Select
from textual.worker import get_current_worker

from ...confine import profiling_slot
from ...errors import SplittuiError
from ...model import Profile
from ...profiles import profile_from_doc
from ..dialogs import one_line
from ..widgets.footer import SteadyFooter
from .export import ExportScreen

__all__ = ["ProfileScreen", "ZOO_MODELS", "parse_seq_lens", "parse_repeats", "estimate_text"]

PASS_BUDGET_S = 60.0   # profiler.run.PASS_BUDGET_S, restated: that module imports torch
ZOO_MODELS = ("gpt2-like", "bert-base", "transformer", "cmt-s")
TORCH_MISSING = "live profiling needs torch, which is not installed here (pip install torch==2.13.0)"
BUSY = "another tab of this server is profiling now (one run at a time): try again when it has finished"


def parse_seq_lens(text: str) -> list[int]:
    """'128, 256' -> [128, 256]: positive integers, sorted, duplicates dropped."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        values = sorted({int(p) for p in parts})
    except ValueError:
        raise SplittuiError(f"sequence lengths must be integers separated by commas, got {text!r}") from None
    if not values or values[0] <= 0:
        raise SplittuiError(f"give at least one sequence length > 0, got {text!r}")
    return values


def parse_repeats(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise SplittuiError(f"repeats must be a whole number, got {text!r}") from None
    if not 1 <= value <= 1000:
        raise SplittuiError(f"repeats must be between 1 and 1000, got {value}")
    return value


def estimate_text(n_lengths: int) -> str:
    """The run's time bound, as an estimate: a warm-up pass and at most PASS_BUDGET_S of timed passes
    per length (the profiler's own budget; the biggest lengths get one pass)."""
    minutes = n_lengths * (PASS_BUDGET_S + 15) / 60
    return f"estimate: up to about {minutes:.0f} min for {n_lengths} length{'s' if n_lengths != 1 else ''}"


def _import_problem(exc: ImportError) -> str:
    if (getattr(exc, "name", None) or "").split(".")[0] in ("torch", "fvcore") or "torch" in str(exc):
        return TORCH_MISSING
    return f"the live profiler is not available: {one_line(exc)}"


class ProfileScreen(Screen[Profile | None]):
    """Dismisses with the new Profile (saved to a file first if the user asks), or None."""

    DEFAULT_CSS = """
    ProfileScreen { layout: vertical; }
    ProfileScreen #profile-form { height: auto; padding: 0 1; }
    ProfileScreen .title { text-style: bold; width: 100%; }
    ProfileScreen .row { height: auto; }
    ProfileScreen .row > Label { width: 18; padding: 1 1 0 0; }
    ProfileScreen .row > Input, ProfileScreen .row > Select { width: 1fr; }
    ProfileScreen #buttons, ProfileScreen #done-buttons { height: auto; }
    ProfileScreen Button { margin-right: 2; }
    ProfileScreen #bar { margin: 1 0 0 0; }
    ProfileScreen #status { width: 100%; height: auto; }
    ProfileScreen #status.-error { color: $error; }
    ProfileScreen #done { height: auto; display: none; }
    ProfileScreen #done.-visible { display: block; }
    """
    BINDINGS = [Binding("escape", "back", "Back / cancel")]

    class Progressed(Message):
        def __init__(self, done: int, total: int, label: str) -> None:
            super().__init__()
            self.done, self.total, self.label = done, total, label

    class Finished(Message):
        def __init__(self, doc: dict, seconds: float) -> None:
            super().__init__()
            self.doc, self.seconds = doc, seconds

    class Failed(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Cancelled(Message):
        pass

    def __init__(self, current_model: str) -> None:
        super().__init__()
        self._model = current_model if current_model in ZOO_MODELS else ZOO_MODELS[0]
        self._stop = threading.Event()
        self._busy = False
        self._doc: dict | None = None
        self._profile: Profile | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="profile-form"):
            yield Label("Profile a model live on this machine (client) — torch runs in a worker",
                        classes="title")
            with Horizontal(classes="row"):
                yield Label("model")
                yield Select([(m, m) for m in ZOO_MODELS], value=self._model, allow_blank=False, id="model")
            with Horizontal(classes="row"):
                yield Label("sequence lengths")
                yield Input("128,256", placeholder="128,256", id="seq")
            with Horizontal(classes="row"):
                yield Label("repeats")
                yield Input("5", placeholder="5", id="repeats")
            with Horizontal(id="buttons"):
                yield Button("Start", id="start", variant="primary")
                yield Button("Cancel", id="cancel", disabled=True)
            yield ProgressBar(id="bar", show_eta=False)
            yield Label(f"{estimate_text(2)} · Start (Tab to it, Enter) profiles · Esc cancels a run, or goes back",
                        id="status")
            with Vertical(id="done"):
                with Horizontal(id="done-buttons"):
                    yield Button("Use profile", id="use", variant="success")
                    yield Button("Save to file…", id="save")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.query_one("#seq", Input).focus()

    def on_unmount(self) -> None:
        self._stop.set()  # a run still going stops at its next should_stop() check

    # ---- starting and stopping ------------------------------------------------------------------
    @on(Input.Submitted)
    def _field_done(self, event: Input.Submitted) -> None:
        """Enter in a field moves on (a run takes minutes: only the Start button starts it)."""
        event.stop()
        self.focus_next()
        self._show_estimate()

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if not self._busy:
            self._show_estimate()

    def _show_estimate(self) -> None:
        try:
            seq_lens = parse_seq_lens(self.query_one("#seq", Input).value)
        except SplittuiError as exc:
            self._status(str(exc), error=True)
            return
        self._status(f"{estimate_text(len(seq_lens))} · Start (Tab to it, Enter) profiles · Esc goes back")

    @on(Button.Pressed, "#start")
    def _start(self, event: Message) -> None:
        event.stop()
        if self._busy:
            return
        try:
            seq_lens = parse_seq_lens(self.query_one("#seq", Input).value)
            repeats = parse_repeats(self.query_one("#repeats", Input).value)
        except SplittuiError as exc:
            self._status(str(exc), error=True)
            return
        model = str(self.query_one("#model", Select).value)
        self._set_running(True)
        self._stop = threading.Event()
        self.query_one("#bar", ProgressBar).update(total=None, progress=0)
        self._status(f"profiling {model} at seq {', '.join(map(str, seq_lens))} ({repeats} repeats)…")
        self._profile_worker(model, seq_lens, repeats, self._stop)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._cancel()

    def _cancel(self) -> None:
        self._stop.set()
        self._status("cancelling…")

    def action_back(self) -> None:
        if self._busy:
            self._cancel()
        else:
            self.dismiss(None)

    def _set_running(self, running: bool) -> None:
        self._busy = running
        for wid in ("#model", "#seq", "#repeats", "#start"):
            self.query_one(wid).disabled = running
        self.query_one("#cancel", Button).disabled = not running
        self.query_one("#done").set_class(False, "-visible")
        if not running:
            self.query_one("#seq", Input).focus()

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Label)
        status.update(text)
        status.set_class(error, "-error")

    # ---- the worker: one profiler call, reporting only through messages --------------------------
    @work(thread=True, exclusive=True, group="profile")
    def _profile_worker(self, model: str, seq_lens: list[int], repeats: int, stop: threading.Event) -> None:
        worker = get_current_worker()
        try:
            from ...profiler import ProfilingCancelled, profile_model
        except ImportError as exc:
            self.post_message(self.Failed(_import_problem(exc)))
            return
        t0 = time.perf_counter()
        try:
            with profiling_slot() as free:   # served: one profiling run at a time on the whole server
                if not free:
                    self.post_message(self.Failed(BUSY))
                    return
                doc = profile_model(model, seq_lens, repeats=repeats,
                                    progress=lambda d, t, label: self.post_message(self.Progressed(d, t, label)),
                                    should_stop=lambda: stop.is_set() or worker.is_cancelled)
        except ProfilingCancelled:
            self.post_message(self.Cancelled())
        except ImportError as exc:
            self.post_message(self.Failed(_import_problem(exc)))
        except Exception as exc:  # noqa: BLE001 - any profiler failure is shown, never raised into the UI
            self.post_message(self.Failed(f"profiling failed: {one_line(exc)}"))
        else:
            self.post_message(self.Finished(doc, time.perf_counter() - t0))

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        if self._busy and not self._stop.is_set():
            self.query_one("#bar", ProgressBar).update(total=message.total, progress=message.done)
            self._status(f"{message.done}/{message.total}  {message.label}")

    @on(Cancelled)
    def _cancelled(self, message: Cancelled) -> None:
        self._set_running(False)
        self.query_one("#bar", ProgressBar).update(total=100, progress=0)
        self._status("cancelled: nothing was changed")

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self._set_running(False)
        self._status(message.text, error=True)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self._set_running(False)
        try:
            origin = f"{message.doc.get('model')} (live)"
            profile = profile_from_doc(message.doc, source="live profile", origin=origin)
        except SplittuiError as exc:
            self._status(f"the profiler returned an unusable profile: {exc}", error=True)
            return
        self._doc, self._profile = message.doc, profile
        bar = self.query_one("#bar", ProgressBar)
        bar.update(total=bar.total or 1, progress=bar.total or 1)
        self._status(f"profiled {profile.model}: {profile.n_layers} layers, seq "
                     f"{', '.join(map(str, profile.seq_lens))} in {message.seconds:.1f} s. "
                     "Use it now, or save it to a file first.")
        self.query_one("#done").set_class(True, "-visible")
        self.query_one("#use", Button).focus()

    # ---- using the result ------------------------------------------------------------------------
    @on(Button.Pressed, "#use")
    def _use(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self._profile)

    @on(Button.Pressed, "#save")
    def _save(self, event: Button.Pressed) -> None:
        event.stop()
        assert self._profile is not None and self._doc is not None   # the button shows once profiled
        default = f"{self._profile.model}.profile.json"
        dialog = ExportScreen(default, [self._doc], title="Save the profile (splittui.profile/1)")
        self.app.push_screen(dialog, self._saved)

    def _saved(self, path: Path | None) -> None:
        if path is None:
            return
        self.notify(f"profile saved to {path}")
        self.dismiss(profile_from_doc(self._doc, source=str(path), origin=str(path)))
