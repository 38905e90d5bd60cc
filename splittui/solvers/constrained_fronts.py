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
