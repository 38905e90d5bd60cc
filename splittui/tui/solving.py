"""The app's solving, kept out of app.py: every knob change is solved in an exclusive thread worker (a
newer request cancels the older one; Textual merges a burst of knob messages first), so the UI thread
only draws. The worker answers twice: first with what the shown tab draws, then, once that frame is
on screen, with the rest (the hidden tabs' rows and series), so a key press is drawn without
waiting for what it cannot show.

`Solving` is a mixin for `SplitApp`; it uses the app's `choice`, `profiles`, `scenario`, `loaded`,
`selected` and `state`, and `_profile_arrived()` for an answer on another profile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual import work
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.widget import Widget
from textual.widgets import TabbedContent
from textual.worker import get_current_worker

from ..model import Scenario
from ..tiers import Topology
from .chart_data import prefetch_sweep
from .messages import Solved
from .mixin_base import AppMixin
from .profile_choice import ProfileChoice
from .state import (
    APP_SOLVERS,
    EVERY_PART,
    AppState,
    Cancelled,
    LoadedPolicy,
    Parts,
    complete_state,
    compute_choice,
    solve_cost,
)
from .tier_state import compute_tiers
from .widgets.slider import Slider

__all__ = ["Solving", "STALE_SOLVE_CELLS", "CHART_SOLVERS", "default_solver", "visible_area"]

STALE_SOLVE_CELLS = 3_000_000   # L x W above which the tabs dim while the worker solves (~10 ms of DP)
STALE_DIM_S = 0.1               # ...once the answer is this late: a class on #tabs restyles every widget in
                                # it (~30 ms on a large profile), which an answer inside two frames never needs
DRAWN_WAIT_S = 0.25             # the second answer waits for the first one's frame, or this long
TIER_PARTS = Parts(frontier=True, timelines=True, sweep=True)   # a tier state has all it will ever have
CHART_SOLVERS = frozenset({"dp"})   # a chart tab draws the selected solver's (else DP's) placement; the banner DP's


def tier_state(choice: ProfileChoice, profiles: dict, sc: Scenario, topo: Topology, generation: int,
               loaded: LoadedPolicy | None, previous: AppState | None,
               cancelled: Callable[[], bool] = lambda: False) -> AppState:
    """The state of one request over tiers (`tier_state.compute_tiers`): every part at once, as the tier
    solvers share one costs object (nothing is left for a second answer)."""
    t0 = time.perf_counter()
    was = previous.tiers if previous is not None else None
    file = None if loaded is None else (loaded.label, loaded.policy)
    profile, fitted, view, note, error = compute_tiers(choice, profiles, sc, topo, was, file, cancelled)
    return AppState(profile=profile, scenario=fitted, generation=generation, error=error, note=note, tiers=view,
                    parts=TIER_PARTS, choice=choice, asked=sc, solve_ms=(time.perf_counter() - t0) * 1e3)


def visible_area(widget: Widget) -> int:
    """Cells of `widget` Textual draws after the last layout: its region within its clip, if it is among
    the compositor's visible widgets (a plot scrolled or clipped out of its container is not, though
    its region may overlap the screen and `is_on_screen` says True; then it is never repainted)."""
    try:
        region, clip = widget.screen._compositor.visible_widgets[widget]  # noqa: SLF001  (no public API)
    except (KeyError, NoScreen):
        return 0
    return region.intersection(clip).area


def default_solver(st: AppState) -> str | None:
    """The solver the app selects until the user picks one with v: the first of APP_SOLVERS (dp, the
    paper's, first) whose placement meets the deadline and every TTFT/TPOT limit; None when none does."""
    return next((name for name in APP_SOLVERS if (r := st.results.get(name)) is not None and r.feasible), None)


class Solving(AppMixin):
    """`resolve()` and the solve worker; the app calls `resolve()` whenever the knobs or the tab change."""

    _generation: int              # requests so far: an answer to an older one is never shown
    _drawn: threading.Event       # set once the latest request's first answer is on screen
    topology: Topology | None     # a chain of three or four tiers, or None: client and server

    def resolve(self) -> None:
        """Re-solve for the current profile and scenario in the solve worker; the tabs dim if the answer
        is late and the solve is large."""
        self._generation += 1
        self._drawn.set()   # a worker still waiting for its frame wakes up and sees it was cancelled
        self._drawn = threading.Event()
        if solve_cost(self.profile, self.scenario) > STALE_SOLVE_CELLS:
            self.dim_if_late()
        if self.topology is not None:   # over tiers: every row and view from one tier costs object
            self._solve_tiers(self.choice, self.scenario, self.topology, self._generation, self.loaded)
            return
        parts = self.shown_parts()
        self._solve(self.choice, self.scenario, self._generation, self.loaded, parts, self._drawn,
                    self.deadline_steps() if parts.sweep else ())

    def deadline_steps(self) -> tuple[float, ...]:
        """The deadlines one step of the deadline slider away, each way (the next key's likely values)."""
        try:
            s = self.query_one("#deadline", Slider)
        except NoMatches:
            return ()
        return tuple(float(s.values[j]) for j in (s.index - 1, s.index + 1) if 0 <= j < len(s.values))

    def shown_parts(self) -> Parts:
        """What the shown tab draws: the table needs every solver, a chart the selected one (and DP's, its
        fallback; exact joins when DP finds nothing, for the banner)."""
        try:
            tab = self.query_one(TabbedContent).active
            minis = self.query_one("#mini-charts")
        except NoMatches:   # a key typed while the app is still mounting: the first tab, charts and all
            return Parts(frontier=True, timelines=True, privacy=False)
        if tab in ("placement", ""):   # "": before the tabs mounted, the first tab
            # the mini charts: on tall terminals, unless a long strip scrolls their plots out of view
            seen = any(visible_area(p) for p in minis.query("ChartPlot"))
            return Parts(frontier=seen, timelines=seen, privacy=False)
        return Parts(CHART_SOLVERS | {self.selected}, frontier=tab == "frontier", timelines=tab == "timeline",
                     sweep=tab == "bandwidth", privacy=False)

    def complete_shown(self) -> None:
        """Solve again if the state lacks what the shown tab draws (the sweep is computed only while
        its chart is shown; a burst of keys may cut the second answer short)."""
        st = self.state
        if st is not None and not st.error and not st.parts.covers(self.shown_parts()):
            self.query_one("#tabs").add_class("-stale")   # a tab switch, not a key: dim at once
            self.resolve()

    def dim_if_late(self) -> None:
        """Dim the numbers and the strip if the answer to the latest request is not on screen within
        STALE_DIM_S (a slow solve shows its numbers are out of date; a fast one never restyles)."""
        asked = self._generation

        def dim() -> None:
            st = self.state
            if st is None or st.generation < asked or not (st.error or st.parts.covers(self.shown_parts())):
                self.query_one("#tabs").add_class("-stale")

        self.set_timer(STALE_DIM_S, dim)

    def undim(self) -> None:
        """The shown tab has its answer: undo dim_if_late (a no-op, no restyle, when it never dimmed)."""
        tabs = self.query_one("#tabs")
        if tabs.has_class("-stale"):
            tabs.remove_class("-stale")

    @work(thread=True, exclusive=True, group="solve")
    def _solve(self, choice: ProfileChoice, scenario: Scenario, generation: int, loaded: LoadedPolicy | None,
               parts: Parts, drawn: threading.Event, ahead: tuple[float, ...] = ()) -> None:
        worker = get_current_worker()
        try:
            state = compute_choice(choice, dict(self.profiles), scenario, generation, loaded, parts=parts,
                                   previous=self.state, cancelled=lambda: worker.is_cancelled)
            if worker.is_cancelled:
                return
            self.post_message(Solved(state))
            if state.error or (state.parts.covers(EVERY_PART) and state.sweep is None):
                return
            drawn.wait(DRAWN_WAIT_S)   # the rest waits for that frame: both need the GIL
            if not state.parts.covers(EVERY_PART):
                state = complete_state(state, EVERY_PART, cancelled=lambda: worker.is_cancelled)
                if worker.is_cancelled:
                    return
                self.post_message(Solved(state))
            if state.sweep is not None and state.sweep.table is not None:   # the next deadline bucket's
                prefetch_sweep(state.profile, state.scenario, state.sweep.table, lambda: worker.is_cancelled,
                               ahead)
        except Cancelled:
            return

    @work(thread=True, exclusive=True, group="solve")
    def _solve_tiers(self, choice: ProfileChoice, scenario: Scenario, topology: Topology, generation: int,
                     loaded: LoadedPolicy | None) -> None:
        worker = get_current_worker()
        state = tier_state(choice, dict(self.profiles), scenario, topology, generation, loaded, self.state,
                           cancelled=lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.post_message(Solved(state))

    # by name: a mixin's @on handlers are not collected (only the App subclass's own are)
    def on_solved(self, event: Solved) -> None:
        st = event.state
        if st.generation != self._generation:  # a newer request supersedes this answer
            return
        if st.profile is not self.profile and not st.error:
            self._profile_arrived(st)
        self.state = st
        if not self.user_selected and not st.error and (best := default_solver(st)) not in (None, self.selected):
            self.selected = best   # never chart or export a placement that breaks a limit by default
        self.run_after_solve()   # a key (e, s) pressed while this was being solved
        # after the frame that shows it (the worker then computes the hidden tabs' parts, or the next
        # sweep tables); twice, as the widgets the new state dirtied tell the screen only at their own
        # idle, which may come after the screen's first look
        self.call_after_refresh(self.call_after_refresh, self._drawn.set)
