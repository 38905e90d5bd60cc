"""SPEC §4's DP computed sparsely: per layer and side, the Pareto labels (rounded time, reward).

The dense rows ``C[l][w]``/``S[l][w]`` of `dp.run_dp` are step functions of w: the largest reward
of a label (t, R) with t ≤ w. Only their steps are stored here: labels that no earlier label of the
same state beats in reward. A layer is one pass over both states at once: the candidates (the
previous labels moved across the layer, some with a switch) are sorted by time, and those that an
earlier one of their state matches in reward, or that cannot reach the end within W (least
remaining integer latency), are dropped.

Every reward is the same float sum, in the same order, as in the dense table (float addition is
monotone, so the max commutes with adding r_l), hence every cell a backtrack reads has the dense
table's exact value and `label_backtrack` makes the dense backtrack's choices, ties included: same
policy, same load, same rounded-time feasibility. A label dropped for its remaining latency is never
read: a backtrack reaches a cell (l, w) only with W − w units left for the layers after l.

Time O(Σ_l m_l log m_l) for m_l labels at layer l, plus ~15 numpy calls per layer; memory
O(Σ_l m_l). On transformer request chains m_l stays in the tens to hundreds where the dense table
has W = 10^5 columns. `dp_policy` and `dp_end_values` take the dense table when W is small (its
passes are as cheap, measured) or when a layer outgrows (W+1)/64 labels (then the labels would
need more time and memory than the table's decision bits).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from .dp import DP_MEM_LIMIT_BYTES, Integerised, budget_units, check_memory, integerise, run_dp
from .dp import backtrack as dense_backtrack

__all__ = ["LabelTables", "run_labels", "label_backtrack", "dp_policy", "dp_end_values", "SPARSE_MIN_UNITS"]

SPARSE_MIN_UNITS = 8192  # below this W the dense passes cost no more than the label passes (measured)
_SHARE = 64              # give up (dense fallback) when a layer holds more than (W+1)/_SHARE labels

_I = NDArray[np.int64]
_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LabelTables:
    """Per layer l = 0..L (0: the start), the labels of both states in one pair of arrays.

    ``times[l]`` holds the client labels' times, ascending, then the server labels' times plus
    ``offset`` (so the whole array is ascending); ``rewards[l]`` their rewards, strictly ascending
    within each state; ``n_client[l]`` how many are client labels. A dense cell is the reward of
    the last label at or before w: one binary search.
    """

    times: list[_I]
    rewards: list[_F]
    n_client: list[int]
    offset: int
    ints: Integerised
    start_client: bool
    end_client: bool

    def value(self, layer: int, client: bool, w: int) -> float:
        """The dense table's cell: C[layer][w] (client) or S[layer][w]; −inf for w < 0."""
        if w < 0:
            return -np.inf
        t, nc = self.times[layer], self.n_client[layer]
        if client:
            k = bisect_right(t, w, 0, nc) - 1
            return float(self.rewards[layer][k]) if k >= 0 else -np.inf
        k = bisect_right(t, w + self.offset, nc) - 1
        return float(self.rewards[layer][k]) if k >= nc else -np.inf

    def end_values(self) -> _F:
        """best[w]: the largest reward delivered within w units, w = 0..W (as DPTables.end_values)."""
        W, it = self.ints.W, self.ints
        out = np.full(W + 1, -np.inf)
        t, r, nc = self.times[-1], self.rewards[-1], self.n_client[-1]
        rows = ((t[:nc], r[:nc], 0 if self.end_client else it.u_out),
                (t[nc:] - self.offset, r[nc:], it.d_out if self.end_client else 0))
        for times, rewards, k in rows:
            if k <= W and times.size:
                idx = np.searchsorted(times, np.arange(W + 1 - k), side="right") - 1
                vals = np.where(idx >= 0, rewards[np.maximum(idx, 0)], -np.inf)
                np.maximum(out[k:], vals, out=out[k:])
        return out


def _remaining(it: Integerised, end_client: bool, P: int) -> list[tuple[int, int]]:
    """Least integer latency from 'layer l done on client / server' to the delivered answer, l = 0..L.

    Capped at P (= W+1: too late either way), so the sums stay small. O(L).
    """
    on_c = 0 if end_client else min(it.u_out, P)
    on_s = min(it.d_out, P) if end_client else 0
    out = [(on_c, on_s)]
    for c, s, u, d in zip(reversed(it.c.tolist()), reversed(it.s.tolist()), reversed(it.u.tolist()),
                          reversed(it.d.tolist())):
        to_c, to_s = c + on_c, s + on_s
        on_c, on_s = min(to_c, u + to_s, P), min(to_s, d + to_c, P)
        out.append((on_c, on_s))
    return out[::-1]


