"""The app's state — one frozen value replaced as a whole — and how the solve worker computes it:
every number, strip and chart series the screen shows, so the UI thread only draws.

`compute_state` and `complete_state` (which adds the parts a first answer left out, see `Parts`) are
the only places the app calls the solvers. They never raise: a scenario the core refuses (DP tables
too large, a seq length out of range) becomes a state with an `error` line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from ..costs import Costs
from ..errors import SplittuiError
from ..memory import SideMemory
from ..model import Profile, Result, Scenario
from ..solvers import APP_SOLVERS, Frontier
from ..solvers.constrained import memory_binds
from ..solvers.constrained_pins import barred_chain
from ..solvers.dp_span import DPSpan, dp_span, label_span
from .chart_data import FRONTIER_SAMPLES, Segment, SweepTable, greedy_shares, request_timeline, sweep_key, sweep_lines
from .profile_choice import ProfileChoice, fit_scenario, load_choice
from .reuse import Chains, chains, cut_frontier, frontier_top, score
from .solver_results import MAX_DP_CELLS, _memory, _results, _solved, _unpinned, dp_skipped, fitting_unit_ms
from .tier_state import TierView

__all__ = ["AppState", "LoadedPolicy", "BandwidthSweep", "Parts", "EVERY_PART", "compute_state", "compute_choice",
           "complete_state", "full_results", "solve_cost", "APP_SOLVERS", "FRONTIER_MAX_UNITS", "MAX_DP_CELLS",
           "dp_skipped", "fitting_unit_ms"]

FRONTIER_MAX_UNITS = 20_000   # the frontier chart's DP pass is capped (coarser T) to stay cheap
FRONTIER_SPAN = 1.5           # the chart shows deadlines up to 1.5x the current one
SPAN_MAX_UNITS = 8_192        # a DP pass reused across deadline steps up to this many units (dense, cheap)
SPAN_MAX_LABEL_UNITS = 10_000_000   # beyond the dense span, a label pass (dp_labels) up to this many units
SPAN_HEADROOM = 1.3           # filled this far beyond the frontier's span: about three deadline steps up


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
    table: SweepTable | None = None   # what the next deadline step reads its points from


@dataclass(frozen=True, slots=True)
class Parts:
    """Which parts of a state are computed: the solvers asked for, the frontier (with greedy's and
    no-split's share along it), the timelines, the bandwidth sweep and, with pins, the same solvers without
    them (the cost of privacy). The worker computes what the shown tab draws first and the rest after that
    frame (see `complete_state`); under memory limits, where each may take a label search of its own, the
    unpinned answers come after that frame too (their line says "solving…" until then)."""

    solvers: frozenset[str] = frozenset(APP_SOLVERS)   # asked for (exact also joins when DP finds nothing)
    frontier: bool = True
    timelines: bool = True
    sweep: bool = False
    privacy: bool = True

    def covers(self, other: Parts) -> bool:
        return (other.solvers <= self.solvers and self.frontier >= other.frontier
                and self.timelines >= other.timelines and self.sweep >= other.sweep
                and self.privacy >= other.privacy)

    def __or__(self, other: Parts) -> Parts:
        return Parts(self.solvers | other.solvers, self.frontier or other.frontier,
                     self.timelines or other.timelines, self.sweep or other.sweep, self.privacy or other.privacy)


ALL_SOLVERS = frozenset(APP_SOLVERS)
EVERY_PART = Parts()   # all but the sweep, which is computed only while its chart is shown


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
    parts: Parts = EVERY_PART               # what was computed (an error state: nothing more to compute)
    span: DPSpan | None = None              # a DP pass beyond this deadline, reused by the next request
    # what the next request may reuse (see reuse.py): the chains, the exact answers of the last few
    # scenarios, and a coarse frontier solved to the top of its bucket
    chains: Chains | None = None
    exact_solved: tuple[tuple[Scenario, Result], ...] = ()
    frontier_full: tuple[tuple, Frontier] | None = None
    drawn: Mapping[tuple[int, ...], tuple] = field(default_factory=lambda: MappingProxyType({}))  # timelines by policy
    # with pins (SPEC §10): the same solvers on the scenario without them (the cost of privacy), kept by that
    # scenario, so moving a pin re-solves only the pinned side
    unpinned: tuple[Scenario, Mapping[str, Result]] | None = None
    # with memory limits: each placement's memory per side (client, server), what the fit line shows
    memory: Mapping[str, tuple[SideMemory, SideMemory]] = field(default_factory=lambda: MappingProxyType({}))
    tiers: TierView | None = None           # over three or four tiers (tier_state.py): its costs and rows

    @property
    def has_rows(self) -> bool:
        """Every app solver was asked for (or an error says why none was): what the table and strip need."""
        return self.error is not None or self.parts.solvers >= ALL_SOLVERS

    @property
    def solvers(self) -> list[str]:
        """The app solvers this state has or will have (the second answer adds the table's), in order;
        not a DP the scenario is too large for (over tiers: the tier solvers)."""
        return (list(self.tiers.results) if self.tiers is not None
                else [s for s in APP_SOLVERS if s in self.results or s not in self.parts.solvers])

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


def _frontier(profile: Profile, sc: Scenario, reuse: DPSpan | None, ch: Chains,
              full: tuple[tuple, Frontier] | None) -> tuple[Frontier, float, tuple[tuple, Frontier] | None]:
    """The frontier up to FRONTIER_SPAN x the deadline at T; where that would take more than
    FRONTIER_MAX_UNITS steps, at a coarser T from the deadline's bucket (`frontier_top`), solved to the
    bucket's top once (`full`, reused while the deadline stays in it) and cut."""
    from ..solvers import frontier

    span = sc.deadline_ms * FRONTIER_SPAN
    if span / sc.unit_ms <= FRONTIER_MAX_UNITS:
        return (frontier(profile, sc.replace(deadline_ms=span), span=reuse, chain=_frontier_chain(ch, span)),
                sc.unit_ms, full)
    top = frontier_top(span)
    unit = top / FRONTIER_MAX_UNITS
    key = (ch.key, top, sc.rounding)
    if full is None or full[0] != key:
        at = sc.replace(deadline_ms=top, unit_ms=unit)
        full = key, frontier(profile, at, span=reuse, chain=_frontier_chain(ch, top))
    return cut_frontier(full[1], span), unit, full


def _chain_at(ch: Chains, deadline_ms: float):
    return replace(ch.phases.composite(), deadline_ms=float(deadline_ms))


def _frontier_chain(ch: Chains, deadline_ms: float) -> Costs:
    """The chain of the frontier chart's DP pass up to `deadline_ms`: the request's, or with pins the one the
    constrained DP searches (each pinned layer's other side barred, `barred_chain`), so that every point is
    the DP's answer under the pins at that deadline; memory limits are left out (`frontier_note`)."""
    c = _chain_at(ch, deadline_ms)
    return barred_chain(c, float(deadline_ms)) if c.constrained else c


def frontier_note(ch: Chains) -> str:
    """What the frontier chart leaves out of the scenario: memory limits that can bind (pins it honours)."""
    c = ch.phases.prefill   # its pins and memory rows are the request's (the composite sums only times)
    return "the frontier chart leaves out the memory limits" if c.constrained and memory_binds(c) else ""


def _span(sc: Scenario, ch: Chains, have: DPSpan | None) -> DPSpan | None:
    """A DP pass at T over deadlines up to the frontier's span: `have` if it is one for this chain,
    else a new one filled SPAN_HEADROOM beyond it; None where that would be a large table (then the
    DP and the frontier run as usual, the sparse route where it is cheaper)."""
    need = sc.deadline_ms * FRONTIER_SPAN
    if sc.deadline_ms / sc.unit_ms > SPAN_MAX_LABEL_UNITS:
        return None
    c = _chain_at(ch, need)
    if c.constrained:   # pins or memory limits: the solvers never read a pass (DPSpan.serves), so fill none
        return None
    if have is not None and have.serves(c, sc.unit_ms, sc.rounding):
        return have
    if need / sc.unit_ms <= SPAN_MAX_UNITS:
        return dp_span(c, sc.unit_ms, need * SPAN_HEADROOM, rounding=sc.rounding)
    try:   # a long budget: the sparse labels, where they stay few (as dp_policy would take them)
        return label_span(c, sc.unit_ms, need * SPAN_HEADROOM, rounding=sc.rounding)
    except SplittuiError:   # beyond the DP's memory check: the DP and the frontier say so on their own
        return None


def _baselines(profile: Profile, sc: Scenario, front: Frontier, ch: Chains
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(front.deadline_ms)
    samples = np.linspace(x[0], x[-1], FRONTIER_SAMPLES) if len(x) else np.array([])
    return (samples, *greedy_shares(profile, sc, samples, phases=ch.phases))


Drawn = Mapping[tuple[int, ...], tuple[tuple[Segment, ...], float | None]]   # policy -> timeline, prefill end
DRAWN_KEPT = 64


def _timelines(ch: Chains, results: Mapping[str, Result], have: Mapping[str, tuple[Segment, ...]],
               have_end: Mapping[str, float], drawn: Drawn
               ) -> tuple[Mapping[str, tuple[Segment, ...]], Mapping[str, float], Drawn]:
    """Each placement's prefill and (with generated tokens) one mean decode step after it; the ones in
    `have` are kept, and a policy in `drawn` (timelines on these chains) is drawn as it was: a timeline
    depends on the policy and the chains only."""
    todo = [name for name, r in results.items() if r.policy is not None and name not in have]
    if not todo:
        return have, have_end, drawn
    segs, ends, memo = dict(have), dict(have_end), dict(drawn) if len(drawn) < DRAWN_KEPT else {}
    for name in todo:
        policy = results[name].policy
        assert policy is not None
        if policy not in memo:
            seg, end = request_timeline(ch.phases, results[name])
            memo[policy] = tuple(seg), end
        segs[name], end = memo[policy]
        if end is not None:
            ends[name] = end
    return MappingProxyType(segs), MappingProxyType(ends), MappingProxyType(memo)


def _sweep(profile: Profile, sc: Scenario, previous: BandwidthSweep | None) -> BandwidthSweep:
    """The sweep for `sc`: `previous` when only the bandwidth moved, else its lines read from the
    previous table where that serves this deadline (built anew, on its chains, where it does not)."""
    key = sweep_key(sc)
    if previous is not None and previous.key == key:
        return previous   # moving the bandwidth knob only moves the marker
    bws, lines, table = sweep_lines(profile, sc, previous.table if previous is not None else None)
    return BandwidthSweep(key=key, bandwidths=bws, lines=MappingProxyType(lines), table=table)


class Cancelled(Exception):
    """The request was superseded while it was being computed."""


NOTHING = Parts(frozenset(), frontier=False, timelines=False, privacy=False)


def compute_state(profile: Profile, sc: Scenario, generation: int = 0, loaded: LoadedPolicy | None = None,
                  *, parts: Parts = EVERY_PART, previous: AppState | None = None,
                  cancelled: Callable[[], bool] = lambda: False) -> AppState:
    """Solve the app solvers in `parts` (exact too whenever DP finds nothing: the banner needs it), the
    loaded policy, and the chart series in `parts` for one scenario; the bandwidth sweep is reused from
    `previous` when only the bandwidth moved. Raises Cancelled between steps once `cancelled()` is true."""
    t0 = time.perf_counter()
    st = complete_state(AppState(profile=profile, scenario=sc, generation=generation, parts=NOTHING), parts,
                        previous=previous, cancelled=cancelled)
    if st.error or loaded is None or len(loaded.policy) != profile.n_layers:
        return st
    assert st.chains is not None   # every state without an error has its chains
    scored = score(st.chains, sc, loaded.policy, loaded.label, 0.0)
    return replace(st, loaded=scored, loaded_label=loaded.label, solve_ms=(time.perf_counter() - t0) * 1e3)


def complete_state(st: AppState, parts: Parts = EVERY_PART, *, previous: AppState | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> AppState:
    """`st` with the parts of `parts` it lacks computed; what it has is kept (the same objects, so a
    chart drawn from them need not be redrawn). Never raises SplittuiError: that becomes `error`."""
    if st.error or st.parts.covers(parts):
        return st
    t0 = time.perf_counter()
    profile, sc, have = st.profile, st.scenario, st.parts
    want = have | parts
    if not (sc.has_pins and sc.has_memory_limits):   # no unpinned answers, or cheap ones: with the rest
        want = replace(want, privacy=True)
    before = previous if previous is not None and previous.profile is profile and not previous.error else None
    try:
        ch = chains(profile, sc, st.chains or (before.chains if before is not None else None))
        if before is not None:   # what this request may reuse from the one before (see reuse.py)
            same = before.chains is not None and before.chains.key == ch.key
            st = replace(st, exact_solved=st.exact_solved or before.exact_solved,
                         frontier_full=st.frontier_full or before.frontier_full,
                         drawn=st.drawn or (before.drawn if same else st.drawn),
                         unpinned=st.unpinned or before.unpinned)
        span = st.span
        if ("dp" in want.solvers - have.solvers and "dp" not in st.results) or (want.frontier and not have.frontier):
            span = _span(sc, ch, st.span or (before.span if before is not None else None))
        results, note = _results(profile, sc, st.results, want.solvers - have.solvers, span, ch, st.exact_solved)
        _check(cancelled)
        unpinned = _unpinned(profile, sc, st.unpinned, frozenset(results), want.privacy)
        _check(cancelled)
        front, unit, base, full = st.frontier, st.frontier_unit_ms, st.baselines, st.frontier_full
        if want.frontier and not have.frontier:
            front, unit, full = _frontier(profile, sc, span, ch, full)
            base = _baselines(profile, sc, front, ch)
        _check(cancelled)
        swept = st.sweep
        if want.sweep and not have.sweep:
            swept = _sweep(profile, sc, before.sweep if before is not None else None)
    except SplittuiError as exc:
        return AppState(profile=profile, scenario=sc, generation=st.generation, error=str(exc))
    timelines, prefill_end, drawn = st.timelines, st.prefill_end_ms, st.drawn
    if want.timelines:
        timelines, prefill_end, drawn = _timelines(ch, results, st.timelines, st.prefill_end_ms, st.drawn)
    if want.frontier and not have.frontier:
        note = "; ".join(n for n in (note, frontier_note(ch)) if n)
    return replace(st, results=results, frontier=front, frontier_unit_ms=unit, baselines=base, timelines=timelines,
                   unpinned=unpinned, memory=_memory(ch, sc, results),
                   prefill_end_ms=prefill_end, sweep=swept, note="; ".join(n for n in (st.note, note) if n),
                   parts=want, span=span, solve_ms=st.solve_ms + (time.perf_counter() - t0) * 1e3, chains=ch,
                   exact_solved=_solved(st.exact_solved, sc, results), frontier_full=full,
                   drawn=drawn)


def full_results(st: AppState) -> Mapping[str, Result]:
    """Every app solver's result for `st`: saving or exporting right after a key press may meet a
    state whose hidden rows the worker has not added yet; those few are solved here."""
    return complete_state(st, Parts(ALL_SOLVERS, st.parts.frontier, st.parts.timelines)).results


def compute_choice(choice: ProfileChoice, loaded_profiles: dict[str, Profile], sc: Scenario, generation: int = 0,
                   loaded: LoadedPolicy | None = None, *, parts: Parts = EVERY_PART, previous: AppState | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> AppState:
    """The worker's first job for one request: the chosen profile (built or re-timed, cached), the knobs'
    scenario fitted to it (what changed is said in `note`), then `compute_state` of `parts`. Never raises
    SplittuiError."""
    t0 = time.perf_counter()
    try:
        profile = load_choice(choice, loaded_profiles)
    except SplittuiError as exc:
        base = previous.profile if previous is not None else next(iter(loaded_profiles.values()))
        return AppState(profile=base, scenario=sc, generation=generation, error=str(exc), choice=choice, asked=sc)
    fitted, why = fit_scenario(profile, sc)
    if previous is not None and previous.profile is not profile:
        previous = None   # another profile: nothing to reuse
    st = compute_state(profile, fitted, generation, loaded, parts=parts, previous=previous, cancelled=cancelled)
    note = "; ".join(n for n in (why, st.note) if n)
    return replace(st, note=note, choice=choice, asked=sc, solve_ms=(time.perf_counter() - t0) * 1e3)


def _check(cancelled: Callable[[], bool]) -> None:
    if cancelled():
        raise Cancelled
