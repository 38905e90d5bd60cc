"""The app's state — one frozen value replaced as a whole — how it is computed, and the messages
that carry it from the solve worker to the screen.

`compute_state` is the only place the app calls the solvers. It never raises: a scenario the core
refuses (DP tables too large, a seq length out of range) becomes a state with an `error` line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from textual.message import Message

from ..errors import SplittuiError
from ..model import Profile, Result, Scenario

__all__ = ["AppState", "LoadedPolicy", "compute_state", "solve_cost", "Solved", "ScenarioChanged",
           "ModelChosen", "APP_SOLVERS", "FRONTIER_MAX_UNITS", "MAX_DP_CELLS"]

APP_SOLVERS = ("dp", "exact", "greedy", "single-split", "no-split")
FRONTIER_MAX_UNITS = 20_000   # the frontier chart's DP pass is capped (coarser T) to stay cheap
FRONTIER_SPAN = 1.5           # the chart shows deadlines up to 1.5x the current one
MAX_DP_CELLS = 100_000_000    # above this (~0.5 s, ~30 MB of bits) the app skips the DP and says so


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A policy read from a file, scored under whatever knobs are current."""

    label: str
    policy: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything the screen shows about one scenario; widgets never mix two of these."""

    profile: Profile
    scenario: Scenario
    generation: int = 0
    results: Mapping[str, Result] = field(default_factory=lambda: MappingProxyType({}))
    frontier: object | None = None          # splittui.solvers.Frontier, or None
    frontier_unit_ms: float = 0.0
    loaded: Result | None = None            # the loaded policy's score, if any
    loaded_label: str = ""
    error: str | None = None
    note: str = ""                          # e.g. why the DP was skipped
    solve_ms: float = 0.0

    @property
    def dp(self) -> Result | None:
        return self.results.get("dp")

    @property
    def exact(self) -> Result | None:
        return self.results.get("exact")

    def rows(self) -> list[tuple[str, Result]]:
        """(label, result) per solver, plus the loaded policy last."""
        rows = list(self.results.items())
        if self.loaded is not None:
            rows.append((self.loaded_label or "loaded", self.loaded))
        return rows


def solve_cost(profile: Profile, sc: Scenario) -> float:
    """Rough cost of one solve in DP cells (L x W, plus the frontier's capped pass)."""
    w = sc.deadline_ms / sc.unit_ms
    return profile.n_layers * (w + min(w * FRONTIER_SPAN, FRONTIER_MAX_UNITS))


def _frontier(profile: Profile, sc: Scenario):
    from ..solvers import frontier

    span = sc.deadline_ms * FRONTIER_SPAN
    unit = max(sc.unit_ms, span / FRONTIER_MAX_UNITS)
    return frontier(profile, sc.replace(deadline_ms=span, unit_ms=unit)), unit


def compute_state(profile: Profile, sc: Scenario, generation: int = 0,
                  loaded: LoadedPolicy | None = None) -> AppState:
    """Solve every app solver, the frontier and the loaded policy for one scenario."""
    from ..solvers import evaluate, solve_all

    t0 = time.perf_counter()
    cells = profile.n_layers * sc.deadline_ms / sc.unit_ms
    note = ""
    try:
        if cells > MAX_DP_CELLS:
            note = f"DP skipped ({cells:.1g} cells = L × deadline/T): raise T or lower the deadline"
            results = solve_all(profile, sc, tuple(s for s in APP_SOLVERS if s != "dp"))
        else:
            results = solve_all(profile, sc, APP_SOLVERS)
        front, unit = _frontier(profile, sc)
    except SplittuiError as exc:
        return AppState(profile=profile, scenario=sc, generation=generation, error=str(exc))
    scored = None
    if loaded is not None and len(loaded.policy) == profile.n_layers:
        scored = replace(evaluate(profile, sc, loaded.policy), solver=loaded.label)
    return AppState(profile=profile, scenario=sc, generation=generation,
                    results=MappingProxyType(dict(results)), frontier=front, frontier_unit_ms=unit,
                    loaded=scored, loaded_label=loaded.label if loaded else "", note=note,
                    solve_ms=(time.perf_counter() - t0) * 1e3)


class Solved(Message):
    """A worker finished solving; the app applies it only if its generation is the latest."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state


class ScenarioChanged(Message):
    """The knobs now describe this scenario."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__()
        self.scenario = scenario


class ModelChosen(Message):
    """The model selector moved to another profile (by its label)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
