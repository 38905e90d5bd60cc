"""Identical repeated blocks in the constrained label pass (`constrained`, SPEC §10): one policy of each set of
equally good ones.

A transformer chain repeats one block of layers (the same times, transfers, reward, bytes, activation and
pins, layer by layer). Take a block S run wholly on the server and entered from the server, followed by a run G
of whole blocks entered from the server, ending on the server at a block boundary, that runs some layer on the
client. Swapping them (G then S) changes no total: each block's latency, reward, bytes and activation peak
depend only on the side it is entered from and its pattern, and every boundary involved is on the server. So
moving such S blocks later, as long as one is followed by such a G, ends (S blocks only move later) at a policy
of the same latency, reward and memory with no S followed by a G: a *canonical* policy. The pass keeps only
canonical labels (it prunes a label that completes such a G), so it still finds the optimum.

A label carries a level (its restrictions, fewest first, each level's completions a subset of the level below):

* 0: free (touched the client in this block, or entered it on the client);
* 1: free, entered this block on the server and has not touched the client since (at the block's end, on the
  server, the block was an S);
* 2: after an S, on the server since (its next block boundary on the server after touching the client would
  close a G);
* 3: after an S, touched the client since: pruned if on the server at a block boundary (PRUNED).

A move to the client inside the region maps 1 → 0 and 2 → 3; a block's end on the server maps 0 → 1, 1 → 2,
3 → PRUNED (the region's entry is a block end too). Both maps are monotone and a level's completions include
those of every higher level, so a label dominates another only with a level at most the other's: the pass
filters each level apart, then drops a label that a kept label of a lower level is at most in every row
(`front_by_level`). After the region's last block every level is free again. A level-3 label must run the last
layer of each remaining block on the client: those bytes are owed (`forced_bytes`), and the rest's bounds of
levels 2 and 3 range over the completions the level allows (`constrained_bounds.level_fronts`).

Time: O(L²·k) numpy once per pass to find the blocks (k numbers per layer); per layer and side O(m) for the
levels, and the dominance filter per level (at most four).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Blocks", "find_blocks", "front_by_level", "PRUNED"]

_F = NDArray[np.float64]
_L = NDArray[np.int8]
PRUNED = 4
_CLIENT = np.array([0, 0, 3, 3, PRUNED], dtype=np.int8)      # a layer run on the client, inside the region
_SERVER_END = np.array([1, 2, 2, PRUNED, PRUNED], dtype=np.int8)   # a block boundary on the server


@dataclass(frozen=True, slots=True)
class Blocks:
    """`count` ≥ 2 identical blocks of `period` layers from layer `start`."""

    start: int
    period: int
    count: int

    @property
    def stop(self) -> int:
        return self.start + self.period * self.count

    def initial(self, start_client: bool) -> int:
        """The level of the empty label: the region starts at layer 0, entered from the start side."""
        return 1 if self.start == 0 and not start_client else 0

    def step(self, lv: _L, i: int, client: bool) -> _L:
        """The levels after layer i runs on the client (`client`) or the server."""
        if client and self.start <= i < self.stop:
            lv = _CLIENT[lv]
        end = i - self.start + 1    # a block boundary after layer i (the region's entry included: end = 0)
        if 0 <= end <= self.period * self.count and end % self.period == 0:
            if not client:
                lv = _SERVER_END[lv]
            if end == self.period * self.count:    # past the region: no boundary left to restrict
                lv = np.where(lv == PRUNED, lv, 0).astype(np.int8)
        return lv

    def forced_bytes(self, held: _F, pin: NDArray[np.int8]) -> _F:
        """Per layer i: the client bytes a level-3 label still owes after layer i (the last layer of each later
        block in the region, where not pinned to the client already; inf where one is pinned to the server)."""
        n = len(held)
        owe = np.zeros(n + 1)
        for e in range(self.start + self.period - 1, self.stop, self.period):
            add = math.inf if pin[e] == 0 else (0.0 if pin[e] == 1 else float(held[e]))
            owe[:e] += add     # layers before e (i < e) still owe it
        return owe[:n]


def find_blocks(rows: _F) -> Blocks | None:
    """The longest region of ≥ 2 identical consecutive blocks of `rows` (one row of numbers per layer), the
    shortest period among equally long ones; None if no layer sequence repeats."""
    n = rows.shape[0]
    best: Blocks | None = None
    for p in range(1, n // 2 + 1):
        eq = np.all(rows[:-p] == rows[p:], axis=1)            # layer l equals layer l + p
        if not eq.any():
            continue
        run, start = _longest_run(eq)
        count = (run + p) // p
        if count >= 2 and (best is None or count * p > best.count * best.period):
            best = Blocks(start, p, count)
    return best


def _longest_run(eq: NDArray[np.bool_]) -> tuple[int, int]:
    """Length and start of the longest run of True."""
    d = np.diff(np.concatenate(([0], eq.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    k = int(np.argmax(stops - starts))
    return int(stops[k] - starts[k]), int(starts[k])


def front_by_level(front: Callable[[_F, NDArray[np.bool_], NDArray[np.bool_]], NDArray[np.intp]],
                   dominated: Callable[[_F, _F], NDArray[np.bool_]], Y: _F, lv: _L, same: NDArray[np.bool_],
                   clamped: NDArray[np.bool_]) -> NDArray[np.intp]:
    """`front` (the pass's grouped filter) within each level, then, level by level upwards, without the labels
    some kept label of a lower level is at most in every row (`dominated`: whether some column of the second
    is at most each column of the first): sorted indices of the labels kept."""
    levels = np.unique(lv)
    if levels.size <= 1:
        out: NDArray[np.intp] = front(Y, same, clamped)
        return out
    parts: list[NDArray[np.intp]] = []
    for v in levels.tolist():
        sel = np.flatnonzero(lv == v)
        sel = sel[front(Y[:, sel], same[sel], clamped[sel])]
        if parts and sel.size:
            lower = np.concatenate(parts)
            sel = sel[~dominated(Y[:, sel], Y[:, lower])]
        parts.append(sel)
    return np.sort(np.concatenate(parts))

