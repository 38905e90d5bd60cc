"""`WhenSolved`: a key that needs the answer for the knobs as they are (e exports it, s saves it) and
comes while the worker is still solving runs once that answer is shown, instead of being refused or
acting on the previous answer. Right after start-up this is the common case in a browser
(`splittui serve`): the first frame is drawn before the first solve lands.

A mixin for `SplitApp`'s action mixins; the app calls `run_after_solve()` when an answer is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from .mixin_base import AppMixin

__all__ = ["WhenSolved"]


class WhenSolved(AppMixin):
    """Holds the actions waiting for the latest answer, in the order their keys came (`s` then `e`
    saves, then exports); a key pressed twice waits once."""

    _after_solve: dict[str, Callable[[], None]] | None = None

    def solved_or_later(self, action: Callable[[], None], what: str) -> bool:
        """True when the shown state answers the knobs; else `action` runs once it does (and False)."""
        st = self.state
        if st is not None and st.generation == self._generation:
            return True
        if self._after_solve is None:
            self._after_solve = {}
        self._after_solve.pop(what, None)
        self._after_solve[what] = action
        self.notify(f"solving… {what} when the answer is in", timeout=2)
        return False

    def run_after_solve(self) -> None:
        """Run the waiting actions in order; once one opens a dialog, the rest are dropped."""
        actions, self._after_solve = self._after_solve or {}, None
        for action in actions.values():
            if len(self.screen_stack) != 1 or self.quitting:
                break
            action()