def run_labels(costs: Costs, unit_ms: float, *, rounding: str = "ceil", max_labels: int | None = None,
               mem_limit: int = DP_MEM_LIMIT_BYTES) -> LabelTables | None:
    """The label pass for the budget W of `costs` (and every smaller one), or None when a layer
    would hold more than `max_labels` labels (default (W+1)/64): then the dense table is cheaper.

    Refuses what `run_dp` refuses (the same memory check), so both routes answer alike.
    """
    check_memory(costs.n, costs.deadline_ms, unit_ms, mem_limit)
    it = integerise(costs, unit_ms, rounding)
    P = it.W + 1
    off = 4 * P              # server times live above every client time (client ones stay < 3P)
    cap = max(1, P // _SHARE) if max_labels is None else max_labels
    shifts = zip(*(np.minimum(k, P).tolist() for k in (it.c, it.c + it.d, it.s, it.s + it.u)))
    rem = _remaining(it, costs.end_client, P)
    t = np.array([0 if costs.start_client else off], dtype=np.int64)
    r, nc = np.zeros(1), int(costs.start_client)
    times, rewards, n_client = [t], [r], [nc]
    for i, (sh, reward) in enumerate(zip(shifts, costs.reward.tolist())):
        lim = (it.W - rem[i + 1][0], it.W - rem[i + 1][1] + off)
        t, r, nc = _layer(t, r, nc, sh, reward, lim, off)
        if t.size > cap:
            return None
        times.append(t)
        rewards.append(r)
        n_client.append(nc)
    return LabelTables(times=times, rewards=rewards, n_client=n_client, offset=off, ints=it,
                       start_client=costs.start_client, end_client=costs.end_client)


def _layer(t: _I, r: _F, nc: int, shifts: tuple[int, int, int, int], reward: float, lim: tuple[int, int],
           off: int) -> tuple[_I, _F, int]:
    """One layer for both states in one array: candidates, sort, Pareto filter, prune, compact.

    Client candidates: the client labels shifted by c, the server ones by c+d, all plus the reward;
    server candidates: the server labels by s, the client ones by s+u (server times keep the offset).
    Sorted by time (the client block stays below the server block), a candidate survives iff its
    reward beats every earlier one of its state and it can still finish (time <= lim). Two
    candidates of one time may both survive (the later one with the larger reward): a cell is read
    at the last label at or before w, so this costs a label, never a wrong value. About fifteen numpy
    calls, whatever the number of labels.
    """
    c, cd, s, su = shifts
    n = t.size
    if n == 0:
        return t, r, 0
    tc, ts = t[:nc], t[nc:]
    kt = np.concatenate((tc + c, ts + (cd - off), ts + s, tc + (su + off)))
    kr = np.concatenate((r + reward if reward else r, r[nc:], r[:nc]))
    order = kt.argsort(kind="stable")
    kt, kr = kt[order], kr[order]
    prev = np.empty(2 * n)                            # best reward before each candidate, per state
    prev[0] = prev[n] = -np.inf
    np.maximum.accumulate(kr[: n - 1], out=prev[1:n])
    np.maximum.accumulate(kr[n:-1], out=prev[n + 1:])
    keep = kr > prev
    keep[bisect_right(kt, lim[0], 0, n): n] = False  # pruned: cannot reach the end within W
    keep[bisect_right(kt, lim[1], n, 2 * n):] = False
    return kt[keep], kr[keep], int(np.count_nonzero(keep[:n]))


def label_backtrack(t: LabelTables) -> tuple[int, ...] | None:
    """The dense backtrack (dp.backtrack) for the budget W, reading each cell from the labels."""
    it, W = t.ints, t.ints.W
    wc = W - (0 if t.end_client else it.u_out)
    ws = W - (it.d_out if t.end_client else 0)
    L = len(it.c)
    vc, vs = t.value(L, True, wc), t.value(L, False, ws)
    if vc == -np.inf and vs == -np.inf:
        return None
    on_client, w = (True, wc) if vc >= vs else (False, ws)
    policy = [0] * L
    costs = zip(it.c.tolist(), it.s.tolist(), it.u.tolist(), it.d.tolist())
    for i, (c, s, u, d) in reversed(list(enumerate(costs))):
        if on_client:
            policy[i] = 1
            if t.value(i, False, w - c - d) > t.value(i, True, w - c):
                w, on_client = w - c - d, False
            else:
                w -= c
        elif t.value(i, True, w - s - u) > t.value(i, False, w - s):
            w, on_client = w - s - u, True
        else:
            w -= s
    if w < 0 or on_client != t.start_client:
        raise RuntimeError("label backtrack left the table")  # a bug, never bad input
    return tuple(policy)


def _labels_first(costs: Costs, unit_ms: float) -> bool:
    """Whether to try the label pass: W is large enough that the dense passes cost more."""
    return budget_units(costs.deadline_ms, unit_ms) + 1 >= SPARSE_MIN_UNITS


def _all_client_fits(costs: Costs, unit_ms: float, rounding: str) -> bool:
    """Whether all-client, the most rewarding policy when no reward is negative, fits in the budget W.

    Then the DP's backtrack takes it: its last cell C[L][W] holds the whole (float) reward sum, which
    no other policy's sum exceeds (float addition is monotone), and every decision bit needs a strictly
    better server predecessor, so each layer stays on the client. O(L).
    """
    if not costs.start_client or bool((costs.reward < 0).any()):
        return False
    it = integerise(costs, unit_ms, rounding)
    return int(it.c.sum()) + (0 if costs.end_client else it.u_out) <= it.W


def dp_policy(costs: Costs, unit_ms: float, *, rounding: str = "ceil") -> tuple[int, ...] | None:
    """SPEC §4's DP policy for costs.deadline_ms: the label pass, or the dense table where cheaper.

    Both give the same policy (see the module docstring); only the time differs. Where no reward is
    negative and all-client fits in W, that is the policy, without a pass (`_all_client_fits`).
    """
    check_memory(costs.n, costs.deadline_ms, unit_ms)
    if _all_client_fits(costs, unit_ms, rounding):
        return (1,) * costs.n
    if _labels_first(costs, unit_ms):
        tables = run_labels(costs, unit_ms, rounding=rounding)
        if tables is not None:
            return label_backtrack(tables)
    return dense_backtrack(run_dp(costs, unit_ms, rounding=rounding))


def dp_end_values(costs: Costs, unit_ms: float, *, rounding: str = "ceil") -> _F:
    """best[w] for every budget w = 0..W (the frontier's last row), by whichever route is cheaper."""
    if _labels_first(costs, unit_ms):
        tables = run_labels(costs, unit_ms, rounding=rounding)
        if tables is not None:
            return tables.end_values()
    out: _F = run_dp(costs, unit_ms, rounding=rounding).end_values()
    return out
