"""The app's policy actions, kept out of app.py: export the selected solver's policy (or every saved
slot's) to `splittui.policy` JSON, and load a policy file to score under the current knobs.

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
                              "(splittui.policy)", solvers=docs, chosen=self.selected)

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
        from ..errors import SplittuiError
        from ..policy import stored_setup
        from ..setup import setup_of

        try:
            setup, unknown = stored_setup(doc, "the policy file")
        except SplittuiError as exc:
            self.notify(str(exc), severity="error")
            return
        mine = setup_of(self.profile)
        other = (setup.model not in (self.profile.origin, self.profile.model) if unknown   # policy/1: no setup
                 else setup != mine)
        stored = doc.get("scenario")
        if not other and (not stored or _same_scenario(doc, self.profile, self.scenario)):
            self._score_loaded(doc)
            return
        model = _describe_setup(setup, unknown)
        what = f"switch to {model} and set the knobs" if other else "set the knobs"
        self.push_screen(ConfirmScreen(f"This policy was made for {model} at "
                                       f"{_describe(stored)}. {what.capitalize()} from the file?",
                                       hint=f"y {what} · n score it under the current knobs"),
                         lambda yes: self._apply_file_scenario(doc, other) if yes else self._score_loaded(doc))

    def _apply_file_scenario(self, doc: dict, other: bool) -> None:
        """The file's whole scenario: its setup (model, devices, dtype) and its knobs."""
        from ..errors import SplittuiError
        from ..model import Scenario
        from ..policy import scenario_fields, stored_scenario, stored_setup

        try:   # a zoo profile, a profile file, a shipped LLM config or a config file, on the file's devices
            setup, unknown = stored_setup(doc, "the policy file")
            seq = stored_scenario(doc).get("seq_len")
            profile = (setup.build(include_seq=(seq,) if isinstance(seq, int) else (),
                                   overrides={"model": _openable(setup.model)}) if other else self.profile)
            sc = Scenario(**scenario_fields(doc, profile)) if doc.get("scenario") else self.scenario
        except (SplittuiError, TypeError, KeyError) as exc:
            self.notify(f"cannot use the file's scenario: {exc}", severity="error")
            return
        if unknown:
            self.notify(f"a {doc.get('schema')} file does not record {', '.join(unknown)}: {profile.model} opened "
                        "with the defaults (pick them to match)", severity="warning", timeout=6)
        elif other and doc.get("profile_sha256") not in (None, profile.sha256):
            self.notify(f"{profile.model}: the file was made on another build of it (sha256 differs); its "
                        "policy is scored on this one", severity="warning", timeout=6)
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


def _openable(ref: str) -> str:
    """A policy file's model: a shipped name as is; served, a path only inside the files folder."""
    from ..confine import app_path, served
    from ..llm import is_shipped_config
    from ..profiles import shipped_names

    if not served() or ref in shipped_names() or is_shipped_config(ref):
        return ref
    return str(app_path(ref))


def _same_scenario(doc: dict, profile, sc) -> bool:
    from ..model import Scenario
    from ..policy import scenario_fields

    try:
        return Scenario(**scenario_fields(doc, profile)) == sc
    except (TypeError, ValueError, Exception):   # a bad block is reported when it is applied
        return False


def _describe_setup(setup, unknown: list[str]) -> str:
    """The model a file was made for, with its devices and dtype when the file records them."""
    if unknown:
        return setup.model
    parts = [p for p in (setup.client_device and f"client {setup.client_device}",
                         setup.server_device and f"server {setup.server_device}", setup.dtype,
                         setup.attention != "full" and setup.attention) if p]
    return f"{setup.model}" + (f" ({', '.join(parts)})" if parts else "")


def _describe(stored: dict | None) -> str:
    if not stored:
        return "an unknown scenario"
    keys = (("deadline_ms", "deadline {:g} ms"), ("up_mbps", "up {:g} Mbit/s"), ("seq_len", "seq {}"))
    return ", ".join(fmt.format(stored[k]) for k, fmt in keys if stored.get(k) is not None) or "defaults"
