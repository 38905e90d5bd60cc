"""The exact deadline->load Pareto front that goal seek walks (see `goal`'s module docstring).

`exact_frontier` gives every Pareto-optimal (latency, server load) policy of a chain, fastest first, read from
one label pass (`one_pass`) or, where that does not apply, from one exact solve per point (`_solve_at`, at a
deadline set with `scenario_at`). `goal` seeks its least deadlines on this front and re-exports these names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from ..model import Result, Scenario
from .baselines import prefix_latencies


def scenario_at(sc: Scenario, deadline_ms: float) -> Scenario:
    """`sc` at another deadline; a TTFT limit at or above it is implied by the deadline and dropped."""
    d = max(deadline_ms, 1e-12)  # a Scenario's deadline must be > 0
    ttft = sc.ttft_ms if sc.ttft_ms is not None and sc.ttft_ms < d else None
    return sc.replace(deadline_ms=d, ttft_ms=ttft)


def _solve_at(c: Costs, sc: Scenario, solver: str, deadline_ms: float) -> Result:
    from . import solve_costs

    return solve_costs(replace(c, deadline_ms=deadline_ms), scenario_at(sc, deadline_ms), solver)


class FrontierCancelled(Exception):
    """`exact_frontier` was asked to stop (its caller's worker was cancelled)."""


@dataclass(frozen=True, slots=True)
class FrontierPoint:
    """One Pareto-optimal policy: from `deadline_ms` on (until the next point) it is exact's answer."""

    deadline_ms: float
    result: Result


def exact_frontier(c: Costs, sc: Scenario, *, max_points: int = 100_000,
                   should_stop: Callable[[], bool] | None = None) -> list[FrontierPoint]:
    """Every Pareto-optimal (latency, server load) policy, fastest first: the exact deadline->load frontier.

    Starts at the least-loaded policy's latency and repeatedly asks exact for the best policy strictly
    faster than the last one: one label pass read P times (`one_pass`), or P exact solves for P points where
    the chain is constrained or that pass would be capped.
    """
    from . import evaluate_costs

    top = float(prefix_latencies(c)[c.n]) + _slack(c)
    read = None if c.constrained else one_pass(c, top, None)

    def at(deadline: float) -> Result:
        if read is None:
            return _solve_at(c, sc, "exact", deadline)
        t0 = time.perf_counter()
        policy = read(deadline)
        return evaluate_costs(replace(c, deadline_ms=deadline), policy, solver="exact",
                              solve_ms=(time.perf_counter() - t0) * 1e3)

    return walk_frontier(at(top), at, max_points=max_points, should_stop=should_stop)


def walk_frontier(res: Result, at: Callable[[float], Result], *, max_points: int,
                  should_stop: Callable[[], bool] | None = None,
                  dominated: Callable[[Result, Result], bool] | None = None,
                  last: Callable[[Result], bool] | None = None) -> list[FrontierPoint]:
    """From `res` (the answer at a deadline above every policy), ask `at` for the best policy strictly faster
    than the last point until none is feasible: the points, fastest first. `dominated(previous, new)`: the
    previous point gives way to the new one; `last(res)`: no point after this one is wanted."""
    points: list[FrontierPoint] = []
    while res.feasible and res.latency_ms is not None and len(points) < max_points:
        if should_stop is not None and should_stop():   # a cancelled worker: stop between two solves
            raise FrontierCancelled()
        if dominated is not None and points and dominated(points[-1].result, res):
            points.pop()
        points.append(FrontierPoint(res.latency_ms, res))
        if last is not None and last(res):
            break
        below = res.latency_ms - 2e-9 * max(1.0, abs(res.latency_ms))
        if below <= 0:
            break
        res = at(below)
    points.reverse()
    return points


def one_pass(search: Costs, top: float, pin: NDArray[np.int8] | None
             ) -> Callable[[float], tuple[int, ...] | None] | None:
    """Exact's policy on `search` at any deadline up to `top`, read from one label pass's last fronts
    (`exact.final_fronts`; pinned layers checked with `pin`); None where that pass would be capped."""
    from .constrained_pins import keeps_pins
    from .exact import best_within, final_fronts

    fronts = final_fronts(search, top)
    if fronts is None:
        return None
    return lambda deadline: keeps_pins(best_within(search, fronts, deadline), pin)


def _slack(c: Costs) -> float:
    """Enough deadline for the all-client policy whatever the start and end sides."""
    return float(c.up_out_ms + c.down_out_ms + c.down_ms.max(initial=0.0) + c.up_ms.max(initial=0.0))
