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
bar the moves onto the other side. Float noise is absorbed by evaluating at budgets a little larger. Where
no rest fits a label's budget the bound is −inf: the label cannot be completed and is pruned.

Over identical repeated blocks (`constrained_blocks`) a label of level 2 or 3 may take fewer completions;
`level_fronts` builds those levels' fronts by the same backward pass over the moves the level allows, so
their bounds are tighter and still hold for every completion the pass keeps.

Time: O(L·f) numpy per multiplier for fronts of f labels (the two shifted fronts merged by a stable sort;
hundreds on transformer chains, thousands for small λ), 2.5 times that with levels; O(m log f) per m labels
and multiplier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Rest", "rest_fronts", "RestBounds", "level_fronts"]

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
    # the two shifted fronts are sorted runs: a stable sort merges them in linear time; of equal costs the
    # last one kept has the highest value (values kept rise strictly), so it alone stays
    order = np.argsort(cost, kind="stable")
    c, v = cost[order], value[order]
    keep = np.empty(v.size, dtype=bool)
    keep[0] = True
    np.greater(v[1:], np.maximum.accumulate(v)[:-1], out=keep[1:])
    c, v = c[keep], v[keep]
    last = np.empty(c.size, dtype=bool)
    last[-1] = True
    np.not_equal(c[1:], c[:-1], out=last[:-1])
    return c[last], v[last]


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
        # the rest with layer i on side s, before the hop into it (pin 0 = server bars side 0 = client, and back)
        on = [(empty, empty) if pins[i] == s else _on(rs, i, s, nxt[s]) for s in (0, 1)]
        nxt = (_merge(on[0], _hop(rs, i, 1, on[1]), limit), _merge(on[1], _hop(rs, i, 0, on[0]), limit))
        out[i] = nxt
    return out


LevelFronts = list[tuple[Front, Front, Front]]


def level_fronts(rs: Rest, limit: float, region: tuple[int, int, int], free: list[tuple[Front, Front]]
                 ) -> LevelFronts:
    """Per i = 0..L, `rest_fronts`'s fronts over the completions a canonical label of level 2 (on the server)
    and of level 3 (on the client, on the server) may take after layer i−1: a level-2 label stays on the
    server or moves to the client (level 3); a level-3 label is on the client at each remaining block end.
    Past the region (and before it, where no label has those levels) the free fronts (`free`). `region`: the
    first layer, the end and the period of the identical blocks (`constrained_blocks`)."""
    start, stop, period = region
    empty = np.zeros(0)
    out: LevelFronts = [(f[1], f[0], f[1]) for f in free]
    pins = rs.pin.tolist()
    for i in range(stop - 1, start - 1, -1):
        last = i == stop - 1
        end = (i - start + 1) % period == 0
        f2, f3c, f3s = out[i + 1]
        nxt3 = (free[i + 1][0], free[i + 1][1]) if last else (f3c, f3s)   # past the last end: free again
        nxt2 = free[i + 1][1] if last else f2
        on3 = [_on(rs, i, 0, nxt3[0]) if pins[i] != 0 else (empty, empty),
               _on(rs, i, 1, nxt3[1]) if pins[i] != 1 and not end else (empty, empty)]
        on2 = _on(rs, i, 1, nxt2) if pins[i] != 1 else (empty, empty)
        g3 = []
        for s in (0, 1):     # level 3 after layer i−1 on side s
            o = 1 - s
            g3.append(_merge(on3[s], _hop(rs, i, o, on3[o]), limit))
        g2 = _merge(on2, _hop(rs, i, 0, on3[0]), limit)   # level 2 is on the server: to the client, level 3
        out[i] = (g2, g3[0], g3[1])
    return out


def _on(rs: Rest, i: int, s: int, nxt: Front) -> Front:
    return nxt[0] + rs.cost[i, s], nxt[1] + rs.value[i, s]


def _hop(rs: Rest, i: int, s: int, on: Front) -> Front:
    """`on` (layer i on side s) entered from the other side."""
    return on[0] + rs.hop_cost[i, s], on[1] + rs.hop_value[i, s]


def _merge(a: Front, b: Front, limit: float) -> Front:
    return _pareto(np.concatenate((a[0], b[0])), np.concatenate((a[1], b[1])), limit)


def _best(front: Front, budget: _F) -> _F:
    """The best value within each budget (−inf where none fits)."""
    cost, value = front
    if cost.size == 0:
        return np.full(budget.shape, -math.inf)
    k = cost.searchsorted(budget, side="right")
    out: _F = np.where(k > 0, value[np.maximum(k - 1, 0)], -math.inf)
    return out


_Family = tuple[list[tuple[Front, Front]], LevelFronts | None, _F, _F]


