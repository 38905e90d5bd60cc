"""The app's policy actions, kept out of app.py: export the selected solver's policy (or every saved
slot's) to `splittui.policy/1` JSON, and load a policy file to score under the current knobs.

`PolicyActions` is a mixin for `SplitApp`; it uses the app's `state`, `slots`, `selected`,
`profile`, `loaded` and `resolve()`.
"""

from __future__ import annotations

from .state import LoadedPolicy

__all__ = ["PolicyActions"]


class PolicyActions:
    """Export and load-policy actions (bound to e, E and o in `SplitApp.BINDINGS`)."""

    def action_export(self) -> None:
        from ..policy import policy_document
        from .screens.export import ExportScreen

        st = self.state
        docs = {name: policy_document(st.profile, st.scenario, res)
                for name, res in (st.results.items() if st is not None else ()) if res.policy is not None}
        if not docs:
            self.notify("no solver has a placement to export", severity="warning")
            return
        screen = ExportScreen(f"policy-{st.profile.model}-{{solver}}.json", title="Export a policy "
                              "(splittui.policy/1)", solvers=docs, chosen=self.selected)

        def done(path) -> None:
            if path is not None:
                self.notify(f"wrote {screen.chosen}'s policy to {path}")

        self.push_screen(screen, done)

    def action_export_all(self) -> None:
        from .slots import slot_documents

        if not self.slots:
            self.notify("no saved slots to export: press s first", severity="warning")
            return
        self._export(slot_documents(self.slots), "policies-slots.json", f"Export {len(self.slots)} slots")

    def _export(self, docs: list[dict], default: str, title: str) -> None:
        from .screens.export import ExportScreen

        def done(path) -> None:
            if path is not None:
                self.notify(f"wrote {len(docs)} polic{'y' if len(docs) == 1 else 'ies'} to {path}")

        self.push_screen(ExportScreen(default, docs, title=title), done)

    def action_load_policy(self) -> None:
        from .screens.load_policy import LoadPolicyScreen

        self.push_screen(LoadPolicyScreen(), self._policy_loaded)

    def _policy_loaded(self, doc: dict | None) -> None:
        if doc is None:
            return
        if len(doc["policy"]) != self.profile.n_layers:
            self.notify(f"that policy has {len(doc['policy'])} layers; {self.profile.model} has "
                        f"{self.profile.n_layers}", severity="error")
            return
        self.loaded = LoadedPolicy(label=f"file:{doc.get('solver', 'policy')}", policy=tuple(doc["policy"]))
        self.notify("loaded policy scored under the current knobs (row 'file:…')", timeout=3)
        self.resolve()

