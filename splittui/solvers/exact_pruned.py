"""The exact solver's label pass with reward bounds, for chains whose Pareto fronts grow large.

On chains without repeating blocks (random chains) the (latency, reward) fronts of `exact` grow to thousands
of labels per state. Here a label is also dropped when its reward plus a bound on what the remaining layers
can add within the time left (`exact_bounds.FutureBounds`) falls below a target F:

1. a beam pass keeps the BEAM labels per state with the largest such sums: a feasible policy, reward R₀ ≤ opt;
2. the pass with F = R₀ keeps every label whose bound reaches R₀. Every policy with reward ≥ R₀ keeps a
   bound ≥ R₀ at every layer (the bounds never underestimate), so none is dropped, and a label that
   dominates one of its labels continues the same way at least as well: the best label left is the optimum,
   with `exact`'s tie-breaking (most reward, then least latency).

Each state's candidates, their Pareto filter and the pruning are a few numpy calls on arrays (the same float
sums and order as `exact.merge_front`), so a layer costs O(m log m) for m candidates. Float noise is absorbed
by a tolerance of 1e-9 of the rewards' magnitude and by slack in the bound's budget.

Time: O(L·K) for the bounds, plus two passes over the labels left: on random chains of 400 / 1,600 layers
about 20 / 30-100 labels per state instead of 1,000s (`benchmarks/bench_exact_scaling.py`); worst case
exponential in L like every exact method here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from .exact_bounds import FutureBounds

__all__ = ["bounded_policy", "BEAM"]

BEAM = 0   # labels per state of a first pass that finds a floor (0: none; the floor rises on the way, measured)
_FLOOR_EVERY = 4   # layers between two raises of the floor (each costs a dozen numpy calls per state)
_F = NDArray[np.float64]
_I = NDArray[np.intp]


def bounded_policy(c: Costs, rem: list[list[float]], limit: float) -> tuple[int, ...] | None:
    """`exact.exact_policy` by the two passes of the module docstring; `rem` the least remaining latencies
    (client, server) per state, `limit` the deadline with its float slack."""
    fb = FutureBounds(c, budget=limit)
    tol = 1e-9 * max(1.0, float(np.abs(c.reward).sum()))
    side = 0 if c.start_client else 1
    floor = float(fb.reach(0, side, np.array([c.deadline_ms]))[0])
    if BEAM:
        guess, floor = _run(c, rem, limit, fb, floor, tol, BEAM)
        if guess is not None:
            floor = max(floor, guess[0])
    got, _ = _run(c, rem, limit, fb, floor, tol, None)
    return None if got is None else got[1]


def _front(t: _F, r: _F, ok: NDArray[np.bool_]) -> _I:
    """Indices of the Pareto front among `ok`, latency ascending: sorted by (latency, −reward, index), kept
    when the reward beats every earlier one (so of equal latencies only the best, first index, stays)."""
    idx = ok.nonzero()[0]
    if idx.size <= 1:
        return idx
    order = idx[np.lexsort((-r[idx], t[idx]))]
    rs = r[order]
    keep = np.empty(rs.size, dtype=bool)
    keep[0] = True
    np.greater(rs[1:], np.maximum.accumulate(rs)[:-1], out=keep[1:])
    out: _I = order[keep]
    return out


def _run(c: Costs, rem: list[list[float]], limit: float, fb: FutureBounds, floor: float, tol: float,
         beam: int | None) -> tuple[tuple[float, tuple[int, ...]] | None, float]:
    """One pass; per state (client 1, server 0, as in `exact`) the labels' latencies and rewards (arrays) and
    per layer the kept candidates for backtracking. `floor`: a reward some feasible policy reaches, raised
    on the way by the labels' sure continuations (`FutureBounds.reach`); returned with the best label."""
    deadline = c.deadline_ms
    reach_limit = limit + fb.slack
    last = c.n - 1
    rem_c, rem_s = rem
    empty = np.zeros(0)
    start = (np.zeros(1), np.zeros(1))
    lab = {1: start if c.start_client else (empty, empty), 0: (empty, empty) if c.start_client else start}
    history: list[tuple[_I, int, _I, int]] = []
    per_layer = zip(c.client_ms.tolist(), c.server_ms.tolist(), c.up_ms.tolist(), c.down_ms.tolist(),
                    c.reward.tolist())
    for i, (client, server, up, down, reward) in enumerate(per_layer):
        new = {}
        kept = {}
        for side, own, gain, hop, rest in ((1, client, reward, down, rem_c[i + 1]), (0, server, 0.0, up, rem_s[i + 1])):
            same, other = lab[side], lab[1 - side]
            t = np.concatenate((same[0] + own, (other[0] + hop) + own))
            r = np.concatenate((same[1], other[1]))
            if gain:
                r += gain
            idx = _front(t, r, t + rest <= limit)
            if idx.size:
                tt, rr = t[idx], r[idx]
                state = 0 if side == 1 else 1
                if i % _FLOOR_EVERY == 0 or i == last:
                    floor = max(floor, float((rr + fb.reach(i + 1, state, deadline - tt)).max()))
                top = rr + fb.at_neg(i + 1, state, tt - reach_limit)
                if beam is not None:
                    sel = np.sort(np.argpartition(-top, beam - 1)[:beam]) if idx.size > beam else None
                else:
                    ok = top >= floor - tol
                    sel = None if ok.all() else ok.nonzero()[0]
                if sel is not None:
                    idx, tt, rr = idx[sel], tt[sel], rr[sel]
                new[side] = (tt, rr)
            else:
                new[side] = (empty, empty)
            kept[side] = idx
        if not (new[1][0].size or new[0][0].size):
            return None, floor
        history.append((kept[1], lab[1][0].size, kept[0], lab[0][0].size))
        lab = new
    return _finish(c, lab, history, limit), floor


def _finish(c: Costs, lab: dict[int, tuple[_F, _F]], history: list[tuple[_I, int, _I, int]],
            limit: float) -> tuple[float, tuple[int, ...]] | None:
    """The most rewarding label that delivers in time (ties: the faster, the client side, the first), and its
    policy, as `exact._finish`."""
    best = None
    for side in (1, 0):
        lat, rew = lab[side][0].tolist(), lab[side][1].tolist()
        if side == 1:
            tail = 0.0 if c.end_client else float(c.up_out_ms)
        else:
            tail = float(c.down_out_ms) if c.end_client else 0.0
        top = None
        for k, (t, r) in enumerate(zip(lat, rew, strict=True)):
            if t + tail <= limit and (top is None or r > rew[top] or (r == rew[top] and t < lat[top])):
                top = k
        if top is not None:
            cand = (rew[top], -(lat[top] + tail), side, top)
            if best is None or cand[:2] > best[:2]:
                best = cand
    if best is None:
        return None
    side, idx = best[2], best[3]
    policy = [0] * c.n
    for k in range(c.n - 1, -1, -1):
        policy[k] = side
        kept_c, n_c, kept_s, n_s = history[k]
        j = int((kept_c if side == 1 else kept_s)[idx])
        n_same = n_c if side == 1 else n_s
        side, idx = (side, j) if j < n_same else (1 - side, j - n_same)
    return best[0], tuple(policy)
