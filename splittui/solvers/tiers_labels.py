"""The K-tier label passes (`solvers.tiers`, SPEC §11): per layer and tier the Pareto labels (time, cost), kept
only if they can still reach the end in time. `tier_dp` runs them on whole time units, `tier_exact` on float times
(with TTFT/TPOT limits: labels (ttft, decode, cost), `tier_exact_limits`); the `*_front` variants return every
Pareto-optimal (latency, cost) end point with its policy, from one pass.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import SplittuiError
from ..tiers import TierCosts, TierPhases
from .dp import _units, budget_units

__all__ = ["tier_dp", "tier_exact", "tier_front", "tier_front_limits", "tier_dp_front", "tier_exact_limits"]

_I = NDArray[np.int64]
_A = NDArray[Any]   # float times (exact) or whole units (dp)


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit))


def _remaining(time_: _A, trans: _A, out: _A, end: int, pin: _I | None) -> _A:
    """rem[l, k]: least time from 'layers before l done, the last on tier k' to the answer on `end`."""
    k, n = time_.shape
    rem = np.zeros((n + 1, k), dtype=time_.dtype)
    rem[n] = out[:, end]
    big = np.iinfo(np.int64).max // 4 if time_.dtype.kind == "i" else np.inf
    for li in range(n - 1, -1, -1):
        step = trans[:, :, li] + (time_[:, li] + rem[li + 1])[None, :]
        if pin is not None and pin[li] >= 0:
            mask = np.arange(k) != pin[li]
            step[:, mask] = big
        rem[li] = step.min(axis=1)
    return rem


def _pass(time_: _A, trans: _A, out: _A, cost: _A, start: int, end: int, limit: float,
          pin: _I | None) -> tuple[int, ...] | None:
    """The labels pass over one chain (int or float times); the least-cost policy within `limit`, or None."""
    got = _labels(time_, trans, out, cost, start, end, limit, pin)
    if got is None:
        return None
    lab_t, lab_c, lab_k, tiers_of, parents = got
    total = lab_t + out[lab_k, end]
    ok = np.flatnonzero(total <= limit)
    if ok.size == 0:
        return None
    return _backtrack(tiers_of, parents, int(ok[np.lexsort((total[ok], lab_c[ok]))[0]]))


def _labels(time_: _A, trans: _A, out: _A, cost: _A, start: int, end: int, limit: float, pin: _I | None
            ) -> tuple[_A, _A, _I, list[_I], list[_I]] | None:
    """The last layer's labels (time, cost, tier; each tier's labels Pareto in time and cost) and the history
    to backtrack them, every label able to reach the answer within `limit`; None if none is.

    A layer's labels of every tier sit in one set of arrays (times, costs, tiers, parents), so a layer is
    ~15 numpy calls whatever K: the candidates of all target tiers at once, sorted by (tier, time, cost),
    and a running minimum of the cost that restarts at each tier."""
    k, n = time_.shape
    rem = _remaining(time_, trans, out, end, pin)
    lab_t = np.zeros(1, dtype=time_.dtype)
    lab_c = np.zeros(1)
    lab_k = np.array([start])
    tiers_of: list[_I] = []
    parents: list[_I] = []
    every = np.arange(k)
    for li in range(n):
        tiers = every if pin is None or pin[li] < 0 else np.array([pin[li]])
        add = trans[:, :, li].T + time_[:, li][:, None]           # [to, from]
        cand_t = lab_t[None, :] + add[tiers][:, lab_k]
        ok = np.flatnonzero(cand_t + rem[li + 1, tiers][:, None] <= limit)
        if ok.size == 0:
            return None
        seg, src = np.divmod(ok, lab_t.size)
        t = cand_t.ravel()[ok]
        c = lab_c[src] + cost[tiers, li][seg]
        order = np.lexsort((c, t, seg))
        cs = c[order]
        run = np.empty_like(cs)
        bounds = np.searchsorted(seg[order], np.arange(tiers.size + 1))
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):   # the running min restarts per tier
            np.minimum.accumulate(cs[a:b], out=run[a:b])
        keep = np.ones(cs.size, dtype=bool)
        keep[1:] = cs[1:] < run[:-1]
        keep[bounds[:-1][bounds[:-1] < cs.size]] = True
        chosen = order[keep]
        lab_t, lab_c, lab_k = t[chosen], c[chosen], tiers[seg[chosen]]
        tiers_of.append(lab_k)
        parents.append(src[chosen])
    return lab_t, lab_c, lab_k, tiers_of, parents


def tier_front(c: TierCosts, limit: float = math.inf) -> list[tuple[float, float, tuple[int, ...]]]:
    """Every Pareto-optimal (request latency, weighted work above the first tier) policy within `limit`,
    fastest first, each the exact optimum from its latency on (until the next point's): the last layer's
    labels of all tiers, their answer transfer added, reduced to the two-dimensional front."""
    got = _labels(c.time, c.transfer(), c.out_transfer(), c.cost, c.start, c.end, limit, c.pin)
    if got is None:
        return []
    lab_t, lab_c, lab_k, tiers_of, parents = got
    total = lab_t + c.out_transfer()[lab_k, c.end]
    return _front_of(total, lab_c, np.flatnonzero(total <= limit), tiers_of, parents)


def tier_front_limits(ph: TierPhases, ttft_ms: float | None, tpot_ms: float | None,
                      limit: float = math.inf) -> list[tuple[float, float, tuple[int, ...]]]:
    """`tier_front` among the policies that meet the TTFT/TPOT limits: every Pareto-optimal (request latency,
    weighted work) policy whose prefill latency is within `ttft_ms` and mean decode step within `tpot_ms`,
    fastest first. The labels are `tier_exact_limits`' (ttft, decode, cost), Pareto in all three, so no policy
    meeting the limits is lost; the end labels that meet them are reduced to the two-dimensional front of
    (ttft + decode, cost). No limit that binds (none given; TPOT without decode steps): `tier_front`."""
    lim_a, lim_b = _limit_bounds(ph, ttft_ms, tpot_ms)
    if math.isinf(lim_a) and math.isinf(lim_b):
        return tier_front(ph.composite(), limit)
    got = _limit_labels(ph, lim_a, lim_b, limit)
    if got is None:
        return []
    a_end, b_end, cost, tiers_of, parents = got
    total = a_end + b_end
    ok = np.flatnonzero((a_end <= lim_a) & (b_end <= lim_b) & (total <= limit))
    return _front_of(total, cost, ok, tiers_of, parents)


def _front_of(total: _A, cost: _A, ok: _I, tiers_of: list[_I], parents: list[_I]
              ) -> list[tuple[float, float, tuple[int, ...]]]:
    """The end labels `ok` reduced to their (latency, cost) front, fastest first, each with its policy (the
    points' policies backtracked together: one gather per layer for all of them)."""
    keep: list[int] = []
    best = math.inf
    for i in ok[np.lexsort((cost[ok], total[ok]))].tolist():
        if cost[i] < best:
            best = float(cost[i])
            # a cheaper point as fast up to float noise (the same sum taken in another order) replaces the last
            while keep and total[i] <= total[keep[-1]] + 1e-9 * abs(float(total[keep[-1]])):
                keep.pop()
            keep.append(i)
    idx = np.array(keep, dtype=np.int64)
    policy = np.zeros((idx.size, len(tiers_of)), dtype=np.int64)
    for li in range(len(tiers_of) - 1, -1, -1):
        policy[:, li] = tiers_of[li][idx]
        idx = parents[li][idx]
    return [(float(total[i]), float(cost[i]), tuple(x)) for i, x in zip(keep, policy.tolist(), strict=True)]


def _units_of(c: TierCosts, unit_ms: float, rounding: str) -> tuple[_I, _I, _I]:
    """Integer times: each compute time and each hop's transfer rounded up on its own, then summed."""
    ints = TierCosts(time=_units(c.time, unit_ms, rounding).astype(np.float64),
                     up=_units(c.up, unit_ms, rounding).astype(np.float64),
                     down=_units(c.down, unit_ms, rounding).astype(np.float64),
                     up_out=_units(c.up_out, unit_ms, rounding).astype(np.float64),
                     down_out=_units(c.down_out, unit_ms, rounding).astype(np.float64),
                     reward=c.reward, weights=c.weights, start=c.start, end=c.end, deadline_ms=c.deadline_ms)
    as_int = np.int64
    return (ints.time.astype(as_int), ints.transfer().astype(as_int), ints.out_transfer().astype(as_int))


def tier_dp(c: TierCosts, unit_ms: float, rounding: str = "ceil") -> tuple[int, ...] | None:
    """The DP over time units (module doc): optimal for the integerised chain, feasible for the real one."""
    w = budget_units(c.deadline_ms, unit_ms)
    if not math.isfinite(w):
        raise SplittuiError(f"deadline {c.deadline_ms:g} ms at unit {unit_ms:g} ms: too many time units")
    t, trans, out = _units_of(c, unit_ms, rounding)
    return _pass(t, trans, out, c.cost, c.start, c.end, float(w), c.pin)


def tier_dp_front(c: TierCosts, unit_ms: float, rounding: str = "ceil") -> list[tuple[float, float, tuple[int, ...]]]:
    """The DP at every budget up to c's deadline, from one pass: its (whole time units, cost) front, fastest
    first. The DP's answer at a deadline d is the last point within ``budget_units(d, T)``: the cost and
    units `tier_dp` finds there, as a label a tighter budget prunes is one this pass keeps or dominates."""
    w = budget_units(c.deadline_ms, unit_ms)
    if not math.isfinite(w):
        raise SplittuiError(f"deadline {c.deadline_ms:g} ms at unit {unit_ms:g} ms: too many time units")
    t, trans, out = _units_of(c, unit_ms, rounding)
    got = _labels(t, trans, out, c.cost, c.start, c.end, float(w), c.pin)
    if got is None:
        return []
    lab_t, lab_c, lab_k, tiers_of, parents = got
    total = lab_t + out[lab_k, c.end]
    return _front_of(total, lab_c, np.flatnonzero(total <= w), tiers_of, parents)


def tier_exact(c: TierCosts) -> tuple[int, ...] | None:
    """The exact optimum under the deadline: float labels, no time unit."""
    return _pass(c.time, c.transfer(), c.out_transfer(), c.cost, c.start, c.end, _slack(c.deadline_ms), c.pin)


def tier_exact_limits(ph: TierPhases, ttft_ms: float | None, tpot_ms: float | None) -> tuple[int, ...] | None:
    """The exact optimum with TTFT/TPOT limits: labels (ttft, decode, cost), Pareto in all three (SPEC §8)."""
    lim_a, lim_b = _limit_bounds(ph, ttft_ms, tpot_ms)
    lim = _slack(ph.prefill.deadline_ms)
    got = _limit_labels(ph, lim_a, lim_b, lim)
    if got is None:
        return None
    a_end, b_end, cost, tiers_of, parents = got
    ok = np.flatnonzero((a_end <= lim_a) & (b_end <= lim_b) & (a_end + b_end <= lim))
    if ok.size == 0:
        return None
    idx = int(ok[np.lexsort(((a_end + b_end)[ok], cost[ok]))[0]])
    return _backtrack(tiers_of, parents, idx)


def _limit_bounds(ph: TierPhases, ttft_ms: float | None, tpot_ms: float | None) -> tuple[float, float]:
    """The bounds on the prefill latency and on the decode steps' sum (inf: no limit), with float slack."""
    lim_a = _slack(ttft_ms) if ttft_ms is not None else math.inf
    lim_b = _slack(tpot_ms * ph.steps) if tpot_ms is not None and ph.steps else math.inf
    return lim_a, lim_b


def _limit_labels(ph: TierPhases, lim_a: float, lim_b: float, lim: float
                  ) -> tuple[_A, _A, _A, list[_I], list[_I]] | None:
    """The labels (ttft, decode, cost) of the last layer, Pareto in all three per tier, every one able to meet
    the bounds (prefill within lim_a, decode within lim_b, both within lim); returns their end ttft and decode
    (the answer's transfers added), costs and the history to backtrack them; None if no label survives.

    Over 40 lines: one pass holding three label coordinates and three pruning bounds together."""
    p = ph.prefill
    d = ph.decode if ph.decode is not None else _zero(p)
    comp = ph.composite()
    k, n = p.k, p.n
    tp, td, cost = p.transfer(), d.transfer(), comp.cost
    op, od = p.out_transfer(), d.out_transfer()
    rem_a = _remaining(p.time, tp, op, p.end, p.pin)
    rem_b = _remaining(d.time, td, od, p.end, p.pin)
    rem_c = _remaining(comp.time, comp.transfer(), comp.out_transfer(), p.end, p.pin)
    lab = np.zeros((1, 3))
    lab_k = np.array([p.start])
    tiers_of: list[_I] = []
    parents: list[_I] = []
    for li in range(n):
        tiers = np.arange(k) if p.pin is None or p.pin[li] < 0 else np.array([p.pin[li]])
        add = np.stack([tp[:, :, li].T + p.time[:, li][:, None], td[:, :, li].T + d.time[:, li][:, None],
                        np.repeat(cost[:, li][:, None], k, axis=1)], axis=-1)       # [to, from, coordinate]
        cand = lab[None, :, :] + add[tiers][:, lab_k]                                # [target, label, coordinate]
        a, b = cand[..., 0], cand[..., 1]
        ok = ((a + rem_a[li + 1, tiers][:, None] <= lim_a) & (b + rem_b[li + 1, tiers][:, None] <= lim_b)
              & (a + b + rem_c[li + 1, tiers][:, None] <= lim))
        flat = cand.reshape(-1, 3)
        chosen = np.concatenate([_pareto3(flat, np.flatnonzero(ok[i]) + i * lab_k.size) for i in range(tiers.size)])
        if chosen.size == 0:
            return None
        seg, src = np.divmod(chosen, lab_k.size)
        lab, lab_k = flat[chosen], tiers[seg]
        tiers_of.append(lab_k)
        parents.append(src)
    return lab[:, 0] + op[lab_k, p.end], lab[:, 1] + od[lab_k, p.end], lab[:, 2], tiers_of, parents


def _backtrack(tiers_of: list[_I], parents: list[_I], idx: int) -> tuple[int, ...]:
    """The policy of the label `idx` of the last layer, following each label's parent back to the start."""
    policy = [0] * len(tiers_of)
    for li in range(len(tiers_of) - 1, -1, -1):
        policy[li] = int(tiers_of[li][idx])
        idx = int(parents[li][idx])
    return tuple(policy)


def _pareto3(lab: _A, ok: _I) -> _I:
    """Indices among `ok` of labels no other label beats in all three coordinates (first of equals)."""
    order = ok[np.lexsort((lab[ok, 2], lab[ok, 1], lab[ok, 0]))]
    stair_b: list[float] = []     # kept labels' (b, c), b ascending, c strictly descending
    stair_c: list[float] = []
    kept = []
    for i in order.tolist():
        b, c = float(lab[i, 1]), float(lab[i, 2])
        pos = bisect_right(stair_b, b)
        if pos and stair_c[pos - 1] <= c:
            continue
        kept.append(i)
        end = pos
        while end < len(stair_b) and stair_c[end] >= c:
            end += 1
        stair_b[pos:end] = [b]
        stair_c[pos:end] = [c]
    return np.array(kept, dtype=np.int64)


def _zero(c: TierCosts) -> TierCosts:
    z = np.zeros_like
    return TierCosts(time=z(c.time), up=z(c.up), down=z(c.down), up_out=z(c.up_out), down_out=z(c.down_out),
                     reward=z(c.reward), weights=c.weights, start=c.start, end=c.end, deadline_ms=c.deadline_ms,
                     pin=c.pin)
