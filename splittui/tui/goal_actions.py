"""The app's goal-seek actions, kept out of app.py: the goal dialog (g) and the cursor on the exact
frontier (f, on the Frontier tab), both applying a deadline to the deadline knob.

`GoalActions` is a mixin for `SplitApp`; it uses the app's `profile`, `scenario`, `state` and queries
its widgets. The exact frontier is computed in a thread worker (`request_frontier`: one label pass, or
one exact solve per Pareto point under limits, pins or memory limits) and cached per
scenario-without-deadline, so the UI thread only draws.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.message import Message

from ..model import Profile, Scenario
from .mixin_base import AppMixin
from .widgets.charts import Chart
from .widgets.controls import Controls
from .widgets.frontier_cursor import CursorPoint, FrontierCursor
from .widgets.slider import Slider

__all__ = ["GoalActions", "FrontierFound", "frontier_points"]


class FrontierFound(Message):
    """The frontier worker's answer for one (profile, scenario-without-deadline) key."""

    def __init__(self, key: tuple, points: tuple[CursorPoint, ...], error: str = "") -> None:
        super().__init__()
        self.key, self.points, self.error = key, points, error


def frontier_key(profile: Profile, sc: Scenario) -> tuple:
    """What the exact frontier depends on: every field of the scenario but its deadline (a tuple, not a
    Scenario at some other deadline, which a TTFT limit above that deadline would make invalid)."""
    return (id(profile), tuple((f, getattr(sc, f)) for f in sc.__dataclass_fields__ if f != "deadline_ms"))


def frontier_points(profile: Profile, sc: Scenario,
                    should_stop: Callable[[], bool] | None = None) -> tuple[CursorPoint, ...]:
    """Every Pareto-optimal policy of the scenario (its deadline ignored) that meets its TTFT/TPOT limits,
    fastest first."""
    from ..generation import phase_costs
    from ..solvers.goal import request_frontier

    points = request_frontier(phase_costs(profile, sc), sc, should_stop=should_stop)
    return tuple(CursorPoint(p.deadline_ms, float(p.result.server_share or 0.0), tuple(p.result.policy or ()),
                             int(p.result.switches or 0)) for p in points)   # frontier points are feasible


class GoalActions(AppMixin):
    """Goal (g) and frontier-cursor (f) actions; bound in `SplitApp.BINDINGS`."""

    goal_share: float | None = None
    goal_seek: str = "deadline"
    _frontier_key: tuple | None = None
    _frontier_points: tuple[CursorPoint, ...] | None = None

    def action_goal(self) -> None:
        from .screens.goal import GoalApplied, GoalScreen

        def done(applied: GoalApplied | None) -> None:
            self.goal_share, self.goal_seek = screen.share, screen.seek
            if applied is not None and applied.seek == "uplink":
                self.apply_uplink(applied.value)
            elif applied is not None:
                self.apply_deadline(applied.value)

        screen = GoalScreen(self.profile, self.query_one("#controls", Controls).scenario, self.goal_share,
                            self.goal_seek)
        self.push_screen(screen, done)

    def apply_uplink(self, up_mbps: float) -> None:
        """Set the upload knob (the download keeps its ratio to it, as the seek assumed) and say so."""
        controls = self.query_one("#controls", Controls)
        sc = controls.scenario
        ratio = float(sc.down_mbps or sc.up_mbps) / sc.up_mbps
        self.query_one("#up", Slider).set_value(up_mbps)
        if not controls.linked:
            self.query_one("#down", Slider).set_value(up_mbps * ratio)
        self.notify(f"upload set to {up_mbps:,.4g} Mbit/s", timeout=3)

    def apply_deadline(self, deadline_ms: float) -> None:
        """Set the deadline knob (which re-solves) and say so."""
        self.query_one("#deadline", Slider).set_value(deadline_ms)
        self.notify(f"deadline set to {deadline_ms:,.3f} ms", timeout=3)

    def action_frontier_cursor(self) -> None:
        self.set_focus(None)   # no knob to give the keys back to: the cursor takes them
        self.action_show_tab("frontier")
        self.query_one(FrontierCursor).focus()   # now, so that a key pressed right after f moves the cursor
        self.refresh_frontier()

    def refresh_frontier(self) -> None:
        """Recompute the exact frontier in the worker unless the cached one answers this scenario."""
        sc = self.query_one("#controls", Controls).scenario
        key = frontier_key(self.profile, sc)
        cursor = self.query_one(FrontierCursor)
        if key == self._frontier_key and self._frontier_points is not None:
            if not cursor.points:
                cursor.show(self._frontier_points, sc.deadline_ms)
            return
        self._frontier_key, self._frontier_points = key, None
        self._chart_exact(())
        cursor.waiting("computing the exact frontier…")
        self._find_frontier(self.profile, sc, key)

    @work(thread=True, exclusive=True, group="frontier")
    def _find_frontier(self, profile: Profile, sc: Scenario, key: tuple) -> None:
        from textual.worker import get_current_worker

        from ..errors import SplittuiError
        from ..solvers.goal import FrontierCancelled

        worker = get_current_worker()
        try:
            self.post_message(FrontierFound(key, frontier_points(profile, sc, lambda: worker.is_cancelled)))
        except FrontierCancelled:
            return   # a newer scenario or the app's exit cancelled it: nothing to show
        except SplittuiError as exc:
            self.post_message(FrontierFound(key, (), str(exc)))

    # handlers by name: a mixin's @on handlers are not collected (only the App subclass's own are)
    def on_frontier_found(self, event: FrontierFound) -> None:
        if event.key != self._frontier_key:
            return
        self._frontier_points = event.points
        cursor = self.query_one(FrontierCursor)
        if event.error:
            cursor.waiting(event.error)
            return
        cursor.show(event.points, self.query_one("#controls", Controls).scenario.deadline_ms)
        self._chart_exact(event.points)

    def _chart_exact(self, points: tuple[CursorPoint, ...]) -> None:
        for chart in self.query("#chart-frontier, #mini-frontier").results(Chart):
            chart.exact = tuple((p.deadline_ms, p.share) for p in points)
            chart.redraw()

    def on_frontier_cursor_moved(self, event: FrontierCursor.Moved) -> None:
        chart = self.query_one("#chart-frontier", Chart)
        chart.cursor = event.deadline_ms
        chart.redraw()

    def on_frontier_cursor_applied(self, event: FrontierCursor.Applied) -> None:
        self.apply_deadline(event.deadline_ms)
