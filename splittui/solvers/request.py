"""Solving a whole generation request (SPEC §8) and the exact solver under TTFT and TPOT limits.

Every solver runs on the request's composite chain, which carries the end-to-end deadline. The
optional limits TTFT ≤ Λ_ttft and TPOT ≤ Λ_tpot (i.e. total decode latency ≤ N·Λ_tpot) are handled
exactly by ``exact_limits_policy`` (and by brute force); any other solver's policy is checked against
them afterwards and reported as infeasible, with the reason, when it breaks one.

``exact_limits_policy`` keeps per layer and side the labels (prefill latency P, decode latency D,
client reward R) that no other label dominates in all three, pruned by the least remaining P, D and
P+D to the end and by an incumbent's reward (an upper bound on the reward still to come). Fast
path: when the two-dimensional exact optimum of the composite chain already meets the limits it is
optimal, and no 3-D labels are built.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from ..errors import SplittuiError
from ..generation import Phases, request_times
from ..model import Result, Scenario
from .baselines import BRUTE_FORCE_MAX_LAYERS, prefix_latencies
from .exact import exact_policy, meets, remaining_latency

__all__ = ["limits_of", "has_limits", "violations", "annotate", "exact_limits_policy",
           "brute_force_limits_policy"]

_SMALL = 96                                             # up to this many labels: one sorted comparison matrix
_EARLIER = np.tri(_SMALL, k=-1, dtype=bool)              # [i, j]: j < i
_CELLS = 1 << 18                                        # above: label pairs compared at once


def limits_of(sc: Scenario) -> tuple[float, float]:
    """(TTFT limit, limit on the summed decode latency N·Λ_tpot); inf where absent or vacuous."""
    ttft = math.inf if sc.ttft_ms is None else float(sc.ttft_ms)
    dec = math.inf if sc.tpot_ms is None or sc.gen_tokens == 0 else float(sc.tpot_ms) * sc.gen_tokens
    return ttft, dec


def has_limits(sc: Scenario) -> bool:
    return limits_of(sc) != (math.inf, math.inf)


def violations(res: Result, ph: Phases, sc: Scenario) -> tuple[str, ...]:
    """The limits a result's policy breaks, one short phrase each (empty: it meets all of them)."""
    if res.policy is None:
        if res.feasible:
            return ()
        if res.min_latency_ms > sc.deadline_ms:
            return (f"no policy meets the deadline (least request latency {res.min_latency_ms:.1f} ms)",)
        return ("no policy meets the deadline and the TTFT/TPOT limits together",)
    t = request_times(ph, res.policy)
    out = []
    if res.latency_ms is not None and not meets(res.latency_ms, sc.deadline_ms):
        out.append(f"latency {res.latency_ms:.1f} ms > deadline {sc.deadline_ms:g} ms")
    if sc.ttft_ms is not None and not meets(t.ttft_ms, sc.ttft_ms):
        out.append(f"TTFT {t.ttft_ms:.1f} ms > limit {sc.ttft_ms:g} ms")
    if sc.tpot_ms is not None and t.tpot_ms is not None and not meets(t.tpot_ms, sc.tpot_ms):
        out.append(f"TPOT {t.tpot_ms:.1f} ms > limit {sc.tpot_ms:g} ms")
    return tuple(out)


def annotate(res: Result, ph: Phases, sc: Scenario) -> Result:
    """Add TTFT, TPOT and server memory; a policy breaking a limit is marked infeasible, with why."""
    why = violations(res, ph, sc)
    if res.policy is None:
        return replace(res, violations=why)
    t = request_times(ph, res.policy)
    return replace(res, feasible=res.feasible and not why, ttft_ms=t.ttft_ms, tpot_ms=t.tpot_ms,
                   server_mem_bytes=t.server_mem_bytes, violations=why)


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit)) if math.isfinite(limit) else math.inf


def _zero_like(c: Costs) -> Costs:
    z = np.zeros(c.n)
    return replace(c, client_ms=z, server_ms=z, up_ms=z, down_ms=z, reward=z, up_out_ms=0.0, down_out_ms=0.0)


