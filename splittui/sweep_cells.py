"""One (sequence length, bandwidth) pair of the sweep (`splittui.sweep`), every deadline of its series at once:
the DP's frontier row and a backtrack per budget (`_dp_cells`), the pinned prefix policies for greedy, single split
and no-split (`_prefix_cells`) and the exact solver's end labels, which do not depend on the deadline (`_exact_cells`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from .costs import Costs, breakdown
from .solvers.baselines import prefix_latencies
from .solvers.dp import backtrack, run_dp
from .solvers.exact import remaining_latency

__all__ = ["Cell"]

# one solver's answer at one deadline: (client reward, latency, placement or None), or None if infeasible
Cell = tuple[float, float, NDArray[np.int8] | None] | None


def _dp_cells(c: Costs, series: np.ndarray, unit: float) -> list[Cell]:
    """(client reward, exact latency, policy) of the DP at every deadline, from one pass at D_0."""
    tables = run_dp(replace(c, deadline_ms=float(series[0])), unit)
    best = tables.end_values()
    out: list[Cell] = []
    for d in series:
        w = int(math.floor(d / unit + 1e-9))
        if not np.isfinite(best[w]):
            out.append(None)
            continue
        policy = backtrack(replace(tables, ints=replace(tables.ints, W=w)))
        x = np.asarray(policy, dtype=np.int8)
        out.append((float(c.reward[x == 1].sum()), breakdown(c, x).total_ms, x))
    return out


def _prefix(n: int, k: int) -> np.ndarray:
    """The policy with layers 0..k-1 on the client and the rest on the server."""
    return (np.arange(n) < k).astype(np.int8)


def _prefix_cells(c: Costs, series: np.ndarray) -> dict[str, list[Cell]]:
    """greedy / single-split / no-split at every deadline from one prefix-latency pass."""
    lat = prefix_latencies(c)
    cum = np.concatenate(([0.0], np.cumsum(c.reward)))
    out: dict[str, list[Cell]] = {"greedy": [], "single-split": [], "no-split": []}
    for d in series:
        ok = lat <= d + 1e-9 * max(1.0, d)
        out["no-split"].append((0.0, lat[0], _prefix(c.n, 0)) if ok[0] else None)
        bad = np.flatnonzero(~ok[1:])
        k = c.n if bad.size == 0 else int(bad[0])
        out["greedy"].append((cum[k], lat[k], _prefix(c.n, k)) if (k > 0 or ok[0]) else None)
        if ok.any():
            best = int(np.flatnonzero(ok)[np.argmax(cum[ok])])
            out["single-split"].append((cum[best], lat[best], _prefix(c.n, best)))
        else:
            out["single-split"].append(None)
    return out


def _front(lat: np.ndarray, rew: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Indices of the Pareto front (faster and more rewarding) of the kept labels, sorted by latency."""
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((-rew[idx], lat[idx]))]
    r = rew[order]
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], r[:-1])))
    sel: np.ndarray = order[r > best_before]
    return sel


_Parents = list[tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]]


def _exact_cells(c: Costs, series: np.ndarray) -> list[Cell]:
    """The exact optimum at every deadline from one Pareto-label pass at D_0 (the exact frontier).

    Same labels as ``solvers.exact`` (dominance is independent of the deadline), pruned with the
    loosest deadline; each deadline then reads the best end label that meets it, and its placement is
    rebuilt from the parents kept per layer (`_exact_policy`).
    """
    rem_c, rem_s = remaining_latency(c)
    limit = float(series[0]) * (1 + 1e-9) + 1e-9
    start = (np.zeros(1), np.zeros(1))
    none = (np.zeros(0), np.zeros(0))
    lab = {1: start if c.start_client else none, 0: none if c.start_client else start}
    parents: _Parents = []
    for k in range(c.n):
        new, kept = {}, {}
        for side, own, add, rem, hop in ((1, c.client_ms[k], c.reward[k], rem_c[k + 1], c.down_ms[k]),
                                         (0, c.server_ms[k], 0.0, rem_s[k + 1], c.up_ms[k])):
            lat = np.concatenate((lab[side][0], lab[1 - side][0] + hop)) + own
            rew = np.concatenate((lab[side][1], lab[1 - side][1])) + add
            kept[side] = _front(lat, rew, lat + rem <= limit)
            new[side] = (lat[kept[side]], rew[kept[side]])
        parents.append(((kept[0], lab[0][0].size), (kept[1], lab[1][0].size)))
        lab = new
    tail_c = 0.0 if c.end_client else c.up_out_ms
    tail_s = c.down_out_ms if c.end_client else 0.0
    lat = np.concatenate((lab[1][0] + tail_c, lab[0][0] + tail_s))
    rew = np.concatenate((lab[1][1], lab[0][1]))
    end = _front(lat, rew, np.ones(lat.size, dtype=bool))
    n_client = lab[1][0].size
    out: list[Cell] = []
    for d in series:
        i = int(np.searchsorted(lat[end], d + 1e-9 * max(1.0, d), side="right")) - 1
        if i < 0:
            out.append(None)
            continue
        j = int(end[i])
        x = _exact_policy(parents, 1 if j < n_client else 0, j if j < n_client else j - n_client)
        out.append((float(rew[j]), float(lat[j]), x))
    return out


def _exact_policy(parents: _Parents, side: int, idx: int) -> NDArray[np.int8]:
    """The placement of the last layer's label `idx` on `side`, walked back through the kept parents. O(L)."""
    x = np.zeros(len(parents), dtype=np.int8)
    for k in range(len(parents) - 1, -1, -1):
        x[k] = side
        kept, n_same = parents[k][side]
        col = int(kept[idx])
        side, idx = (side, col) if col < n_same else (1 - side, col - n_same)
    return x
