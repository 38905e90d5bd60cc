"""The key footer, rebuilt only when what it shows changes.

Textual's Footer recomposes (a new widget per key, each restyled) whenever its screen publishes that its
bindings were updated: on every focus change, twice, and on every tab switch (issue 32: ~20 ms of a
`down` key on the main view at 120x40). Most of those updates leave the shown keys as they were; this
footer compares what it would show (key, label, action, enabled, tooltip) and recomposes only on a
change, so a focus move or a tab switch that keeps the keys costs nothing here.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["SteadyFooter"]


class SteadyFooter(Footer):
    _shown: tuple | None = None

    def _keys_shown(self) -> tuple:
        """What compose() would draw: every shown binding's key, label, action, state and tooltip."""
        keys = tuple((b.key, b.key_display, b.description, b.action, enabled, tooltip or "")
                     for (_, b, enabled, tooltip) in self.screen.active_bindings.values() if b.show)
        return keys, self.compact, self.show_command_palette

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
