"""The app's actions over a chain of tiers, kept out of app.py: which keys have no meaning there (each says so
in one line instead of opening a two-sided screen), and the export of a tier placement as a
splittui.policy document with its ``tiers`` section (what `splittui evaluate --policy` re-scores).

`TierActions` is a mixin for `SplitApp`, first in its bases so that it sees every action before the
two-sided mixins; with no topology (client and server) it passes everything on unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.actions import parse

from .mixin_base import AppMixin

__all__ = ["TierActions", "TWO_SIDED_ACTIONS"]

# the app's actions that answer a two-sided question (a server share, one link, client/server pins and memory,
# saved two-sided slots, a profile of its own): over tiers, each key says so instead
TWO_SIDED_ACTIONS = {
    "goal": "goal seek", "frontier_cursor": "the frontier cursor", "save_slot": "saved slots",
    "compare": "comparing slots", "export_all": "exporting slots", "load_policy": "loading a two-sided policy",
    "toggle_link": "linking upload and download (each hop has its own)", "experiments": "the experiments screen",
    "capacity": "the capacity screen", "energy": "the energy screen", "live_profile": "live profiling",
    "toggle_pin": "pinning a layer (pins over tiers: the topology file's [pins])",
    "memory": "the memory screen (memory per tier: --tier NAME=DEVICE,RUNTIME,MEM_GB)",
}


class TierActions(AppMixin):
    """Over tiers: refuse the two-sided actions in one line; export tier documents."""

    async def run_action(self, action: Any, default_namespace: Any = None, namespaces: Any = None) -> bool:
        """Every key's action passes here (Textual's bindings and the palette): over tiers, a two-sided
        one of the app's own says so instead of running."""
        if getattr(self, "topology", None) is not None and isinstance(action, str):
            target, name, _ = parse(action)
            mine = target == "app" or (target == "" and default_namespace in (None, self))
            if name in TWO_SIDED_ACTIONS and mine:
                self.notify(f"{TWO_SIDED_ACTIONS[name]}: two sides only, not over a chain of tiers", timeout=3)
                return True
        return await super().run_action(action, default_namespace, namespaces)

    def footer_hidden(self) -> frozenset[str]:
        """The actions the footer leaves out: over tiers, the two-sided ones (their keys still say why)."""
        return frozenset(TWO_SIDED_ACTIONS) if getattr(self, "topology", None) is not None else frozenset()

    def toggle_pin(self, layer: int) -> None:   # ctrl+click on the strip
        if getattr(self, "topology", None) is not None:
            self.notify(f"{TWO_SIDED_ACTIONS['toggle_pin']}: two sides only", timeout=3)
            return
        super().toggle_pin(layer)   # type: ignore[misc]

    def action_export(self) -> None:
        if getattr(self, "topology", None) is None:
            super().action_export()   # type: ignore[misc]
            return
        from .screens.export import ExportScreen
        from .tier_state import tier_documents

        if not self.solved_or_later(self.action_export, "the export dialog opens"):   # type: ignore[attr-defined]
            return   # export what the knobs show
        st = self.state
        docs = {} if st is None or st.tiers is None else tier_documents(st.tiers, st.scenario)
        if st is None or not docs:
            self.notify("no tier solver has a placement to export", severity="warning")
            return
        screen = ExportScreen(f"policy-{st.profile.model}-tiers-{{solver}}.json", title="Export a tier policy "
                              "(splittui.policy with its tiers section)", solvers=docs,
                              chosen=self.selected if self.selected in docs else next(iter(docs)))

        def done(path: Any) -> None:
            if path is not None:
                self.notify(f"wrote {screen.chosen}'s tier policy to {Path(path).resolve()}")

        self.push_screen(screen, done)