class RestBounds:
    """The two bound families of the module docstring for one chain, client byte budget and deadline; with
    `region` (identical blocks, `constrained_blocks`), per family also the fronts of levels 2 and 3."""

    __slots__ = ("mus", "lams", "lat_fronts", "mem_fronts", "lat_levels", "mem_levels", "deadline", "budget",
                 "t_slack", "m_slack")

    def __init__(self, lat: Rest, held: NDArray[np.float64], reward: _F, *, deadline: float, budget: float,
                 mus: list[float], lams: list[float], region: tuple[int, int, int] | None = None) -> None:
        self.deadline, self.budget = deadline, budget
        self.t_slack = 1e-9 * max(1.0, abs(deadline))
        self.m_slack = 1e-9 * max(1.0, abs(budget))
        self.mus, self.lams = mus, lams
        n = len(reward)
        zero2 = np.zeros((n, 2))
        client_value = np.stack((reward, np.zeros(n)), axis=1)
        lat_rests = [Rest(lat.cost, client_value - mu * np.stack((held, np.zeros(n)), axis=1), lat.hop_cost, zero2,
                          lat.tail_cost, (0.0, 0.0), lat.pin) for mu in mus]
        held2 = np.stack((held, np.zeros(n)), axis=1)
        mem_rests = [Rest(held2, client_value - lam * lat.cost, zero2, -lam * lat.hop_cost, (0.0, 0.0),
                          (-lam * lat.tail_cost[0], -lam * lat.tail_cost[1]), lat.pin) for lam in lams]
        t_lim, m_lim = deadline + self.t_slack, budget + self.m_slack
        self.lat_fronts = [rest_fronts(rs, t_lim) for rs in lat_rests]
        self.mem_fronts = [rest_fronts(rs, m_lim) for rs in mem_rests]
        self.lat_levels = None if region is None else [level_fronts(rs, t_lim, region, fr)
                                                       for rs, fr in zip(lat_rests, self.lat_fronts, strict=True)]
        self.mem_levels = None if region is None else [level_fronts(rs, m_lim, region, fr)
                                                       for rs, fr in zip(mem_rests, self.mem_fronts, strict=True)]

    def at(self, i: int, side: int, t: _F, r: _F, h: _F, a: _F, lv: NDArray[np.int8] | None = None) -> _F:
        """Upper bounds on the final reward of labels after layer i−1 on `side` (0 client, 1 server); `lv` as in
        `reaches`."""
        room = self.budget - h - np.maximum(a, 0.0)
        time_left = self.deadline - t
        ub = np.full(t.shape, math.inf)
        for fr, levels, budget, credit in self._families(time_left, room):
            np.minimum(ub, _level_best(fr[i][side], None if levels is None else levels[i], side, budget, lv)
                       + credit, out=ub)
        out: _F = r + ub
        return out

    def _families(self, time_left: _F, room: _F) -> list[_Family]:
        """Per family, those exact in bytes first (they prune most on transformer chains): its fronts, its level
        fronts, each label's budget in the fronts' cost and its credit (the multiplier times the other room)."""
        lat_lv: list[LevelFronts | None] = list(self.lat_levels) if self.lat_levels else [None] * len(self.mus)
        mem_lv: list[LevelFronts | None] = list(self.mem_levels) if self.mem_levels else [None] * len(self.lams)
        fams: list[_Family] = [(fr, lv, room + self.m_slack, lam * time_left)
                               for lam, fr, lv in zip(self.lams, self.mem_fronts, mem_lv, strict=True)]
        fams += [(fr, lv, time_left + self.t_slack, mu * room)
                 for mu, fr, lv in zip(self.mus, self.lat_fronts, lat_lv, strict=True)]
        return fams

    def reaches(self, i: int, side: int, t: _F, r: _F, h: _F, a: _F, need: float,
                lv: NDArray[np.int8] | None = None) -> NDArray[np.bool_]:
        """Whether each label's bound (`at`) reaches `need` (less 1e-9 of the bound: float noise): each family's
        bound is checked in turn on the labels the earlier ones kept, so a label one family prunes costs no
        more look-ups. `lv`: the labels' levels (`constrained_blocks`); those of levels 2 and 3 are bounded
        over the completions their level allows (the level fronts)."""
        room = self.budget - h - np.maximum(a, 0.0)
        time_left = self.deadline - t
        alive = np.arange(t.size)
        for fr, levels, budget, credit in self._families(time_left, room):
            if not alive.size:
                break
            best = _level_best(fr[i][side], None if levels is None else levels[i], side, budget[alive],
                               None if lv is None else lv[alive])
            ub = r[alive] + best + credit[alive]
            alive = alive[ub >= need - 1e-9 * np.abs(ub)]
        out = np.zeros(t.size, dtype=bool)
        out[alive] = True
        return out


def _level_best(front: Front, levels: tuple[Front, Front, Front] | None, side: int, budget: _F,
                lv: NDArray[np.int8] | None) -> _F:
    """The best rest value within each budget, from the level fronts for labels of levels 2 and 3."""
    best = _best(front, budget)
    if levels is not None and lv is not None:
        for v, lf in ((2, levels[0]), (3, levels[1 + side])):
            at_v = np.flatnonzero(lv == v)
            if at_v.size:
                best[at_v] = _best(lf, budget[at_v])
    return best
