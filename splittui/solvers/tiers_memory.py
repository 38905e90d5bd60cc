"""Tier placement under per-tier memory limits (SPEC §10–11), exactly: labels with memory rows.

A label of a state (layer l done on tier k) is a row vector: the latency (or prefill P and decode D apart
under TTFT/TPOT limits, or whole time units for the DP), the cost, and per *binding* tier the bytes held
there so far (weights + KV, summed) and the largest activation there so far (a maximum). A tier binds when
the whole model would not fit within its budget (limit less its runtime reserve); the others never need a
row. A label is kept when no other label of its state is at most as large in every row, and pruned when a
row (or P + D, or held + activation) cannot stay within its limit given the least still to come (least
remaining latency; bytes of the layers pinned to that tier). Every constraint is monotone in every row, so
the pass is exact, as `constrained` is for two tiers.

A tied embedding/LM-head matrix is held once per tier holding either layer: the two layers' tiers are
enumerated (at most K² cases, fewer with pins) and each case is a plain additive pass whose budget gives
the shared bytes back when both run on one tier.

Labels are also pruned by cost: the pass keeps only labels that can still end at most `upper` (a lower
bound of the rest: the cheapest unlimited tier per layer, less a fractional knapsack of what the limited
tiers' room can save); `upper` starts just above the optimum without memory limits and is raised until a
policy is found, which is then optimal.

Time: per layer and tier O(m²·R) for m candidates and R rows (pairwise dominance, chunked); worst case
exponential in L like every exact method here, and in practice too: on a 259-layer LLM over three tiers
with a binding limit the labels reach thousands within 30 layers. Above LABEL_CAP labels the pass gives up
(`GaveUp`); the caller then reports the unconstrained policy as not fitting, saying so.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.typing import NDArray

from ..memory import reserve_bytes
from ..tiers import TierCosts, TierPhases
from .dp import _units, budget_units
from .tiers_labels import _remaining, _zero

__all__ = ["binding_tiers", "memory_tier_policy", "GaveUp", "LABEL_CAP"]

LABEL_CAP = 2000   # labels of one layer above which the memory pass stops (GaveUp): the rows multiply them


class GaveUp(Exception):
    """The memory pass held more than LABEL_CAP labels at one layer (`layer`)."""

    def __init__(self, layer: int) -> None:
        super().__init__(f"layer {layer}")
        self.layer = layer

_F = NDArray[np.float64]
_I = NDArray[np.int64]
_CHUNK = 1024


def binding_tiers(ph: TierPhases) -> dict[int, float]:
    """Tier -> budget (bytes) of every tier whose limit some policy could exceed."""
    if ph.mem is None:
        return {}
    whole = float(ph.mem.held.sum() + ph.mem.act.max())
    out = {}
    for k, limit in enumerate(ph.mem_limits):
        if limit is not None and whole > limit - reserve_bytes(limit):
            out[k] = limit - reserve_bytes(limit)
    return out


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit))


def memory_tier_policy(ph: TierPhases, *, ttft_ms: float | None = None, tpot_ms: float | None = None,
                       unit_ms: float | None = None, rounding: str = "ceil") -> tuple[int, ...] | None:
    """The least-cost policy meeting the deadline, the TTFT/TPOT limits (exact only) and every tier's memory.
    `unit_ms`: the DP (times in whole units, deadline W; limits checked after, as for two tiers)."""
    budgets = binding_tiers(ph)
    c = ph.composite()
    low = max(0.0, _relaxed_optimum(ph, unit_ms, rounding))
    gap = max(1e-3 * low, 1e-9 * float(c.cost.sum()), 1e-12)
    upper = low + gap
    while True:   # labels that cannot reach cost <= upper are pruned; raise upper until a policy is found
        found = _cases(ph, budgets, c, ttft_ms, tpot_ms, unit_ms, rounding, upper)
        if found[0] is not None or upper >= float(c.cost.max(axis=0).sum()):   # no cost can exceed that sum
            return found[0]
        gap *= 4.0
        upper = low + gap


def _relaxed_optimum(ph: TierPhases, unit_ms: float | None, rounding: str) -> float:
    """The least cost without the memory limits (a lower bound of the constrained one); 0 if none."""
    from ..tiers import score
    from .tiers import tier_dp, tier_exact

    c = ph.composite()
    x = tier_exact(c) if unit_ms is None else tier_dp(c, unit_ms, rounding)
    return 0.0 if x is None else score(c, x).objective


def _cases(ph: TierPhases, budgets: dict[int, float], c: TierCosts, ttft_ms: float | None, tpot_ms: float | None,
           unit_ms: float | None, rounding: str, upper: float) -> tuple[tuple[int, ...] | None, float, float]:
    tied = ph.mem.tied if ph.mem is not None else None
    if tied is None:
        return _best([_pass(ph, budgets, c.pin, ttft_ms, tpot_ms, unit_ms, rounding, upper)])
    e, h, shared = tied
    choices = [range(c.k) if c.pin is None or c.pin[i] < 0 else (int(c.pin[i]),) for i in (e, h)]
    found = []
    for te, th in itertools.product(*choices):
        pin = np.full(c.n, -1, dtype=np.int64) if c.pin is None else c.pin.copy()
        pin[e], pin[h] = te, th
        case = dict(budgets)
        if te == th and te in case:
            case[te] += shared
        found.append(_pass(ph, case, pin, ttft_ms, tpot_ms, unit_ms, rounding, upper))
    return _best(found)


def _cost_bounds(cost: _F, held: _F, budgets: dict[int, float], pin: _I | None) -> list[tuple[float, _F, _F]]:
    """Per layer l: the least cost of layers l.. as (base, cumulative bytes, cumulative saving): every layer on
    its cheapest unlimited tier (base), less the best fractional knapsack of savings from moving layers to a
    limited tier within the limited tiers' room together (a relaxation, so a valid lower bound)."""
    k, n = cost.shape
    free = [t for t in range(k) if t not in budgets]
    base = cost[free].min(axis=0) if free else cost.min(axis=0)
    lim = cost[sorted(budgets)].min(axis=0) if budgets else base
    save = np.maximum(base - lim, 0.0)
    if pin is not None:
        fixed = pin >= 0
        base = np.where(fixed, cost[np.maximum(pin, 0), np.arange(n)], base)
        save = np.where(fixed, 0.0, save)
    out = []
    for li in range(n + 1):
        s, h = save[li:], held[li:]
        nothing = h <= 0
        b = float(base[li:].sum() - s[nothing].sum())
        order = np.argsort(-(s[~nothing] / h[~nothing]), kind="stable")
        out.append((b, np.concatenate(([0.0], np.cumsum(h[~nothing][order]))),
                    np.concatenate(([0.0], np.cumsum(s[~nothing][order])))))
    return out


