"""`AppMixin`: the base of SplitApp's mixins (solving; policy, goal, slot actions), for the type checker.

At run time it is plain `object`; under type checking it is a textual App that declares what SplitApp
provides, so a mixin's `self.notify`, `self.state` or `self.switch_profile` are checked, not guessed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["AppMixin"]

if TYPE_CHECKING:
    from textual.app import App

    from ..model import Profile, Scenario
    from .profile_choice import ProfileChoice
    from .slots import Slot
    from .state import AppState, LoadedPolicy

    class AppMixin(App[None]):
        state: AppState | None
        slots: tuple[Slot, ...]
        selected: str
        profile: Profile
        scenario: Scenario
        loaded: LoadedPolicy | None
        _generation: int
        quitting: bool
        user_selected: bool
        choice: ProfileChoice
        profiles: dict[str, Profile]

        def resolve(self) -> None: ...
        def run_after_solve(self) -> None: ...
        def _profile_arrived(self, st: AppState) -> None: ...
        def switch_profile(self, profile: Profile, scenario: Scenario | None = None) -> None: ...
        def action_show_tab(self, tab: str) -> None: ...
else:
    AppMixin = object
