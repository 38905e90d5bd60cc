"""The label pass's tables and its answer (`constrained`, SPEC §10).

`_tables`: per layer, what each row of a label adds (or maxes in) on each side and from each source, and the
limits each row must stay within given the least the layers still to come must add. `_blocks`: the chain's
identical repeated blocks the pass keeps canonical labels over (`constrained_blocks`). `_finish`: the best
feasible label at the last layer, backtracked through the pass's history to its policy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .constrained_blocks import Blocks, find_blocks
from .constrained_case import _Case, _Chain
from .constrained_incumbent import _remaining

_F = NDArray[np.float64]


def _tables(chains: list[_Chain], reward: _F, case: _Case, lims: list[float]) -> tuple[list[str], _F, _F]:
    """Rows, per layer V[i][row, side, source] (add rows: the increment; max rows: the value maxed in, −inf
    for none) and TH[i][row, side] limits, plus SUM checks. Sides and sources: 0 client, 1 server."""
    n = len(reward)
    rows: list[str] = [f"t{k}" for k in range(len(chains))] + ["r"]
    # a side binds only if all the layers it may run could exceed its budget (else its rows are dropped:
    # with both sides' held rows, labels of different held bytes never dominate each other)
    whole = float(case.held.sum()) + float(case.act.max(initial=0.0))
    limited = [math.isfinite(b) and whole > b for b in case.budget]
    peaks = bool((case.act != 0).any())   # act caps (`_act_caps`) fold the peak into the budget: no max row
    for k, name in ((0, "c"), (1, "s")):
        if limited[k]:
            rows += [f"held_{name}", f"act_{name}"] if peaks else [f"held_{name}"]
    V = np.zeros((n, len(rows), 2, 2))
    TH = np.full((n, len(rows), 2), math.inf)
    rems = [_remaining(ch, case.pin) for ch in chains]
    for k, ch in enumerate(chains):
        V[:, k, 0, 0] = ch.client
        V[:, k, 0, 1] = ch.down + ch.client
        V[:, k, 1, 0] = ch.up + ch.server
        V[:, k, 1, 1] = ch.server
        for side in (0, 1):
            TH[:, k, side] = lims[k] - rems[k][side][1:]
    r = rows.index("r")
    V[:, r, 0, :] = -reward[:, None]
    for k, name in ((0, "c"), (1, "s")):
        if not limited[k]:
            continue
        side_val = 1 - k        # client rows grow when a layer goes to the client (side index 0)
        hi = rows.index(f"held_{name}")
        on = case.pin == side_val
        fut = np.concatenate((np.cumsum((case.held * on)[::-1])[::-1], [0.0]))[1:]
        V[:, hi, k, :] = case.held[:, None]
        TH[:, hi, :] = (case.budget[k] - fut)[:, None]
        if peaks:
            ai = rows.index(f"act_{name}")
            V[:, ai, :, :] = -np.inf
            V[:, ai, k, :] = case.act[:, None]
            TH[:, ai, :] = case.budget[k]
    return rows, V, TH


def _blocks(chains: list[_Chain], reward: _F, case: _Case) -> Blocks | None:
    """The chain's identical repeated blocks (every number the pass reads of a layer, pins included)."""
    cols = [a for ch in chains for a in (ch.client, ch.server, ch.up, ch.down)]
    return find_blocks(np.stack([*cols, reward, case.held, case.act, case.pin.astype(np.float64)], axis=1))


def _finish(chains: list[_Chain], lims: list[float], out: Any) -> tuple[float, float, tuple[int, ...]] | None:
    rows, C, S, history = out
    nt = len(chains)
    r = rows.index("r")
    best = None
    for side, lab in ((1, C), (0, S)):
        if not lab.shape[1]:
            continue
        T = np.array([lab[k] + chains[k].tail(side) for k in range(nt)])
        ok = np.all(T <= np.array(lims[:nt])[:, None], axis=0) & (T.sum(axis=0) <= lims[-1])
        ok_idx = np.flatnonzero(ok)
        if ok_idx.size:
            R, tot = -lab[r][ok_idx], T[:, ok_idx].sum(axis=0)
            j = ok_idx[np.lexsort((tot, -R))[0]]
            cand = (float(-lab[r][j]), -float(T[:, j].sum()), side, int(j))
            if best is None or cand[:2] > best[:2]:
                best = cand
    if best is None:
        return None
    side, idx = best[2], best[3]
    n = len(history)
    policy = [0] * n
    for k in range(n - 1, -1, -1):
        policy[k] = side
        kc, ks, nc = history[k]
        col = int((kc if side == 1 else ks)[idx])
        side, idx = (1, col) if col < nc else (0, col - nc)
    return best[0], best[1], tuple(policy)


def _finish_or_none(chains: list[_Chain], lims: list[float], out: Any) -> tuple[float, float, tuple[int, ...]] | None:
    return None if out is None else _finish(chains, lims, out)
