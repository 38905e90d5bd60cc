"""The key footer, rebuilt only when what it shows changes.

Textual's Footer recomposes (a new widget per key, each restyled) whenever its screen publishes that its
bindings were updated: on every focus change, twice, and on every tab switch (issue 32: ~20 ms of a
`down` key on the main view at 120x40). Most of those updates leave the shown keys as they were; this
footer compares what it would show (key, label, action, enabled, tooltip) and recomposes only on a
change, so a focus move or a tab switch that keeps the keys costs nothing here.

It also leaves out the keys the app says do not apply now (`footer_hidden()`: over tiers, the two-sided
keys, which still answer in one line when pressed).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["SteadyFooter"]


class SteadyFooter(Footer):
    _shown: tuple | None = None

    def _hidden(self) -> frozenset[str]:
        hidden = getattr(self.app, "footer_hidden", None)
        return frozenset(hidden()) if callable(hidden) else frozenset()

    def _keys_shown(self) -> tuple:
        """What compose() would draw: every shown binding's key, label, action, state and tooltip."""
        hidden = self._hidden()
        keys = tuple((b.key, b.key_display, b.description, b.action, enabled, tooltip or "")
                     for (_, b, enabled, tooltip) in self.screen.active_bindings.values()
                     if b.show and b.action not in hidden)
        return keys, self.compact, self.show_command_palette

    def compose(self) -> ComposeResult:
        hidden = self._hidden()
        shown = 0
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in hidden:
                continue
            shown += isinstance(widget, FooterKey) and not widget.has_class("-command-palette")
            yield widget
        if hidden and self._bindings_ready:
            self.styles.grid_size_columns = shown

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_on_change)

    async def _recompose_on_change(self) -> None:
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()
