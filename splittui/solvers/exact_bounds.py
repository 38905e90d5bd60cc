"""Upper bounds on the reward a chain's remaining layers can still add within a latency budget (Lagrangian).

For a multiplier λ ≥ 0 and a state (layer i done, on the client or the server), ``G_λ(i, side)`` is the best
``reward − λ·latency`` over every way of running layers i+1..L and delivering the answer: one backward pass
over the chain, O(L) per λ. For any budget b, weak duality gives

    best reward of the rest within latency b  ≤  G_λ(i, side) + λ·b          (every λ ≥ 0)

and the least over all λ is the concave majorant (upper hull) of the rest's (latency, reward) Pareto front.
`FutureBounds` keeps G on a grid of K multipliers, finely spaced around the slope of that hull at the
deadline at the start, and evaluates, per label, the grid point nearest the minimiser (found from G's
discrete slopes, which estimate the latency of the rest's λ-optimal policies). Any λ gives a valid bound;
the grid only decides how tight it is. Float noise is absorbed by evaluating at a slightly larger budget.

Time O(L·K) numpy for the table (one vector step per layer) and O(m log K) per m labels; memory (L+1)·2·K
floats. Used by the exact solvers (`exact`, `constrained`) to prune labels that cannot beat a target reward.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs

__all__ = ["FutureBounds", "GRID_POINTS"]

_F = NDArray[np.float64]
GRID_POINTS = 256        # multipliers in the fine grid, λ*·2^−SPAN .. λ*·2^SPAN (ratio 1.008 between two)
_SPAN = 1.0
_WIDE = 16               # and as many on each side from there to λ*·2^±WIDE_SPAN, plus λ = 0
_WIDE_SPAN = 10.0
_COARSE = 48             # multipliers of the first, start-only pass that finds the hull's slope at the deadline


_BARRED = -1e300   # a move a pin forbids: finite, so that G's differences stay numbers


def _steps(c: Costs, lams: _F) -> tuple[_F, _F, _F]:
    """Per layer the increments of G for both sides: A (stay), B (switch), and the end values; shape (L, 2, K).
    Pins (c.pin: 1 client, 0 server, −1 free) bar the moves onto the other side."""
    A = np.empty((c.n, 2, lams.size))
    B = np.empty((c.n, 2, lams.size))
    A[:, 0] = c.reward[:, None] - np.multiply.outer(c.client_ms, lams)           # client → client
    A[:, 1] = -np.multiply.outer(c.server_ms, lams)                               # server → server
    B[:, 0] = -np.multiply.outer(c.server_ms + c.up_ms, lams)                     # client → server
    B[:, 1] = c.reward[:, None] - np.multiply.outer(c.client_ms + c.down_ms, lams)   # server → client
    if c.pin is not None:
        on_s, on_c = c.pin == 1, c.pin == 0          # layers that may not run on the server / the client
        A[on_s, 1] = B[on_s, 0] = _BARRED
        A[on_c, 0] = B[on_c, 1] = _BARRED
    tail_c = 0.0 if c.end_client else float(c.up_out_ms)
    tail_s = float(c.down_out_ms) if c.end_client else 0.0
    end = np.stack((-lams * tail_c, -lams * tail_s))
    return A, B, end


class FutureBounds:
    """G on a grid of multipliers for every state of a chain (see the module docstring)."""

    __slots__ = ("lams", "G", "tau", "neg_tau", "slope", "slack")

    def __init__(self, c: Costs, *, budget: float, points: int = GRID_POINTS) -> None:
        scale = float(np.abs(c.reward).sum()) / max(abs(budget), 1e-9) or 1.0
        coarse = np.concatenate(([0.0], scale * 2.0 ** np.linspace(-24.0, 24.0, _COARSE)))
        g0 = self._start(c, coarse)
        at = g0[0 if c.start_client else 1] + coarse * budget
        k = int(np.argmin(at))
        star = coarse[k] if coarse[k] > 0 else coarse[1]
        low = np.linspace(-_WIDE_SPAN, -_SPAN, _WIDE, endpoint=False)
        self.lams: _F = np.concatenate(([0.0], star * 2.0 ** np.concatenate(
            (low, np.linspace(-_SPAN, _SPAN, points), -low[::-1]))))
        self.G, self.tau = self._table(c, self.lams)
        self.neg_tau: _F = -self.tau
        self.slope: _F = np.diff(self.G, axis=2) / np.diff(self.lams)   # −(latency of λ-optimal rests), ascending
        self.slack = 1e-9 * max(1.0, abs(budget))

    @staticmethod
    def _start(c: Costs, lams: _F) -> _F:
        """G of the start states only."""
        A, B, g = _steps(c, lams)
        for i in range(c.n - 1, -1, -1):
            g = np.maximum(g + A[i], g[::-1] + B[i])
            if c.pin is not None:
                np.maximum(g, _BARRED, out=g)
        return g

    @staticmethod
    def _table(c: Costs, lams: _F) -> tuple[_F, _F]:
        """G and the latency τ of the λ-optimal rest, for every state, by one backward pass (ties: stay)."""
        A, B, g = _steps(c, lams)
        G = np.empty((c.n + 1, 2, lams.size))
        tau = np.empty_like(G)
        G[c.n] = g
        tau[c.n] = np.stack((np.full(lams.size, 0.0 if c.end_client else float(c.up_out_ms)),
                             np.full(lams.size, float(c.down_out_ms) if c.end_client else 0.0)))
        stay_ms = np.stack((c.client_ms, c.server_ms), axis=1)[:, :, None]              # (L, 2, 1)
        move_ms = np.stack((c.server_ms + c.up_ms, c.client_ms + c.down_ms), axis=1)[:, :, None]
        add, less, mx, put = np.add, np.less, np.maximum, np.copyto
        tmp, tmp2 = np.empty_like(g), np.empty_like(g)
        move = np.empty(g.shape, dtype=bool)
        pinned = c.pin is not None
        for i in range(c.n - 1, -1, -1):
            g, t, gi, ti = G[i + 1], tau[i + 1], G[i], tau[i]
            add(g, A[i], out=gi)
            add(g[::-1], B[i], out=tmp)
            less(gi, tmp, out=move)
            mx(gi, tmp, out=gi)
            if pinned:
                mx(gi, _BARRED, out=gi)   # barred sums stay finite (never reach −inf)
            add(t, stay_ms[i], out=ti)
            add(t[::-1], move_ms[i], out=tmp2)
            put(ti, tmp2, where=move)
        return G, tau

    def start(self, start_client: bool, budget: float) -> float:
        """The bound on the whole chain's reward within `budget` (from the start state)."""
        return float(self.at(0, 0 if start_client else 1, np.array([budget]))[0])

    def at(self, i: int, side: int, budget: _F) -> _F:
        """Bounds on the reward after 'layer i done on side' (0 client, 1 server; i = 0 is the start) within
        each budget (an array); −inf never: an unreachable budget is caught by the least remaining latency."""
        b = budget + self.slack
        k = self.slope[i, side].searchsorted(-b)
        out: _F = self.G[i, side, k] + self.lams[k] * b
        return out

    def at_neg(self, i: int, side: int, neg_budget: _F) -> _F:
        """`at` for budgets given negated and with the slack already subtracted (one numpy call fewer)."""
        k = self.slope[i, side].searchsorted(neg_budget)
        out: _F = self.G[i, side, k] - self.lams[k] * neg_budget
        return out

    def reach(self, i: int, side: int, budget: _F) -> _F:
        """Rewards the rest can surely add within each budget: that of the most rewarding λ-optimal rest
        whose latency (summed backwards) fits; −inf where none does. A lower bound, for incumbents."""
        tau = self.tau[i, side]
        k = np.minimum(self.neg_tau[i, side].searchsorted(-budget), tau.size - 1)
        t = tau[k]
        out: _F = np.where(t <= budget, self.G[i, side, k] + self.lams[k] * t, -np.inf)
        return out
