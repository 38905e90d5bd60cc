"""Messages between the app's parts: the knobs' changes up to the app, the worker's answers back.

Dataclass messages (toolong's `messages.py`); a burst of knob changes is merged by Textual
(`can_replace`), so only the latest scenario of a held-down key is solved.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..model import Scenario
from ..tiers import Topology
from .profile_choice import ProfileChoice
from .state import AppState

__all__ = ["Solved", "ScenarioChanged", "ModelChosen"]


@dataclass
class Solved(Message):
    """A worker finished solving; the app applies it only if it answers the latest request."""

    state: AppState


@dataclass
class ScenarioChanged(Message):
    """The knobs now describe this scenario (and, over tiers, this topology: its hops are knobs too)."""

    scenario: Scenario
    topology: Topology | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ScenarioChanged)   # only the latest knob position matters


@dataclass
class ModelChosen(Message):
    """A profile picker (model, client or server device, dtype) moved: the pickers now choose this."""

    choice: ProfileChoice

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ModelChosen)   # only the latest pickers' position matters
