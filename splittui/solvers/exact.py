"""The exact optimum with no time unit: Pareto labels (latency, reward) per layer and side.

A label is kept only if no other label at the same state is both faster and more rewarding, and
only if it can still reach the end by the deadline (pruned with the least remaining latency).
Worst case exponential in L; in practice tens of labels per state on transformer chains (gpt2-like
at 512 tokens: at most 19), so each layer is a merge in plain Python rather than numpy calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from .exact_pruned import bounded_policy

__all__ = ["exact_policy", "final_fronts", "best_within", "merge_front", "remaining_latency", "meets", "meets_each"]


# per side (1 = client, 0 = server): the labels' latencies and rewards, Python floats in two lists sorted
# by latency (rewards strictly ascending); per layer and side the kept candidates' indices and how many
# of the candidates came from the same side (the rest: the other side)
_Front = tuple[Sequence[float], Sequence[float]]   # lists, or numpy arrays above NUMPY_LABELS
NUMPY_LABELS = 96   # candidates above which a layer's front is a numpy sort rather than a merge (measured)
_History = list[dict[int, tuple[Sequence[int], int]]]


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


def _numpy_front(same: _Front, other: _Front, own_ms: float, gain: float, hop_ms: float, rem_ms: float,
                 limit: float) -> tuple[_Front, Sequence[int]]:
    """`merge_front` for large fronts: the same float sums and order, as a sort and a running max; the
    front stays in numpy arrays (converting hundreds of labels per layer would cost what numpy saves)."""
    lat = np.concatenate((np.asarray(same[0], dtype=float), np.asarray(other[0], dtype=float) + hop_ms)) + own_ms
    rew = np.concatenate((np.asarray(same[1], dtype=float), np.asarray(other[1], dtype=float))) + gain
    keep = _pareto(lat, rew, lat + rem_ms <= limit)
    front: _Front = (lat[keep], rew[keep])   # arrays serve as the sequences here
    return front, keep  # type: ignore[return-value]


def _as_list(v: Sequence[float]) -> list[float]:
    return v.tolist() if isinstance(v, np.ndarray) else v  # type: ignore[return-value]


def merge_front(same: _Front, other: _Front, own_ms: float, gain: float, hop_ms: float, rem_ms: float,
                limit: float) -> tuple[_Front, Sequence[int]]:
    """The front of one state after a layer: the candidates are the same side's labels (indices
    0..) and the other side's plus the switch `hop_ms` (indices len(same)..), each plus `own_ms`
    and `gain`; kept are those that can still finish (latency + rem_ms <= limit) and that no
    candidate before them in (latency, −reward, index) order matches or beats in both.

    Both inputs are fronts (latency ascending, rewards strictly ascending), so this is one merge in
    plain Python: a few dozen labels per state make numpy's per-call cost the larger part. A list
    is cut at its first candidate that cannot finish (the later ones are no faster). Above
    NUMPY_LABELS candidates numpy's sort and running max are the faster (`_numpy_front`, same result).
    """
    if len(same[0]) + len(other[0]) > NUMPY_LABELS:
        return _numpy_front(same, other, own_ms, gain, hop_ms, rem_ms, limit)
    sl, sr = _as_list(same[0]), _as_list(same[1])
    ol, orr = _as_list(other[0]), _as_list(other[1])
    ns, no = len(sl), len(ol)
    out_l: list[float] = []
    out_r: list[float] = []
    kept: list[int] = []
    i = j = 0
    la = ra = lb = rb = 0.0
    a_ok = b_ok = False
    if ns:
        la, ra = sl[0] + own_ms, sr[0] + gain
        a_ok = la + rem_ms <= limit
    if no:
        lb, rb = (ol[0] + hop_ms) + own_ms, orr[0] + gain
        b_ok = lb + rem_ms <= limit
    best = -math.inf
    while a_ok or b_ok:
        if a_ok and (not b_ok or la < lb or (la == lb and ra >= rb)):   # equal: the same side's first
            lat, rew, idx = la, ra, i
            i += 1
            if i < ns:
                la, ra = sl[i] + own_ms, sr[i] + gain
                a_ok = la + rem_ms <= limit
            else:
                a_ok = False
        else:
            lat, rew, idx = lb, rb, ns + j
            j += 1
            if j < no:
                lb, rb = (ol[j] + hop_ms) + own_ms, orr[j] + gain
                b_ok = lb + rem_ms <= limit
            else:
                b_ok = False
        if kept and lat == out_l[-1]:
            # adding own_ms can make two latencies of one list equal: keep the better of the two
            if rew > out_r[-1] or (rew == out_r[-1] and idx < kept[-1]):
                out_r[-1], kept[-1] = rew, idx
                best = rew
        elif rew > best:
            out_l.append(lat)
            out_r.append(rew)
            kept.append(idx)
            best = rew
    return (out_l, out_r), kept


def exact_policy(c: Costs) -> tuple[int, ...] | None:
    """Max client reward policy meeting c.deadline_ms exactly, or None if none does.

    Per layer and side: the front of the candidates (`merge_front`) that can still finish in time,
    and the kept candidates' indices as the parents (an index below the same-side count is a
    same-side parent). Where the fronts grow so large (chains without repeating blocks) that the pass
    would handle over PLAIN_WORK labels per layer, it starts again with reward bounds (`exact_pruned`).
    """
    rem = [r.tolist() for r in remaining_latency(c)]
    limit = c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)
    if rem[0 if c.start_client else 1][0] > limit:
        return None                                         # not even the fastest policy meets the deadline
    got = _pass(c, rem, limit, budget=PLAIN_WORK * c.n)
    if got is _CAPPED:
        return bounded_policy(c, rem, limit)
    return None if got is None else got[1]


PLAIN_WORK = 600   # labels per layer the plain pass may handle, projected; beyond, bounds are cheaper (measured)
_CAPPED = object()


def final_fronts(c: Costs, deadline_ms: float) -> tuple[dict[int, _Front], _History] | None:
    """The plain pass's last fronts and history for `deadline_ms`, to be read at that deadline or any
    smaller one with `best_within` (None where the pass would be capped, as `exact_policy` caps it).

    At a smaller deadline the pass keeps a prefix of each of these fronts (a label that cannot finish in
    time only has slower labels after it, and every label it would have kept is kept here too), so the
    answer read from them is `exact_policy`'s, label for label: one pass serves a whole frontier."""
    rem = [r.tolist() for r in remaining_latency(c)]
    limit = deadline_ms + 1e-9 * max(1.0, deadline_ms)
    got = _pass(c, rem, limit, budget=PLAIN_WORK * c.n, fronts=True)
    if got is None:   # no label left: nothing meets the deadline, nor any smaller one
        return {1: ([], []), 0: ([], [])}, []
    return None if got is _CAPPED else got


