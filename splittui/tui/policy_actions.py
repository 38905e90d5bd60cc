"""The app's policy actions, kept out of app.py: export the selected solver's policy (or every saved
slot's) to `splittui.policy/1` JSON, and load a policy file to score under the current knobs.

`PolicyActions` is a mixin for `SplitApp`; it uses the app's `state`, `slots`, `selected`,
`profile`, `loaded` and `resolve()`.
"""

from __future__ import annotations

from pathlib import Path

from .state import LoadedPolicy, full_results
from .when_solved import WhenSolved

__all__ = ["PolicyActions"]


class PolicyActions(WhenSolved):
    """Export and load-policy actions (bound to e, E and o in `SplitApp.BINDINGS`)."""

    def action_export(self) -> None:
        from ..policy import policy_document
        from .screens.export import ExportScreen

        if not self.solved_or_later(self.action_export, "the export dialog opens"):
            return   # export what the knobs show, never nothing or the previous answer
        st = self.state
        docs = {} if st is None else {name: policy_document(st.profile, st.scenario, res)
                                      for name, res in full_results(st).items() if res.policy is not None}
        if st is None or not docs:
            self.notify("no solver has a placement to export", severity="warning")
            return
        screen = ExportScreen(f"policy-{st.profile.model}-{{solver}}.json", title="Export a policy "
                              "(splittui.policy/1)", solvers=docs, chosen=self.selected)

        def done(path) -> None:
            if path is not None:
                self.notify(f"wrote {screen.chosen}'s policy to {Path(path).resolve()}")

        self.push_screen(screen, done)

    def action_export_all(self) -> None:
        from .slots import slot_documents

        if not self.slots:
            self.notify("no saved slots to export: press s first", severity="warning")
            return
        docs = slot_documents(self.slots, every_solver=True)
        self._export(docs, "policies-slots.json", f"Export every solver's policy of {len(self.slots)} slot"
                     f"{'s' if len(self.slots) != 1 else ''} ({len(docs)} policies; evaluate scores each)")

    def _export(self, docs: list[dict], default: str, title: str) -> None:
        from .screens.export import ExportScreen

        def done(path) -> None:
            if path is not None:
                self.notify(f"wrote {len(docs)} polic{'y' if len(docs) == 1 else 'ies'} to {Path(path).resolve()}")

        self.push_screen(ExportScreen(default, docs, title=title), done)

    def action_load_policy(self) -> None:
        from .screens.load_policy import LoadPolicyScreen

        self.push_screen(LoadPolicyScreen(), self._policy_loaded)

    def _policy_loaded(self, doc: dict | None) -> None:
        """Offer the file's scenario (and its model, when it was made for another) before scoring."""
        from .dialogs import ConfirmScreen

        if doc is None:
            return
        model = doc.get("profile") or doc.get("model")
        other = model not in (self.profile.origin, self.profile.model)
        stored = doc.get("scenario")
        if not other and (not stored or _same_scenario(stored, self.scenario)):
            self._score_loaded(doc)
            return
        what = f"switch to {model} and set the knobs" if other else "set the knobs"
        self.push_screen(ConfirmScreen(f"This policy was made for {doc.get('model')} at "
                                       f"{_describe(stored)}. {what.capitalize()} from the file?",
                                       hint=f"y {what} · n score it under the current knobs"),
                         lambda yes: self._apply_file_scenario(doc, other) if yes else self._score_loaded(doc))

    def _apply_file_scenario(self, doc: dict, other: bool) -> None:
        from ..errors import SplittuiError
        from ..llm import load_any
        from ..model import Scenario

        try:   # a zoo profile, a profile file, a shipped LLM config or a config file
            profile = load_any(doc.get("profile") or doc["model"]) if other else self.profile
            sc = Scenario(**doc["scenario"]) if doc.get("scenario") else self.scenario
        except (SplittuiError, TypeError, KeyError) as exc:
            self.notify(f"cannot use the file's scenario: {exc}", severity="error")
            return
        if other and doc.get("profile_sha256") not in (None, profile.sha256):
            self.notify(f"{profile.model} opened on its default devices and dtype; the file was made on "
                        "another build of it (pick them to match)", severity="warning", timeout=6)
        self.loaded = None
        self.switch_profile(profile, sc)
        self._score_loaded(doc)

    def _score_loaded(self, doc: dict) -> None:
        if len(doc["policy"]) != self.profile.n_layers:
            self.notify(f"that policy has {len(doc['policy'])} layers; {self.profile.model} has "
                        f"{self.profile.n_layers}", severity="error")
            return
        self.loaded = LoadedPolicy(label=f"file:{doc.get('solver', 'policy')}", policy=tuple(doc["policy"]))
        self.notify("loaded policy scored under the current knobs (row 'file:…')", timeout=3)
        self.resolve()


def _same_scenario(stored: dict, sc) -> bool:
    from ..model import Scenario

    try:
        return Scenario(**stored) == sc
    except (TypeError, ValueError, Exception):   # a bad block is reported when it is applied
        return False


def _describe(stored: dict | None) -> str:
    if not stored:
        return "an unknown scenario"
    keys = (("deadline_ms", "deadline {:g} ms"), ("up_mbps", "up {:g} Mbit/s"), ("seq_len", "seq {}"))
    return ", ".join(fmt.format(stored[k]) for k, fmt in keys if stored.get(k) is not None) or "defaults"
