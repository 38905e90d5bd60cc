"""The exact optimum with no time unit: Pareto labels (latency, reward) per layer and side.

A label is kept only if no other label at the same state is both faster and more rewarding, and
only if it can still reach the end by the deadline (pruned with the least remaining latency).
Worst case exponential in L, in practice a few hundred labels per state on transformer chains.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs

__all__ = ["exact_policy", "remaining_latency", "meets"]


# per side (1 = client, 0 = server): the labels' latencies and rewards, and per layer their parents
_Labels = dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]]
_History = list[dict[int, tuple[NDArray[np.intp], NDArray[np.intp]]]]


def meets(latency_ms: float, deadline_ms: float) -> bool:
    """Deadline test shared by every solver: absorbs float summation noise only."""
    return latency_ms <= deadline_ms + 1e-9 * max(1.0, abs(deadline_ms))


def remaining_latency(c: Costs) -> tuple[np.ndarray, np.ndarray]:
    """rem_c[i], rem_s[i]: least latency from 'layer i done on client/server' to the end (i = 0..L)."""
    L = c.n
    rem_c, rem_s = np.empty(L + 1), np.empty(L + 1)
    rem_c[L] = 0.0 if c.end_client else c.up_out_ms
    rem_s[L] = c.down_out_ms if c.end_client else 0.0
    for i in range(L - 1, -1, -1):
        to_c = c.client_ms[i] + rem_c[i + 1]
        to_s = c.server_ms[i] + rem_s[i + 1]
        rem_c[i] = min(to_c, c.up_ms[i] + to_s)
        rem_s[i] = min(to_s, c.down_ms[i] + to_c)
    return rem_c, rem_s


def _pareto(lat: np.ndarray, rew: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Indices (into the candidates) of the Pareto front among `keep`, sorted by latency."""
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return idx
    order = idx[np.lexsort((-rew[idx], lat[idx]))]
    r = rew[order]
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], r[:-1])))
    return order[r > best_before]


def exact_policy(c: Costs) -> tuple[int, ...] | None:
    """Max client reward policy meeting c.deadline_ms exactly, or None if none does."""
    rem_c, rem_s = remaining_latency(c)
    limit = c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)
    zero = np.zeros(1)
    empty = np.zeros(0)
    lab = {1: (zero, zero) if c.start_client else (empty, empty),
           0: (empty, empty) if c.start_client else (zero, zero)}
    history = []  # per layer: {side: (parent_side array, parent_idx array)}
    for i in range(c.n):
        new, parents = {}, {}
        for side, own_ms, rew_add, rem in ((1, c.client_ms[i], c.reward[i], rem_c[i + 1]),
                                           (0, c.server_ms[i], 0.0, rem_s[i + 1])):
            hop = c.down_ms[i] if side == 1 else c.up_ms[i]
            same_lat, same_rew = lab[side]
            oth_lat, oth_rew = lab[1 - side]
            lat = np.concatenate((same_lat, oth_lat + hop)) + own_ms
            rew = np.concatenate((same_rew, oth_rew)) + rew_add
            psrc = np.concatenate((np.full(same_lat.size, side), np.full(oth_lat.size, 1 - side)))
            pidx = np.concatenate((np.arange(same_lat.size), np.arange(oth_lat.size)))
            keep = _pareto(lat, rew, lat + rem <= limit)
            new[side] = (lat[keep], rew[keep])
            parents[side] = (psrc[keep], pidx[keep])
        lab = new
        history.append(parents)
    return _finish(c, lab, history, limit)


def _finish(c: Costs, lab: _Labels, history: _History, limit: float) -> tuple[int, ...] | None:
    best = None  # (reward, -latency, side, index)
    for side in (1, 0):
        lat, rew = lab[side]
        if side == 1:
            tail = 0.0 if c.end_client else c.up_out_ms
        else:
            tail = c.down_out_ms if c.end_client else 0.0
        ok = np.flatnonzero(lat + tail <= limit)
        if ok.size:
            i = ok[np.lexsort((lat[ok], -rew[ok]))[0]]
            cand = (rew[i], -(lat[i] + tail), side, int(i))
            if best is None or cand[:2] > best[:2]:
                best = cand
    if best is None:
        return None
    side, idx = best[2], best[3]
    policy = [0] * c.n
    for k in range(c.n - 1, -1, -1):
        policy[k] = side
        psrc, pidx = history[k][side]
        side, idx = int(psrc[idx]), int(pidx[idx])
    return tuple(policy)
