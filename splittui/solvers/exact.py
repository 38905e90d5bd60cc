"""The exact optimum with no time unit: Pareto labels (latency, reward) per layer and side.

A label is kept only if no other label at the same state is both faster and more rewarding, and
only if it can still reach the end by the deadline (pruned with the least remaining latency).
Worst case exponential in L, in practice a few hundred labels per state on transformer chains.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs

__all__ = ["exact_policy", "remaining_latency", "meets", "meets_each"]


# per side (1 = client, 0 = server): the labels' latencies and rewards; per layer and side the kept
# candidates' indices and how many of the candidates came from the same side (the rest: the other side)
_Labels = dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]]
_History = list[dict[int, tuple[NDArray[np.intp], int]]]


def meets(latency_ms: float, deadline_ms: float) -> bool:
    """Deadline test shared by every solver: absorbs float summation noise only."""
    return latency_ms <= deadline_ms + 1e-9 * max(1.0, abs(deadline_ms))


def meets_each(latencies_ms: np.ndarray, deadline_ms: float) -> NDArray[np.bool_]:
    """`meets` for every latency of an array at once (the same comparison, elementwise)."""
    out: NDArray[np.bool_] = latencies_ms <= deadline_ms + 1e-9 * max(1.0, abs(deadline_ms))
    return out


def remaining_latency(c: Costs) -> tuple[np.ndarray, np.ndarray]:
    """rem_c[i], rem_s[i]: least latency from 'layer i done on client/server' to the end (i = 0..L)."""
    on_c = 0.0 if c.end_client else float(c.up_out_ms)
    on_s = float(c.down_out_ms) if c.end_client else 0.0
    out_c, out_s = [on_c], [on_s]
    layers = zip(c.client_ms.tolist(), c.server_ms.tolist(), c.up_ms.tolist(), c.down_ms.tolist())
    for client, server, up, down in reversed(list(layers)):   # Python floats: same sums, no numpy scalars
        to_c, to_s = client + on_c, server + on_s
        on_c, on_s = min(to_c, up + to_s), min(to_s, down + to_c)
        out_c.append(on_c)
        out_s.append(on_s)
    return np.array(out_c[::-1]), np.array(out_s[::-1])


def _pareto(lat: np.ndarray, rew: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Indices (into the candidates) of the Pareto front among `keep`, sorted by latency."""
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return idx
    order = idx[np.lexsort((-rew[idx], lat[idx]))]
    r = rew[order]
    front = np.empty(r.size, dtype=bool)
    front[0] = r[0] > -np.inf
    np.greater(r[1:], np.maximum.accumulate(r)[:-1], out=front[1:])
    return order[front]


def exact_policy(c: Costs) -> tuple[int, ...] | None:
    """Max client reward policy meeting c.deadline_ms exactly, or None if none does.

    Per layer and side: the candidates (same-side labels, then the other side's plus the switch),
    the Pareto front of those that can still finish in time, and the kept candidates' indices as
    the parents (an index below the same-side count is a same-side parent).
    """
    rem_c, rem_s = (r.tolist() for r in remaining_latency(c))
    limit = c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)
    zero = np.zeros(1)
    empty = np.zeros(0)
    lab = {1: (zero, zero) if c.start_client else (empty, empty),
           0: (empty, empty) if c.start_client else (zero, zero)}
    history = []
    per_layer = zip(c.client_ms.tolist(), c.server_ms.tolist(), c.up_ms.tolist(), c.down_ms.tolist(),
                    c.reward.tolist())
    for i, (client, server, up, down, reward) in enumerate(per_layer):
        new, parents = {}, {}
        for side, own_ms, rew_add, hop, rem in ((1, client, reward, down, rem_c[i + 1]),
                                                (0, server, 0.0, up, rem_s[i + 1])):
            same_lat, same_rew = lab[side]
            oth_lat, oth_rew = lab[1 - side]
            lat = np.concatenate((same_lat, oth_lat + hop)) + own_ms
            rew = np.concatenate((same_rew, oth_rew)) + rew_add
            keep = _pareto(lat, rew, lat + rem <= limit)
            new[side] = (lat[keep], rew[keep])
            parents[side] = (keep, same_lat.size)
        if not (new[0][0].size or new[1][0].size):
            return None                                     # no label left: nothing meets the deadline
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
        kept, n_same = history[k][side]
        j = int(kept[idx])
        side, idx = (side, j) if j < n_same else (1 - side, j - n_same)
    return tuple(policy)