def _pareto3(P: np.ndarray, D: np.ndarray, R: np.ndarray, keep: np.ndarray, n_same: int) -> np.ndarray:
    """Indices of the labels among `keep` that no other is at least as good on in all of P, D, −R,
    sorted by (P, D, −R); of equal labels the first in that order (the lower index) is kept.

    Small sets: sorted by (P, D, −R), a label is dominated iff an earlier one has D' ≤ D and R' ≥ R
    (one masked comparison matrix). Large sets use that the candidates are two groups, [:n_same] and
    [n_same:], each a front shifted by one constant (no label dominates another of its own group): only
    the cross-group pairs are compared, in blocks of rows. A float rounding that makes two labels of
    one group comparable can only leave an extra label there, never drop a needed one.
    """
    idx = np.flatnonzero(keep)
    n = idx.size
    split = int(np.searchsorted(idx, n_same))
    if n <= _SMALL or split in (0, n):
        order = idx[np.lexsort((-R[idx], D[idx], P[idx]))]
        if split in (0, n):                              # one group: a front already
            return order
        d, r = D[order], R[order]
        m = (d <= d[:, None]) & (r >= r[:, None])
        m &= _EARLIER[:n, :n]
        return order[~m.any(axis=1)]
    a, b = idx[:split], idx[split:]
    pb, db, rb = P[b], D[b], R[b]
    a_dom = np.zeros(a.size, dtype=bool)
    b_dom = np.zeros(b.size, dtype=bool)
    step = max(1, _CELLS // b.size)
    for lo in range(0, a.size, step):
        rows = a[lo:lo + step]
        pa, da, ra = P[rows, None], D[rows, None], R[rows, None]
        a_ge = (pa <= pb) & (da <= db) & (ra >= rb)          # [i, j]: a_i at least as good as b_j
        b_ge = (pb <= pa) & (db <= da) & (rb >= ra)          # [i, j]: b_j at least as good as a_i
        b_dom |= a_ge.any(axis=0)
        a_dom[lo:lo + step] = (b_ge & ~a_ge).any(axis=1)     # equal labels: the first group's stays
    idx = np.concatenate((a[~a_dom], b[~b_dom]))
    return idx[np.lexsort((-R[idx], D[idx], P[idx]))]


def _incumbent(pre: Costs, dec: Costs, tot: Costs, lims: tuple[float, float, float]) -> float:
    """Best client reward over the prefix policies that meet every limit (−inf if none), O(L)."""
    p, d = prefix_latencies(pre), prefix_latencies(dec)
    ok = (p <= lims[0]) & (d <= lims[1]) & (p + d <= lims[2])
    cum = np.concatenate(([0.0], np.cumsum(tot.reward)))
    return float(cum[ok].max()) if ok.any() else -math.inf


def _meets_all(pre: Costs, dec: Costs, x: np.ndarray, lims: tuple[float, float, float]) -> bool:
    from ..costs import latency

    p, d = latency(pre, x), latency(dec, x)
    return p <= lims[0] and d <= lims[1] and p + d <= lims[2]


def exact_limits_policy(ph: Phases, sc: Scenario) -> tuple[int, ...] | None:
    """Max client reward policy meeting the deadline, the TTFT and the TPOT limits exactly, or None."""
    tot = ph.composite()
    ttft, dec_lim = limits_of(sc)
    fast = exact_policy(tot)
    pre, dec = ph.prefill, ph.decode if ph.decode is not None else _zero_like(ph.prefill)
    lims = (_slack(ttft), _slack(dec_lim), _slack(sc.deadline_ms))
    if fast is None or _meets_all(pre, dec, np.array(fast, dtype=np.int8), lims):
        return fast
    return _labels3(pre, dec, tot, lims)


_F = NDArray[np.float64]
_Labels3 = dict[int, tuple[_F, _F, _F]]        # per side: the labels' TTFT, TPOT and reward
_History3 = list[dict[int, tuple[NDArray[np.intp], int]]]  # per layer and side: kept candidates, same-side count


def _labels3(pre: Costs, dec: Costs, tot: Costs, lims: tuple[float, float, float]) -> tuple[int, ...] | None:
    """The 3-D label-setting pass (see the module docstring). Worst case exponential in L."""
    rem = [remaining_latency(c) for c in (pre, dec, tot)]     # each: (rem_client, rem_server)
    future = np.concatenate((np.cumsum(tot.reward[::-1])[::-1], [0.0]))   # reward still available
    floor = _incumbent(pre, dec, tot, lims)
    e = np.zeros(0)
    z = np.zeros(1)
    start = (z, z, z)
    lab = {1: start if tot.start_client else (e, e, e), 0: (e, e, e) if tot.start_client else start}
    history = []
    for i in range(tot.n):
        new, parents = {}, {}
        for side in (1, 0):
            P, D, R, n_same = _extend(lab, side, i, pre, dec, tot)
            j = 0 if side == 1 else 1                       # remaining_latency: (client, server)
            rp, rd, rt = rem[0][j][i + 1], rem[1][j][i + 1], rem[2][j][i + 1]
            ok = ((P + rp <= lims[0]) & (D + rd <= lims[1]) & (P + D + rt <= lims[2])
                  & (R + future[i + 1] >= floor))
            keep = _pareto3(P, D, R, ok, n_same)
            new[side] = (P[keep], D[keep], R[keep])
            parents[side] = (keep, n_same)
        if not (new[0][0].size or new[1][0].size):
            return None                                     # no label left: nothing meets the limits
        lab = new
        history.append(parents)
    return _finish3(pre, dec, lab, history, lims)


def _extend(lab: _Labels3, side: int, i: int, pre: Costs, dec: Costs, tot: Costs) -> tuple[_F, _F, _F, int]:
    """Candidates for layer i on `side`: every label of i−1 on either side (same side first), moved across i,
    and how many came from the same side (a candidate's index below it: a same-side parent)."""
    (P0, D0, R0), (P1, D1, R1) = lab[side], lab[1 - side]
    if side == 1:
        own_p, own_d, gain = pre.client_ms[i], dec.client_ms[i], tot.reward[i]
        hop_p, hop_d = pre.down_ms[i], dec.down_ms[i]
    else:
        own_p, own_d, gain = pre.server_ms[i], dec.server_ms[i], 0.0
        hop_p, hop_d = pre.up_ms[i], dec.up_ms[i]
    P = np.concatenate((P0, P1 + hop_p)) + own_p
    D = np.concatenate((D0, D1 + hop_d)) + own_d
    R = np.concatenate((R0, R1)) + gain
    return P, D, R, P0.size


def _tails(c: Costs, side: int) -> float:
    if side == 1:
        return 0.0 if c.end_client else c.up_out_ms
    return c.down_out_ms if c.end_client else 0.0


def _finish3(pre: Costs, dec: Costs, lab: _Labels3, history: _History3, lims: tuple[float, float, float]
             ) -> tuple[int, ...] | None:
    best = None  # (reward, -latency, side, index)
    for side in (1, 0):
        P, D, R = lab[side]
        P, D = P + _tails(pre, side), D + _tails(dec, side)
        ok = np.flatnonzero((P <= lims[0]) & (D <= lims[1]) & (P + D <= lims[2]))
        if ok.size:
            i = ok[np.lexsort((P[ok] + D[ok], -R[ok]))[0]]
            cand = (R[i], -(P[i] + D[i]), side, int(i))
            if best is None or cand[:2] > best[:2]:
                best = cand
    if best is None:
        return None
    side, idx = best[2], best[3]
    policy = [0] * pre.n
    for k in range(pre.n - 1, -1, -1):
        policy[k] = side
        kept, n_same = history[k][side]
        j = int(kept[idx])
        side, idx = (side, j) if j < n_same else (1 - side, j - n_same)
    return tuple(policy)


def _all_latencies(c: Costs, X: NDArray[np.int8]) -> NDArray[np.float64]:
    first = np.full((X.shape[0], 1), int(c.start_client), dtype=np.int8)
    prev = np.hstack((first, X[:, :-1]))
    lat = X @ c.client_ms + (1 - X) @ c.server_ms
    lat = lat + ((prev == 1) & (X == 0)) @ c.up_ms + ((prev == 0) & (X == 1)) @ c.down_ms
    last = X[:, -1]
    lat = lat + np.where((last == 1) & (not c.end_client), c.up_out_ms, 0.0)
    out: NDArray[np.float64] = lat + np.where((last == 0) & c.end_client, c.down_out_ms, 0.0)
    return out


def brute_force_limits_policy(ph: Phases, sc: Scenario) -> tuple[int, ...] | None:
    """All 2^L policies against the deadline and both limits (small L only). Ties: less latency."""
    tot = ph.composite()
    if tot.n > BRUTE_FORCE_MAX_LAYERS:
        raise SplittuiError(f"brute-force is limited to {BRUTE_FORCE_MAX_LAYERS} layers, this chain has {tot.n}")
    X = np.array(list(itertools.product((0, 1), repeat=tot.n)), dtype=np.int8).reshape(-1, tot.n)
    P = _all_latencies(ph.prefill, X)
    D = _all_latencies(ph.decode, X) if ph.decode is not None else np.zeros(len(X))
    ttft, dec_lim = limits_of(sc)
    ok = (P <= _slack(ttft)) & (D <= _slack(dec_lim)) & (P + D <= _slack(sc.deadline_ms))
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)
    best = idx[np.lexsort(((P + D)[idx], -(X @ tot.reward)[idx]))[0]]
    return tuple(int(v) for v in X[best])


def timed(fn: Callable[..., object], *args: object) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1e3
