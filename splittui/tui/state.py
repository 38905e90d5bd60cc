"""The app's state — one frozen value replaced as a whole — and how the solve worker computes it:
every number, strip and chart series the screen shows, so the UI thread only draws.

`compute_state` is the only place the app calls the solvers. It never raises: a scenario the core
refuses (DP tables too large, a seq length out of range) becomes a state with an `error` line.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from ..errors import SplittuiError
from ..generation import phase_costs
from ..model import Profile, Result, Scenario
from ..solvers import APP_SOLVERS, Frontier
from .chart_data import FRONTIER_SAMPLES, Segment, greedy_shares, request_timeline, sweep_key, sweep_lines
from .profile_choice import ProfileChoice, fit_scenario, load_choice

__all__ = ["AppState", "LoadedPolicy", "BandwidthSweep", "compute_state", "compute_choice", "solve_cost", "APP_SOLVERS",
           "FRONTIER_MAX_UNITS", "MAX_DP_CELLS", "fitting_unit_ms"]

FRONTIER_MAX_UNITS = 20_000   # the frontier chart's DP pass is capped (coarser T) to stay cheap
FRONTIER_SPAN = 1.5           # the chart shows deadlines up to 1.5x the current one
MAX_DP_CELLS = 100_000_000    # above this (~0.5 s, ~30 MB of bits) the app skips the DP and says so


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A policy read from a file, scored under whatever knobs are current."""

    label: str
    policy: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BandwidthSweep:
    """Server share (%) per solver against bandwidth, for one scenario with the bandwidth left out."""

    key: Scenario
    bandwidths: np.ndarray
    lines: Mapping[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything the screen shows about one scenario; widgets never mix two of these."""

    profile: Profile
    scenario: Scenario
    generation: int = 0
    results: Mapping[str, Result] = field(default_factory=lambda: MappingProxyType({}))
    frontier: Frontier | None = None
    frontier_unit_ms: float = 0.0
    baselines: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # deadlines, greedy, no-split share
    timelines: Mapping[str, tuple[Segment, ...]] = field(default_factory=lambda: MappingProxyType({}))
    prefill_end_ms: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # per timeline
    sweep: BandwidthSweep | None = None     # only while a chart that draws it is wanted
    loaded: Result | None = None            # the loaded policy's score, if any
    loaded_label: str = ""
    error: str | None = None
    note: str = ""                          # e.g. why the DP was skipped
    solve_ms: float = 0.0
    choice: ProfileChoice | None = None     # what the pickers chose (None: a profile given directly)
    asked: Scenario | None = None           # the knobs' scenario, before fitting it to the profile

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


def fitting_unit_ms(n_layers: int, deadline_ms: float) -> float:
    """The least T (two significant digits, rounded up) at which the DP fits in MAX_DP_CELLS."""
    need = n_layers * deadline_ms / MAX_DP_CELLS
    scale = 10.0 ** (math.floor(math.log10(need)) - 1)
    return math.ceil(need / scale - 1e-9) * scale


def solve_cost(profile: Profile, sc: Scenario) -> float:
    """Rough cost of one solve in DP cells (L x W, plus the frontier's capped pass)."""
    w = sc.deadline_ms / sc.unit_ms
    return profile.n_layers * (w + min(w * FRONTIER_SPAN, FRONTIER_MAX_UNITS))


def _frontier(profile: Profile, sc: Scenario) -> tuple[Frontier, float]:
    from ..solvers import frontier

    span = sc.deadline_ms * FRONTIER_SPAN
    unit = max(sc.unit_ms, span / FRONTIER_MAX_UNITS)
    return frontier(profile, sc.replace(deadline_ms=span, unit_ms=unit)), unit


def _baselines(profile: Profile, sc: Scenario, front: Frontier) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(front.deadline_ms)
    samples = np.linspace(x[0], x[-1], FRONTIER_SAMPLES) if len(x) else np.array([])
    return (samples, *greedy_shares(profile, sc, samples))


def _timelines(profile: Profile, sc: Scenario, results: Mapping[str, Result]
               ) -> tuple[Mapping[str, tuple[Segment, ...]], Mapping[str, float]]:
    """Each placement's prefill and (with generated tokens) one mean decode step after it."""
    ph = phase_costs(profile, sc)
    segs, ends = {}, {}
    for name, r in results.items():
        if r.policy is not None:
            seg, end = request_timeline(ph, r)
            segs[name] = tuple(seg)
            if end is not None:
                ends[name] = end
    return MappingProxyType(segs), MappingProxyType(ends)


def _sweep(profile: Profile, sc: Scenario, previous: BandwidthSweep | None) -> BandwidthSweep:
    key = sweep_key(sc)
    if previous is not None and previous.key == key:
        return previous   # moving the bandwidth knob only moves the marker
    bws, lines = sweep_lines(profile, sc)
    return BandwidthSweep(key=key, bandwidths=bws, lines=MappingProxyType(lines))


class Cancelled(Exception):
    """The request was superseded while it was being computed."""


def compute_state(profile: Profile, sc: Scenario, generation: int = 0, loaded: LoadedPolicy | None = None,
                  *, sweep: bool = False, previous: AppState | None = None,
                  cancelled: Callable[[], bool] = lambda: False) -> AppState:
    """Solve every app solver, the frontier and the loaded policy for one scenario, and the chart
    series: the bandwidth sweep only when `sweep` (reused from `previous` when only the bandwidth
    moved). Raises Cancelled between steps once `cancelled()` is true."""
    from ..solvers import evaluate, solve_all

    t0 = time.perf_counter()
    cells = profile.n_layers * sc.deadline_ms / sc.unit_ms
    note = ""
    try:
        if cells > MAX_DP_CELLS:
            note = (f"DP skipped ({cells:.1g} cells = L × deadline/T): raise T to ≥ "
                    f"{fitting_unit_ms(profile.n_layers, sc.deadline_ms):g} ms or lower the deadline")
            results = solve_all(profile, sc, tuple(s for s in APP_SOLVERS if s != "dp"))
        else:
            results = solve_all(profile, sc, APP_SOLVERS)
        _check(cancelled)
        front, unit = _frontier(profile, sc)
        _check(cancelled)
        swept = _sweep(profile, sc, previous.sweep if previous is not None else None) if sweep else None
    except SplittuiError as exc:
        return AppState(profile=profile, scenario=sc, generation=generation, error=str(exc))
    scored = None
    if loaded is not None and len(loaded.policy) == profile.n_layers:
        scored = replace(evaluate(profile, sc, loaded.policy), solver=loaded.label)
    timelines, prefill_end = _timelines(profile, sc, results)
    return AppState(profile=profile, scenario=sc, generation=generation,
                    results=MappingProxyType(dict(results)), frontier=front, frontier_unit_ms=unit,
                    baselines=_baselines(profile, sc, front), timelines=timelines, prefill_end_ms=prefill_end,
                    sweep=swept, loaded=scored, loaded_label=loaded.label if loaded else "", note=note,
                    solve_ms=(time.perf_counter() - t0) * 1e3)


def compute_choice(choice: ProfileChoice, loaded_profiles: dict[str, Profile], sc: Scenario, generation: int = 0,
                   loaded: LoadedPolicy | None = None, *, sweep: bool = False, previous: AppState | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> AppState:
    """The worker's whole job for one request: the chosen profile (built or re-timed, cached), the knobs'
    scenario fitted to it (what changed is said in `note`), then `compute_state`. Never raises."""
    t0 = time.perf_counter()
    try:
        profile = load_choice(choice, loaded_profiles)
    except SplittuiError as exc:
        base = previous.profile if previous is not None else next(iter(loaded_profiles.values()))
        return AppState(profile=base, scenario=sc, generation=generation, error=str(exc), choice=choice, asked=sc)
    fitted, why = fit_scenario(profile, sc)
    if previous is not None and previous.profile is not profile:
        previous = None   # another profile: nothing to reuse
    st = compute_state(profile, fitted, generation, loaded, sweep=sweep, previous=previous, cancelled=cancelled)
    note = "; ".join(n for n in (why, st.note) if n)
    return replace(st, note=note, choice=choice, asked=sc, solve_ms=(time.perf_counter() - t0) * 1e3)


def _check(cancelled: Callable[[], bool]) -> None:
    if cancelled():
        raise Cancelled
