"""Solving under memory limits and pins (SPEC §10), exactly: Pareto labels with memory dimensions.

Used by dp, exact and brute force whenever a scenario has pins or a memory limit (`Costs.constrained`);
without them those solvers run their usual code, unchanged.

A label of a state (layer l done, on the client or the server) is a column of rows: latency (the request's,
or prefill P and decode D apart under TTFT/TPOT limits), −reward, and per limited side the bytes held there
so far (weights + KV, summed) and the largest activation there so far (a maximum, not a sum). A label is kept
when no other label of its state is at most as large in every row; it is pruned when some row, or a sum the
constraints read (P + D against the deadline, held + activation against a side's budget), cannot stay within
its limit given the least that the layers still to come must add (least remaining latency with the pins,
`_remaining`; bytes of layers pinned to that side). Every constraint is monotone in each row, so a dominated
label never leads to a better feasible policy: the pass is exact.

* Pins remove the other side's candidates of a layer (they are not penalised).
* A tied embedding/LM-head matrix (SPEC §9) is counted once per side that holds either layer; the two
  layers' sides are enumerated (at most 4 cases, fewer with pins) and each case is a plain additive pass.
* Where a client memory limit binds (and no server limit does), the client's activation peak becomes cases
  (`_act_caps`): one per cap on it, largest first, the layers above the cap on the server and the cap taken
  from the budget, so the labels lose their max row and the bounds see the exact room. A case whose
  Lagrangian bound (`constrained_dual`) falls below the best policy found is not searched.
* In the first searched case a beam pass (the BEAM labels per state of highest bound) finds a feasible
  policy near the optimum; every case's exact pass then prunes each label whose bound (`constrained_bounds`:
  the rest's fronts, exact in latency with bytes priced, and exact in bytes with latency priced) falls below
  it (each bound in turn, on the labels the earlier ones kept). Dominance is checked between the labels
  staying on a side and those switching to it (`_front_groups`; with three rows by sorted chunks,
  `constrained_fronts`).
* Where the chain repeats an identical block (a transformer's layers), only canonical labels are kept and each
  label carries a level (`constrained_blocks`): a block run wholly on the server is never followed by blocks
  that touch the client and return to the server (swapping them changes no total). Labels are compared within
  a level and against lower levels, and the labels after such a block are bounded over the completions their
  level allows (`constrained_bounds.level_fronts`; llama-3.1-8b: the exact pass keeps a third of the labels).
* The DP (SPEC §4) under constraints is this pass on the integerised chain (times in units of T, deadline
  W): the most rewarding integer-feasible policy, like the unconstrained DP's answer.

Around this module (the label pass, the case search and the public solvers): `constrained_case` (cases, chains,
`fits`), `constrained_incumbent` (the first floor, the least remaining latency), `constrained_dual` (Lagrangian
bounds), `constrained_bounds` (the rest's fronts), `constrained_fronts` (dominance filters),
`constrained_blocks` (repeated blocks), `constrained_labels` (the pass's tables and its answer) and
`constrained_pins` (pins without a binding memory limit: the barred chain).

Time: per layer O(m²·k) for m candidates and k rows (pairwise dominance, chunked; O(m·√m·log m) with three
rows); worst case exponential in L like every exact method here, in practice hundreds to a few thousand
labels on transformer chains (llama-3.1-8b with 256 output tokens under a binding client limit: 0.3-0.5 s
on a 2-core VM, `benchmarks/bench_constrained.py`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from ..errors import SplittuiError
from .constrained_blocks import PRUNED, front_by_level
from .constrained_bounds import Rest, RestBounds
from .constrained_case import _act_caps, _Case, _cases, _Chain, _slack, _sum_chain, fits, memory_binds
from .constrained_dual import _below, _bound, _Dual, _dual, _dual_value, _knapsack_bounds
from .constrained_fronts import _at_most, _front_groups
from .constrained_incumbent import _incumbent, _meets, _remaining
from .constrained_labels import _blocks, _finish_or_none, _tables
from .constrained_pins import _pins_only, apply_pins, barred_chain

__all__ = ["constrained_exact", "constrained_dp", "constrained_brute_force", "constrained_end_labels",
           "apply_pins", "Limits3", "SearchCapped"]

_F = NDArray[np.float64]
Limits3 = tuple[float, float, float]    # TTFT, summed decode latency, request latency (slack included)
MAX_LABELS = 4_000    # per layer, both sides: beyond it the pass refuses (pairwise fronts grow as m²)
SORTED_FACTOR = 1.5   # three rows (activation caps, one chain): fronts by sorted chunks, O(m·√m): a larger cap


class _Capped(SplittuiError):
    """The label pass passed MAX_LABELS at one layer (a three-way trade of latency, reward and bytes)."""

    def __init__(self, layer: int, n: int, cap: int) -> None:
        super().__init__(f"memory limits and pins: the exact label search holds over {cap:,} labels at "
                         f"layer {layer} of {n} (a three-way trade of latency, reward and bytes); loosen a limit, "
                         "pin more layers, or use a profile with fewer layers")
        self.layer, self.n, self.cap = layer, n, cap


class SearchCapped(SplittuiError):
    """The exact search under memory limits stopped at MAX_LABELS labels: `policy` is the best feasible policy
    found (None if none), not proven optimal; `note` says so with the bound on the optimum that was proved."""

    def __init__(self, policy: tuple[int, ...] | None, note: str) -> None:
        super().__init__(note)
        self.policy, self.note = policy, note


def _pass(chains: list[_Chain], reward: _F, case: _Case, lims: list[float], floor: float = -math.inf,
          rest: RestBounds | None = None, beam: int = 0
          ) -> tuple[list[str], _F, _F, list[tuple[NDArray[np.intp], NDArray[np.intp], int]]] | None:
    """The label pass: the last layer's client and server labels and the history for backtracking.
    `floor`: a feasible policy's reward; labels whose reward bound falls below it are pruned (also by `rest`'s
    bounds, where given). `beam` > 0: a heuristic pass that keeps, per state, the `beam` labels of highest
    `rest` bound (its answer is feasible, not necessarily optimal: a floor for the exact pass)."""
    rows, V, TH = _tables(chains, reward, case, lims)
    if "held_c" not in rows:
        rest, beam = None, 0
    older = "held_c" in rows and math.isfinite(floor) and rest is None   # `rest`'s bounds are tighter (measured)
    bounds = _knapsack_bounds(reward, case) if older else None
    dual = _dual(_sum_chain(chains), reward, case, lims[-1]) if older else None
    future = np.concatenate((np.cumsum(reward[::-1])[::-1], [0.0]))
    tol = 1e-9 * max(1.0, abs(floor)) if math.isfinite(floor) else 0.0
    nr, nt = len(rows), len(chains)
    max_rows = [k for k, name in enumerate(rows) if name.startswith("act_")]
    add_rows = [k for k in range(nr) if k not in max_rows]
    held_act = [(rows.index(f"held_{s}"), rows.index(f"act_{s}")) for s in ("c", "s") if f"act_{s}" in rows]
    start = np.zeros((nr, 1))
    start[max_rows] = -np.inf
    none = np.zeros((nr, 0))
    first = chains[0].start_client
    labs = [start, none] if first else [none, start]          # [client, server]
    blocks = _blocks(chains, reward, case)
    lv0 = np.full(1, 0 if blocks is None else blocks.initial(first), dtype=np.int8)
    lvs = [lv0, np.zeros(0, dtype=np.int8)] if first else [np.zeros(0, dtype=np.int8), lv0]
    owed = None if blocks is None or "held_c" not in rows else blocks.forced_bytes(case.held, case.pin)
    total_lim = lims[-1]
    history = []
    rem_tot = _remaining(_sum_chain(chains), case.pin) if nt > 1 else None
    for i in range(len(reward)):
        src = np.concatenate(labs, axis=1)
        src_lv = np.concatenate(lvs)
        nc = labs[0].shape[1]
        new, kept, new_lv = [], [], []
        for side in (0, 1):
            allowed = case.pin[i] < 0 or case.pin[i] == 1 - side
            if not allowed or src.shape[1] == 0:
                new.append(np.zeros((nr, 0)))
                kept.append(np.zeros(0, dtype=np.intp))
                new_lv.append(np.zeros(0, dtype=np.int8))
                continue
            inc = np.concatenate((np.repeat(V[i][:, side, 0:1], nc, axis=1),
                                  np.repeat(V[i][:, side, 1:2], src.shape[1] - nc, axis=1)), axis=1)
            Y = src.copy()
            Y[add_rows] += inc[add_rows]
            if max_rows:
                Y[max_rows] = np.maximum(Y[max_rows], inc[max_rows])
            ok = np.all(Y <= TH[i][:, side:side + 1], axis=0)
            lv = src_lv if blocks is None else blocks.step(src_lv, i, side == 0)
            if blocks is not None:   # canonical labels only (`constrained_blocks`)
                ok &= lv != PRUNED
                if owed is not None:
                    hc = rows.index("held_c")
                    ok &= (lv != 3) | (Y[hc] + owed[i] <= TH[i][hc, side])
            if rem_tot is not None:
                ok &= Y[:nt].sum(axis=0) <= total_lim - rem_tot[side][i + 1]
            for h, a in held_act:   # held + activation peak within budget − bytes still pinned to that side
                ok &= Y[h] + np.maximum(Y[a], 0.0) <= TH[i][h, side]
            if "held_c" in rows:
                hc = rows.index("held_c")
                peak = np.maximum(Y[rows.index("act_c")], 0.0) if "act_c" in rows else np.zeros(Y.shape[1])
            if math.isfinite(floor):   # the reward still reachable must match the incumbent's
                r_now = -Y[rows.index("r")]
                if bounds is not None:
                    room = case.budget[0] - Y[hc] - peak
                    ok &= r_now + _bound(bounds[i], room) >= floor - tol
                else:
                    ok &= r_now + future[i + 1] >= floor - tol
                if dual is not None:
                    t_now = Y[:len(chains)].sum(axis=0)
                    ub = r_now - dual.lam * t_now + dual.G[i, side] + dual.lam * lims[-1]
                    if "held_c" in rows and dual.mu:
                        ub += dual.mu * (case.budget[0] - Y[hc] - peak)
                    ok &= ub >= floor - tol - 1e-9 * np.abs(ub)
            ub = None
            if rest is not None and beam:
                ub = rest.at(i + 1, side, Y[:nt].sum(axis=0), -Y[rows.index("r")], Y[hc], peak,
                             None if blocks is None else lv)
                if math.isfinite(floor):
                    ok &= ub >= floor - tol - 1e-9 * np.abs(ub)
            elif rest is not None and math.isfinite(floor):   # only the labels still in, family by family
                cand = np.flatnonzero(ok)
                ok[cand] = rest.reaches(i + 1, side, Y[:nt, cand].sum(axis=0), -Y[rows.index("r"), cand],
                                        Y[hc, cand], peak[cand], floor - tol, None if blocks is None else lv[cand])
            if beam and ub is not None and np.count_nonzero(ok) > 4 * beam:   # a beam: cut before the front
                cut = np.flatnonzero(ok)
                ok = np.zeros_like(ok)
                ok[cut[np.argpartition(-ub[cut], 4 * beam - 1)[:4 * beam]]] = True
            idx = np.flatnonzero(ok)
            same = (idx < nc) if side == 0 else (idx >= nc)
            clamped = np.zeros(idx.size, dtype=bool)
            for k in max_rows:
                clamped |= src[k, idx] < inc[k, idx]
            clamped |= lv[idx] != src_lv[idx]
            keep = idx[front_by_level(_front_groups, _at_most, Y[:, idx], lv[idx], same, clamped)]
            if beam and ub is not None and keep.size > beam:
                keep = np.sort(keep[np.argpartition(-ub[keep], beam - 1)[:beam]])
            new.append(Y[:, keep])
            kept.append(keep)
            new_lv.append(lv[keep])
        if not (new[0].shape[1] or new[1].shape[1]):
            return None
        cap = int(MAX_LABELS * (SORTED_FACTOR if nr == 3 else 1))
        if not beam and new[0].shape[1] + new[1].shape[1] > cap:
            raise _Capped(i, len(reward), cap)
        history.append((kept[0], kept[1], nc))
        labs, lvs = new, new_lv
    return rows, labs[0], labs[1], history


def _solve(chains: list[_Chain], reward: _F, c: Costs, lims: list[float], deadline: float | None = None,
           hint: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
    """Per case: a beam pass (a feasible policy near the optimum: the floor), then the exact pass pruned by it.
    `deadline`: the single chain's deadline before slack (`exact_policy` adds the same), for the pins-only path.
    `hint`: a policy another solver found (the DP's); where it meets every limit it is the floor and the beam
    pass is skipped (a floor only prunes: the answer stays exact)."""
    binds = memory_binds(c)
    if not binds and c.mem is not None:
        c = replace(c, mem=None)
    if not binds and len(chains) == 1 and deadline is not None:
        return _pins_only(chains[0], reward, c.pin, deadline)
    best = _incumbent(chains, reward, c, lims)
    hinted = _hinted(chains, reward, c, lims, hint)
    if hinted is not None and (best is None or hinted[:2] > best[:2]):
        best = hinted
    cases = [cc for case in _cases(c) for cc in _act_caps(case)] if binds else _cases(c)
    capped: _Capped | None = None
    beamed = False
    total = _sum_chain(chains)
    prev: _Dual | None = None
    for case in cases:   # the largest activation cap first: its beam floor prunes the others early
        rest = None
        if binds and math.isfinite(case.budget[0]):
            # the case's Lagrangian bound cannot reach the incumbent: nothing to search (any multipliers bound
            # it: the previous case's first, one pass; its own, a grid search, only where those do not suffice)
            if best is not None and prev is not None and _below(total, reward, case, prev, lims[-1], best[0]):
                continue
            d = prev = _dual(total, reward, case, lims[-1])
            if best is not None and _below(total, reward, case, d, lims[-1], best[0]):
                continue
            rest = _rest_bounds(chains, reward, case, lims, d)
        if rest is not None and (not beamed or best is None) and hinted is None:
            beamed = True
            best = _beam(chains, reward, case, lims, rest, best)
        try:
            out = _pass(chains, reward, case, lims, -math.inf if best is None else best[0], rest=rest)
        except _Capped as exc:
            capped = exc
            if rest is not None and not beamed:   # the hint's floor did not suffice: the beam's policy may beat it
                beamed = True
                best = _beam(chains, reward, case, lims, rest, best)
            continue
        got = _finish_or_none(chains, lims, out)
        if got is not None and (best is None or got[:2] > best[:2]):
            best = got
    if capped is not None:
        raise SearchCapped(None if best is None else best[2], _capped_note(chains, reward, c, lims, best, capped))
    return None if best is None else best[2]


def _beam(chains: list[_Chain], reward: _F, case: _Case, lims: list[float], rest: RestBounds,
          best: tuple[float, float, tuple[int, ...]] | None) -> tuple[float, float, tuple[int, ...]] | None:
    """`best`, or the beam pass's policy (BEAM labels per state of highest bound) where it is better."""
    try:
        got = _finish_or_none(chains, lims, _pass(chains, reward, case, lims, rest=rest, beam=BEAM))
    except _Capped:   # a case without client bytes has no beam: the pass was exact, and its cap is met after
        got = None
    return got if got is not None and (best is None or got[:2] > best[:2]) else best


def _hinted(chains: list[_Chain], reward: _F, c: Costs, lims: list[float], hint: tuple[int, ...] | None
            ) -> tuple[float, float, tuple[int, ...]] | None:
    """(reward, −latency, policy) of `hint` where it meets every limit, pin and memory limit; else None."""
    if hint is None or len(hint) != len(reward):
        return None
    x = np.asarray(hint, dtype=np.int8)
    t = _meets(chains, lims, c, x)
    return None if t is None else (float(reward @ x), -t, tuple(int(v) for v in x))


BEAM = 16   # labels per state of the floor-finding pass (measured on llama-3.1-8b: see the benchmark)


def _rest_bounds(chains: list[_Chain], reward: _F, case: _Case, lims: list[float], d: _Dual | None = None
                 ) -> RestBounds | None:
    """The rest's bounds (`constrained_bounds`) of a case whose client budget is finite, on the summed chain
    against the request limit, at multipliers around the Lagrangian dual's optimum."""
    if not math.isfinite(case.budget[0]):
        return None
    ch = _sum_chain(chains)
    n = len(reward)
    z = np.zeros((n, 2))
    lat = Rest(np.stack((ch.client, ch.server), axis=1), z, np.stack((ch.down, ch.up), axis=1), z,
               (ch.tail(1), ch.tail(0)), (0.0, 0.0), case.pin)
    if d is None:
        d = _dual(ch, reward, case, lims[-1])
    blocks = _blocks(chains, reward, case)
    region = None if blocks is None else (blocks.start, blocks.stop, blocks.period)
    return RestBounds(lat, case.held, reward, deadline=lims[-1], budget=case.budget[0], region=region,
                      mus=[d.mu * f for f in MU_STEPS], lams=[d.lam * f for f in LAM_STEPS])


MU_STEPS = (1.0,)         # around the dual's multipliers; measured on llama-3.1-8b (bench_constrained): more μ
LAM_STEPS = (1.76, 7.0)   # steps kept as many labels; a λ step of 0.44 pruned a few more, at twice the build time


def _capped_note(chains: list[_Chain], reward: _F, c: Costs, lims: list[float],
                 best: tuple[float, float, tuple[int, ...]] | None, capped: _Capped) -> str:
    """What a capped search proved: the best policy found and a Lagrangian bound on the optimum (every
    case's dual value at its multipliers bounds the reward any feasible policy of that case reaches)."""
    total_chain = _sum_chain(chains)
    ub = -math.inf
    for case in _cases(c):
        d = _dual(total_chain, reward, case, lims[-1])
        ub = max(ub, _dual_value(total_chain, reward, case, d.lam, d.mu, lims[-1], case.budget[0]))
    total = float(reward.sum())
    floor = max(0.0, (total - ub) / total) if total > 0 else 0.0
    head = (f"search stopped at {capped.cap:,} labels (layer {capped.layer} of {capped.n}): "
            "best policy found, not proven optimal")
    if best is None:
        return f"{head}; none found meets every limit"
    share = (total - best[0]) / total if total > 0 else 0.0
    return f"{head}; server share {100 * share:.2f} %, the optimum's is at least {100 * floor:.2f} % (Lagrangian bound)"


def constrained_exact(pre: Costs, dec: Costs | None, tot: Costs, lims: Limits3 | None = None,
                      hint: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
    """The most rewarding policy meeting the deadline (and TTFT/TPOT limits `lims`, slack included), the
    pins and the memory limits, exactly; None if none does. `hint`: a policy to start from (`_solve`)."""
    if lims is None or (lims[0] == math.inf and lims[1] == math.inf) or dec is None:
        return _solve([_Chain.of(tot)], tot.reward, tot, [_slack(tot.deadline_ms)], tot.deadline_ms, hint)
    return _solve([_Chain.of(pre), _Chain.of(dec)], tot.reward, tot, [lims[0], lims[1], lims[2]], hint=hint)


def constrained_dp(tot: Costs, unit_ms: float, rounding: str = "ceil") -> tuple[int, ...] | None:
    """SPEC §4's DP under pins and memory limits: the most rewarding policy whose integerised request latency
    fits W units (rounded up: it really meets the deadline)."""
    from .dp import check_memory, integerise

    check_memory(tot.n, tot.deadline_ms, unit_ms)
    it = integerise(tot, unit_ms, rounding)
    f = np.float64
    ch = _Chain(it.c.astype(f), it.s.astype(f), it.u.astype(f), it.d.astype(f), float(it.u_out), float(it.d_out),
                tot.start_client, tot.end_client)
    return _solve([ch], tot.reward, tot, [float(it.W)], float(it.W))


def constrained_end_labels(tot: Costs) -> NDArray[np.float64]:
    """Latencies (with the answer's last transfer) of the final exact labels at tot's deadline: the only
    deadlines at which the constrained exact answer can change (goal seek's candidates)."""
    ch = _Chain.of(tot)
    out: list[float] = []
    for case in _cases(tot):
        got = _pass([ch], tot.reward, case, [_slack(tot.deadline_ms)])
        if got is not None:
            for side, lab in ((1, got[1]), (0, got[2])):
                out += (lab[0] + ch.tail(side)).tolist()
    return np.unique(np.array(out, dtype=np.float64))


def constrained_brute_force(pre: Costs, dec: Costs | None, tot: Costs, lims: Limits3) -> tuple[int, ...] | None:
    """All 2^L policies against the deadline, the limits, the pins and memory (tests; small L)."""
    from ..costs import latency
    from .baselines import BRUTE_FORCE_MAX_LAYERS

    if tot.n > BRUTE_FORCE_MAX_LAYERS:
        raise SplittuiError(f"brute-force is limited to {BRUTE_FORCE_MAX_LAYERS} layers, this chain has {tot.n}")
    best = None
    for x in itertools.product((0, 1), repeat=tot.n):
        xa = np.array(x, dtype=np.int8)
        if tot.pin is not None and bool(((tot.pin >= 0) & (tot.pin != xa)).any()):
            continue
        if tot.mem is not None and tot.mem.active and not fits(tot.mem, xa):
            continue
        p = latency(pre, xa)
        d = latency(dec, xa) if dec is not None else 0.0
        t = latency(tot, xa)
        if p > lims[0] or d > lims[1] or t > lims[2]:
            continue
        key = (float(tot.reward @ xa), -t)
        if best is None or key > best[0]:
            best = (key, x)
    return None if best is None else tuple(best[1])


def constraint_violations(c: Costs, x: NDArray[np.int8]) -> tuple[str, ...]:
    """The pins and memory limits (SPEC §10) a policy breaks, one phrase each."""
    from ..memory import memory_violations, pin_violations

    names = () if c.mem is None else c.mem.names
    return pin_violations(c.pin, x, names) + memory_violations(c.mem, x)


__all__ += ["fits", "constraint_violations", "barred_chain", "memory_binds"]