def best_within(c: Costs, fronts: tuple[dict[int, _Front], _History], deadline_ms: float) -> tuple[int, ...] | None:
    """`exact_policy(c at deadline_ms)` read from `final_fronts` of a deadline at or above it."""
    got = _finish(c, fronts[0], fronts[1], deadline_ms + 1e-9 * max(1.0, deadline_ms))
    return None if got is None else got[1]


def _pass(c: Costs, rem: list[list[float]], limit: float, *, budget: float = math.inf, fronts: bool = False) -> Any:
    """The label pass: (reward, policy) of the best label, None if no label is left, or _CAPPED as soon as
    the labels handled so far plus the current fronts carried to the end would exceed `budget`;
    `fronts`: the last fronts and the history instead of the best label."""
    done = 0
    rem_c, rem_s = rem
    start: _Front = ([0.0], [0.0])
    none: _Front = ([], [])
    lab = {1: start if c.start_client else none, 0: none if c.start_client else start}
    history: _History = []
    per_layer = zip(c.client_ms.tolist(), c.server_ms.tolist(), c.up_ms.tolist(), c.down_ms.tolist(),
                    c.reward.tolist())
    for i, (client, server, up, down, reward) in enumerate(per_layer):
        on_c, kept_c = merge_front(lab[1], lab[0], client, reward, down, rem_c[i + 1], limit)
        on_s, kept_s = merge_front(lab[0], lab[1], server, 0.0, up, rem_s[i + 1], limit)
        n_c, n_s = len(on_c[0]), len(on_s[0])
        if not (n_c or n_s):
            return None                                     # no label left: nothing meets the deadline
        done += n_c + n_s
        if done + (n_c + n_s) * (c.n - i - 1) > budget:
            return _CAPPED
        history.append({1: (kept_c, len(lab[1][0])), 0: (kept_s, len(lab[0][0]))})
        lab = {1: on_c, 0: on_s}
    return (lab, history) if fronts else _finish(c, lab, history, limit)


def _finish(c: Costs, lab: dict[int, _Front], history: _History, limit: float) -> tuple[float, tuple[int, ...]] | None:
    best = None  # (reward, -latency, side, index)
    for side in (1, 0):
        lat, rew = _as_list(lab[side][0]), _as_list(lab[side][1])
        if side == 1:
            tail = 0.0 if c.end_client else float(c.up_out_ms)
        else:
            tail = float(c.down_out_ms) if c.end_client else 0.0
        top = None   # the most rewarding label that arrives in time (ties: the faster, then the first)
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
        kept, n_same = history[k][side]
        j = int(kept[idx])
        side, idx = (side, j) if j < n_same else (1 - side, j - n_same)
    return best[0], tuple(policy)