def _least_rest(bound: tuple[float, _F, _F], room: _F) -> _F:
    base, cum_h, cum_s = bound
    saved: _F = np.interp(np.maximum(room, 0.0), cum_h, cum_s)
    return base - saved


def _best(found: list[tuple[tuple[int, ...] | None, float, float]]) -> tuple[tuple[int, ...] | None, float, float]:
    ok = [f for f in found if f[0] is not None]
    return min(ok, key=lambda f: (f[1], f[2])) if ok else (None, math.inf, math.inf)


def _times(ph: TierPhases, unit_ms: float | None, rounding: str) -> tuple[list[TierCosts], list[float]]:
    """The time rows' chains and limits: [composite] (DP: in units), or [prefill, decode] under limits."""
    c = ph.composite()
    if unit_ms is None:
        return [c], [_slack(c.deadline_ms)]
    k = {f: _units(getattr(c, f), unit_ms, rounding).astype(np.float64) for f in ("time", "up", "down", "up_out",
                                                                                  "down_out")}
    ints = TierCosts(**k, reward=c.reward, weights=c.weights, start=c.start, end=c.end, deadline_ms=c.deadline_ms,
                     pin=c.pin)
    return [ints], [budget_units(c.deadline_ms, unit_ms)]


def _pass(ph: TierPhases, budgets: dict[int, float], pin: _I | None, ttft_ms: float | None, tpot_ms: float | None,
          unit_ms: float | None, rounding: str, upper: float) -> tuple[tuple[int, ...] | None, float, float]:
    """One labels pass; (policy, cost, latency) of its best end label. Over 40 lines: rows, bounds and the
    end are one structure, kept together so that each row's bound sits beside its update."""
    comp = ph.composite()
    split = unit_ms is None and (ttft_ms is not None or tpot_ms is not None)
    chains, lims = ([ph.prefill, ph.decode if ph.decode is not None else _zero(ph.prefill)],
                    [_slack(ttft_ms) if ttft_ms is not None else math.inf,
                     _slack(tpot_ms * ph.steps) if tpot_ms is not None and ph.steps else math.inf]) if split \
        else _times(ph, unit_ms, rounding)
    total_lim = _slack(comp.deadline_ms) if split else lims[0]
    moves = [(ch.time, ch.transfer(), ch.out_transfer()) for ch in chains]
    rems = [_remaining(t, tr, o, comp.end, pin) for t, tr, o in moves]
    rem_all = _remaining(comp.time, comp.transfer(), comp.out_transfer(), comp.end, pin) if split else rems[0]
    nt, k, n = len(chains), comp.k, comp.n
    bind = sorted(budgets)
    held = np.zeros(n) if ph.mem is None else ph.mem.held
    act = np.zeros(n) if ph.mem is None else ph.mem.act
    # bytes the layers from l on must still put on tier b: those pinned there
    pinned_rest = {b: np.append(np.cumsum((held * (pin == b))[::-1])[::-1], 0.0) if pin is not None
                   else np.zeros(n + 1) for b in bind}
    lab = np.zeros((1, nt + 1 + 2 * len(bind)))
    lab_k = np.array([comp.start])
    tiers_of: list[_I] = []
    parents: list[_I] = []
    cost = comp.cost
    bounds = _cost_bounds(cost, held, budgets, pin)
    upper_slack = upper + 1e-9 * max(1.0, abs(upper))
    for li in range(n):
        tiers = range(k) if pin is None or pin[li] < 0 else (int(pin[li]),)
        kept, kept_k, kept_src = [], [], []
        for to in tiers:
            x = lab.copy()
            ok = np.ones(x.shape[0], dtype=bool)
            for r, (t, tr, _) in enumerate(moves):
                x[:, r] += tr[lab_k, to, li] + t[to, li]
                ok &= x[:, r] + rems[r][li + 1, to] <= lims[r]
            if split:
                ok &= x[:, 0] + x[:, 1] + rem_all[li + 1, to] <= total_lim
            x[:, nt] += cost[to, li]
            for i, b in enumerate(bind):
                hcol, acol = nt + 1 + 2 * i, nt + 2 + 2 * i
                if to == b:
                    x[:, hcol] += held[li]
                    x[:, acol] = np.maximum(x[:, acol], act[li])
                ok &= x[:, hcol] + pinned_rest[b][li + 1] + x[:, acol] <= budgets[b] * (1 + 1e-12)
            room = sum((budgets[b] - x[:, nt + 1 + 2 * i] - x[:, nt + 2 + 2 * i] for i, b in enumerate(bind)),
                       np.zeros(x.shape[0]))
            ok &= x[:, nt] + _least_rest(bounds[li + 1], room) <= upper_slack
            idx = _front(x, np.flatnonzero(ok))
            kept.append(x[idx])
            kept_k.append(np.full(idx.size, to))
            kept_src.append(idx)
        lab, lab_k = np.concatenate(kept), np.concatenate(kept_k)
        if not lab.shape[0]:
            return None, math.inf, math.inf
        if lab.shape[0] > LABEL_CAP:
            raise GaveUp(li)
        tiers_of.append(lab_k)
        parents.append(np.concatenate(kept_src))
    ends = [lab[:, r] + o[lab_k, comp.end] for r, (_, _, o) in enumerate(moves)]
    ok = np.ones(lab.shape[0], dtype=bool)
    for r, e in enumerate(ends):
        ok &= e <= lims[r]
    total = ends[0] + ends[1] if split else ends[0]
    ok &= total <= total_lim
    good = np.flatnonzero(ok)
    if not good.size:
        return None, math.inf, math.inf
    i = int(good[np.lexsort((total[good], lab[good, nt]))[0]])
    cost_i, lat_i = float(lab[i, nt]), float(total[i])
    policy = [0] * n
    for layer in range(n - 1, -1, -1):
        policy[layer] = int(tiers_of[layer][i])
        i = int(parents[layer][i])
    return tuple(policy), cost_i, lat_i


def _front(x: _F, idx: _I) -> _I:
    """Indices among `idx` of labels no other one is at most as large as in every row (first of equals)."""
    if idx.size <= 1:
        return idx
    order = idx[np.lexsort(x[idx].T[::-1])]
    rows = x[order]
    dominated = np.zeros(order.size, dtype=bool)
    for a in range(0, order.size, _CHUNK):   # rows[j] (j earlier in lexicographic order) covers rows[i]
        block = rows[a:a + _CHUNK]
        le = (block[:, None, :] <= rows[None, :, :]).all(axis=2)
        before = np.arange(a, a + block.shape[0])[:, None] < np.arange(order.size)[None, :]
        dominated |= (le & before).any(axis=0)
    return order[~dominated]
