"""Bounds on the client reward the layers after a label can still add under a deadline and a client byte budget.

Used by the constrained label pass (`constrained`, SPEC §10) when a client memory limit binds. For a label
(layer i done on a side; latency t, reward r, client bytes held h, client activation peak a so far) any
feasible completion adds latency τ ≤ Λ − t and client bytes β ≤ B − h − a (the final activation peak is at
least a). Two families of upper bounds on the reward ρ it adds, each exact in one resource and Lagrangian in
the other:

* exact in latency: for μ ≥ 0, ρ ≤ max{ρ' − μ·β' : rests with τ' ≤ Λ − t} + μ·(B − h − a)
  (ρ − μβ is at most that maximum, and μβ ≤ μ(B − h − a));
* exact in memory: for λ ≥ 0, ρ ≤ max{ρ' − λ·τ' : rests with β' ≤ B − h − a} + λ·(Λ − t).

Each maximum is read from the rest's Pareto front (cost ascending, value ascending) of every state, built by
one backward pass per multiplier (`rest_fronts`); a label's bound is the least over the multipliers. Pins
bar the moves onto the other side. Float noise is absorbed by evaluating at budgets a little larger.

Time: O(L·f log f) numpy per multiplier for fronts of f labels (tens on transformer chains, a few hundred
for small λ), O(m log f) per m labels and multiplier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Rest", "rest_fronts", "RestBounds"]

_F = NDArray[np.float64]
Front = tuple[_F, _F]          # costs ascending, values strictly ascending


@dataclass(frozen=True, slots=True)
class Rest:
    """A chain's per-layer cost and value of each move (side 0 client, 1 server), for one backward pass."""

    cost: _F        # (L, 2): layer on the client / server
    value: _F       # (L, 2)
    hop_cost: _F    # (L, 2): entering the layer from the other side: [l, 0] server→client, [l, 1] client→server
    hop_value: _F   # (L, 2)
    tail_cost: tuple[float, float]    # delivering the answer after the last layer on the client / server
    tail_value: tuple[float, float]
    pin: NDArray[np.int8]             # 1 client, 0 server, −1 free


def _pareto(cost: _F, value: _F, limit: float) -> Front:
    ok = cost <= limit
    if not ok.all():
        cost, value = cost[ok], value[ok]
    if cost.size <= 1:
        return cost, value
    order = np.lexsort((-value, cost))
    c, v = cost[order], value[order]
    keep = np.empty(v.size, dtype=bool)
    keep[0] = True
    np.greater(v[1:], np.maximum.accumulate(v)[:-1], out=keep[1:])
    return c[keep], v[keep]


def rest_fronts(rs: Rest, limit: float) -> list[tuple[Front, Front]]:
    """Per i = 0..L: the fronts of layers i..L−1 plus the answer's delivery, from 'layer i−1 done on the client'
    and 'on the server' (i = 0: from the start side), costs above `limit` dropped."""
    n = rs.cost.shape[0]
    empty = np.zeros(0)
    out: list[tuple[Front, Front]] = [(empty, empty)] * (n + 1)   # type: ignore[list-item]
    nxt = ((np.array([rs.tail_cost[0]]), np.array([rs.tail_value[0]])),
           (np.array([rs.tail_cost[1]]), np.array([rs.tail_value[1]])))
    out[n] = nxt
    pins = rs.pin.tolist()
    for i in range(n - 1, -1, -1):
        on = []     # the rest with layer i on side s, before the hop into it
        for s in (0, 1):
            if pins[i] == s:     # pinned to the other side (pin 0 = server bars side 0 = client, and back)
                on.append((empty, empty))
            else:
                on.append((nxt[s][0] + rs.cost[i, s], nxt[s][1] + rs.value[i, s]))
        cur = []
        for s in (0, 1):
            o = 1 - s
            cost = np.concatenate((on[s][0], on[o][0] + rs.hop_cost[i, o]))
            value = np.concatenate((on[s][1], on[o][1] + rs.hop_value[i, o]))
            cur.append(_pareto(cost, value, limit))
        nxt = (cur[0], cur[1])
        out[i] = nxt
    return out


def _best(front: Front, budget: _F) -> _F:
    """The best value within each budget (−inf where none fits)."""
    cost, value = front
    if cost.size == 0:
        return np.full(budget.shape, -math.inf)
    k = cost.searchsorted(budget, side="right")
    out: _F = np.where(k > 0, value[np.maximum(k - 1, 0)], -math.inf)
    return out


class RestBounds:
    """The two bound families of the module docstring for one chain, client byte budget and deadline."""

    __slots__ = ("mus", "lams", "lat_fronts", "mem_fronts", "deadline", "budget", "t_slack", "m_slack")

    def __init__(self, lat: Rest, held: NDArray[np.float64], reward: _F, *, deadline: float, budget: float,
                 mus: list[float], lams: list[float]) -> None:
        self.deadline, self.budget = deadline, budget
        self.t_slack = 1e-9 * max(1.0, abs(deadline))
        self.m_slack = 1e-9 * max(1.0, abs(budget))
        self.mus, self.lams = mus, lams
        n = len(reward)
        zero2 = np.zeros((n, 2))
        client_value = np.stack((reward, np.zeros(n)), axis=1)
        self.lat_fronts = [rest_fronts(Rest(lat.cost, client_value - mu * np.stack((held, np.zeros(n)), axis=1),
                                            lat.hop_cost, zero2, lat.tail_cost, (0.0, 0.0), lat.pin),
                                       deadline + self.t_slack) for mu in mus]
        held2 = np.stack((held, np.zeros(n)), axis=1)
        self.mem_fronts = [rest_fronts(Rest(held2, client_value - lam * lat.cost, zero2, -lam * lat.hop_cost,
                                            (0.0, 0.0), (-lam * lat.tail_cost[0], -lam * lat.tail_cost[1]),
                                            lat.pin), budget + self.m_slack) for lam in lams]

    def at(self, i: int, side: int, t: _F, r: _F, h: _F, a: _F) -> _F:
        """Upper bounds on the final reward of labels after layer i−1 on `side` (0 client, 1 server)."""
        room = self.budget - h - np.maximum(a, 0.0)
        time_left = self.deadline - t
        ub = np.full(t.shape, math.inf)
        for mu, fr in zip(self.mus, self.lat_fronts, strict=True):
            np.minimum(ub, _best(fr[i][side], time_left + self.t_slack) + mu * room, out=ub)
        for lam, fr in zip(self.lams, self.mem_fronts, strict=True):
            np.minimum(ub, _best(fr[i][side], room + self.m_slack) + lam * time_left, out=ub)
        out: _F = r + ub
        return out
