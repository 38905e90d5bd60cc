"""Command palette provider: every app action, by the name and help its key binding shows."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import SplitApp

__all__ = ["SplitCommands"]


class SplitCommands(Provider):
    """Lists `app.palette_commands()` — (title, action, help) — and runs the chosen action."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = cast("SplitApp", self.app)  # the provider is installed on SplitApp only
        return list(app.palette_commands())

    async def discover(self) -> Hits:
        for title, action, help_text in self._commands():
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action),
                          help=help_text)
