"""Three-row dominance between two sets of labels, without comparing every pair (`constrained`, SPEC §10).

A label is a column of rows (latency, −reward, client bytes held: smaller is better in each). The constrained
label pass asks, per layer, which labels of one group some label of another group is at most in every row.
Pairwise that is O(m·n); here the `by` group is sorted by row 0 and cut into chunks of about √n labels, and
each chunk keeps its labels sorted by row 1 with the running minimum of row 2. A query label d is at most
dominated by the chunks whose labels all have row 0 ≤ d's (one binary search and one look-up per chunk:
the least row 2 among labels of row 1 ≤ d's), and by the labels of the one chunk that straddles d's row 0
(compared one by one). Exact comparisons only (no tolerance): the same answer as the pairwise test.

Time O(m·√n·log n) in numpy calls over whole arrays, O(√n) of them.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["dominated3"]

_F = NDArray[np.float64]

PAIRWISE_MAX = 4096   # below this many pairs the plain pairwise test is as fast


def dominated3(D: _F, by: _F) -> NDArray[np.bool_]:
    """Per column of the 3-row `D`: whether some column of `by` is at most it in every row."""
    nd, nb = D.shape[1], by.shape[1]
    if nd == 0 or nb == 0:
        return np.zeros(nd, dtype=bool)
    if nd * nb <= PAIRWISE_MAX:
        le = (by[0][None, :] <= D[0][:, None]) & (by[1][None, :] <= D[1][:, None]) & (by[2][None, :] <= D[2][:, None])
        out: NDArray[np.bool_] = le.any(axis=1)
        return out
    order = np.argsort(by[0], kind="stable")
    b = by[:, order]
    k = np.searchsorted(b[0], D[0], side="right")      # the candidates of column i: b[:, :k[i]]
    s = max(8, int(math.isqrt(nb)))
    nq = -(-nb // s)
    pad = nq * s - nb
    # rank of each label's row 1 among all of `by` (stable), and per query how many are at most its row 1
    o1 = np.argsort(b[1], kind="stable")
    rank = np.empty(nb, dtype=np.int64)
    rank[o1] = np.arange(nb)
    below = np.searchsorted(b[1][o1], D[1], side="right")
    # chunk q's labels sorted by row 1, as keys q·(nb+1) + rank (one sorted array for every chunk)
    r = np.concatenate((rank, np.full(pad, nb))).reshape(nq, s)
    oc = np.argsort(r, axis=1, kind="stable")
    keys = (np.take_along_axis(r, oc, axis=1) + (nb + 1) * np.arange(nq)[:, None]).ravel()
    b2 = np.concatenate((b[2], np.full(pad, np.inf))).reshape(nq, s)
    s2 = np.minimum.accumulate(np.take_along_axis(b2, oc, axis=1), axis=1).ravel()
    full = k // s                                       # chunks 0..full−1 lie wholly below row 0 of D
    nf = int(full.max(initial=0))
    out = np.zeros(nd, dtype=bool)
    if nf:
        q = np.arange(nf)
        pos = np.searchsorted(keys, below[:, None] + (nb + 1) * q[None, :], side="left")   # (nd, nf)
        hit = (pos > q[None, :] * s) & (s2[np.maximum(pos - 1, 0)] <= D[2][:, None]) & (q[None, :] < full[:, None])
        out = hit.any(axis=1)
    j = full[:, None] * s + np.arange(s)[None, :]      # the straddling chunk, label by label
    valid = j < k[:, None]
    jj = np.minimum(j, nb - 1)
    out |= (valid & (b[1][jj] <= D[1][:, None]) & (b[2][jj] <= D[2][:, None])).any(axis=1)
    return out


_CELLS = 1 << 20   # pairwise comparisons per numpy chunk


def _front(Y: _F) -> NDArray[np.intp]:
    """Indices of the candidates (columns) that no earlier-sorted candidate is at most in every row."""
    n = Y.shape[1]
    if n <= 1:
        return np.arange(n)
    order = np.lexsort(Y[::-1])
    Z = Y[:, order]
    dominated = np.zeros(n, dtype=bool)
    step = max(1, _CELLS // max(1, n * Z.shape[0]))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        le = np.all(Z[:, lo:hi, None] <= Z[:, None, :], axis=0)   # [i, j]: i at most j everywhere
        le &= np.arange(lo, hi)[:, None] < np.arange(n)[None, :]     # only earlier ones dominate
        dominated |= le.any(axis=0)
    return np.sort(order[~dominated])


def _front_groups(Y: _F, first: NDArray[np.bool_], clamped: NDArray[np.bool_]) -> NDArray[np.intp]:
    """`_front`'s set (sorted indices of the candidates no other candidate is at most in every row; of equal
    ones one stays) where the candidates are two groups, each a front shifted by one increment (the labels
    staying on a side, and those switching to it): within a group only a candidate whose max row was raised
    by the increment (`clamped`) can be dominated (a shift keeps the order of every add row; a max with one
    value keeps the order of any two values it leaves alone). So the groups are checked against each other,
    and the clamped candidates against their own group: O(|A|·|B| + c·m) instead of O(m²). Ties: group
    `first` wins across groups, the lower index within one."""
    a, b = np.flatnonzero(first), np.flatnonzero(~first)
    out = np.ones(Y.shape[1], dtype=bool)
    if a.size and b.size:
        out[b] &= ~_dominated(Y[:, b], Y[:, a], strict=False)
        # only the b left can dominate an a: were a1 ≤ b ≤ a2, then a1 ≤ a2 in every row, and within a group
        # that takes a clamped a2 (removed below) or a1 = b = a2 (not below it in any row)
        live = b[out[b]]
        if live.size:
            out[a] &= ~_dominated(Y[:, a], Y[:, live], strict=True)
    for grp in (a, b):
        cl = grp[clamped[grp]]
        if cl.size and grp.size > 1:
            out[cl] &= ~_dominated(Y[:, cl], Y[:, grp], strict=True, ids=(cl, grp))
    return np.flatnonzero(out)


def _at_most(D: _F, by: _F) -> NDArray[np.bool_]:
    return _dominated(D, by, strict=False)


def _dominated(D: _F, by: _F, *, strict: bool, ids: tuple[NDArray[np.intp], NDArray[np.intp]] | None = None,
               fast: bool = True) -> NDArray[np.bool_]:
    """Per column of D: whether some column of `by` is at most it in every row (strict: and below it in one
    row, or, with `ids`, equal to it and of a lower id: one of equal candidates stays). Chunked pairwise."""
    nd, nb = D.shape[1], by.shape[1]
    if fast and D.shape[0] == 3 and nd * nb > PAIRWISE_MAX:   # sorted chunks (`constrained_fronts`), then strictness
        out = dominated3(D, by)
        if strict and out.any():
            hit = np.flatnonzero(out)
            sub = None if ids is None else (ids[0][hit], ids[1])
            out[hit] = _dominated(D[:, hit], by, strict=True, ids=sub, fast=False)
        return out
    out = np.zeros(nd, dtype=bool)
    step = max(1, _CELLS // max(1, nb))
    for lo in range(0, nd, step):
        hi = min(nd, lo + step)
        le = by[0][None, :] <= D[0, lo:hi, None]          # [j, i]: by_i at most D_j in every row, row by row
        lt = by[0][None, :] < D[0, lo:hi, None] if strict else None
        for k in range(1, D.shape[0]):
            b, d = by[k][None, :], D[k, lo:hi, None]
            le &= b <= d
            if lt is not None:
                lt |= b < d
        if lt is not None:
            if ids is not None:
                lt |= ids[1][None, :] < ids[0][lo:hi, None]
            le &= lt
        out[lo:hi] = le.any(axis=1)
    return out
