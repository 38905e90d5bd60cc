"""Least client energy, and any objective under a client-energy limit, exactly (docs/energy.md).

dp, exact and brute force run this when the objective is ``client_energy`` or the scenario limits the client's
joules per request (`uses_energy`); otherwise they run their usual code, unchanged.

A label of a state (layer l done, on the client or the server) is a column of rows: latency (the request's, or
prefill P and decode D apart under TTFT/TPOT limits), the additive client energy A of docs/energy.md, and
−reward when the objective is a server resource. A label is kept when no other label of its state is at most
as large in every row; it is pruned when a row cannot stay within its limit given the least the layers still to
come must add (least remaining latency per row, least remaining energy), or when it cannot beat an incumbent
(a feasible prefix policy). Energy and latency both add a cost per layer and per crossing, so this is the exact
pass of solvers.exact with more rows; the one policy whose true energy is below A (the crossing-free one: its
radio never wakes) is scored apart, exactly.

The DP is this pass on the integerised chain (times in units of T, rounded up, the budget W; SPEC §4): the
least-energy (or most rewarding) policy whose rounded request latency fits W, within the energy limit.

Time: per layer O(m²·k) for m labels and k rows (pairwise dominance, chunked); on transformer chains the
(latency, energy) fronts hold tens to hundreds of labels. Worst case exponential in L, as every exact method here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs, latency
from ..energy import RequestEnergy
from ..errors import SplittuiError
from ..generation import Phases
from ..model import Scenario
from .constrained_fronts import _front
from .exact import remaining_latency

__all__ = ["uses_energy", "energy_policy", "energy_brute_force", "energy_single_split", "energy_violation",
           "MAX_ENERGY_LABELS"]

_F = NDArray[np.float64]
MAX_ENERGY_LABELS = 20_000   # per layer, both sides: beyond it the pass refuses (pairwise fronts grow as m²)


def uses_energy(sc: Scenario) -> bool:
    """The objective is the client's energy, or its joules are limited: dp/exact/brute force come here."""
    return sc.objective == "client_energy" or sc.client_energy_j is not None


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit)) if math.isfinite(limit) else math.inf


@dataclass(frozen=True, slots=True)
class _Row:
    """One additive row's per-layer costs: on the client, on the server, the two crossings, the answer's."""

    client: _F
    server: _F
    up: _F
    down: _F
    up_out: float
    down_out: float

    def tail(self, side: int, end_client: bool) -> float:
        if side == 1:
            return 0.0 if end_client else self.up_out
        return self.down_out if end_client else 0.0

    def costs(self, like: Costs) -> Costs:
        return replace(like, client_ms=self.client, server_ms=self.server, up_ms=self.up, down_ms=self.down,
                       up_out_ms=self.up_out, down_out_ms=self.down_out, pin=None, mem=None)


def _time_row(c: Costs) -> _Row:
    return _Row(c.client_ms, c.server_ms, c.up_ms, c.down_ms, float(c.up_out_ms), float(c.down_out_ms))


@dataclass(frozen=True, slots=True)
class _Problem:
    times: list[_Row]        # latency rows (one, or prefill and decode apart)
    lims: list[float]        # per time row, then the sum of them (slack included)
    energy: _Row
    fixed_j: float
    e_lim: float             # slack included; inf: no limit
    reward: _F | None        # client-side reward per layer (objective a server resource); None: least energy
    pin: NDArray[np.int8]
    start_client: bool
    end_client: bool
    like: Costs              # the composite chain (for remaining-latency passes)
    model: RequestEnergy


def _problem(ph: Phases, sc: Scenario, unit_ms: float | None) -> _Problem:
    from .request import limits_of

    if ph.energy is None:
        raise SplittuiError("client energy: the request has no energy model")
    tot = ph.composite()
    if tot.mem is not None and tot.mem.active:
        raise SplittuiError("client energy (objective or limit) does not combine with memory limits yet; "
                            "drop --client-mem-gb/--server-mem-gb, or check the energy of their answer")
    ttft, dec = limits_of(sc)
    if unit_ms is not None:   # the DP: the integerised request chain, the budget W (SPEC §4)
        from .dp import check_memory, integerise

        check_memory(tot.n, tot.deadline_ms, unit_ms)
        it = integerise(tot, unit_ms, sc.rounding)
        f = np.float64
        times = [_Row(it.c.astype(f), it.s.astype(f), it.u.astype(f), it.d.astype(f), float(it.u_out),
                      float(it.d_out))]
        lims = [float(it.W), float(it.W)]
    elif ph.decode is not None and (math.isfinite(ttft) or math.isfinite(dec)):
        times = [_time_row(ph.prefill), _time_row(ph.decode)]
        lims = [_slack(ttft), _slack(dec), _slack(tot.deadline_ms)]
    else:
        times = [_time_row(tot)]
        lims = [_slack(tot.deadline_ms), _slack(tot.deadline_ms)]
    e = ph.energy.composite()
    erow = _Row(e.on_client, e.on_server, e.up, e.down, e.up_out, e.down_out)
    e_lim = _slack(sc.client_energy_j) if sc.client_energy_j is not None else math.inf
    reward = None if sc.objective == "client_energy" else tot.reward
    pin = tot.pin if tot.pin is not None else np.full(tot.n, -1, dtype=np.int8)
    return _Problem(times, lims, erow, ph.energy.fixed_j, e_lim, reward, pin, tot.start_client, tot.end_client,
                    tot, ph.energy)


def _key(p: _Problem, energy_j: float, reward: float, t_sum: float) -> tuple[float, float, float]:
    """Smaller is better: least energy then latency, or most reward then least latency (then energy)."""
    if p.reward is None:
        return (energy_j, t_sum, 0.0)
    return (-reward, t_sum, energy_j)


def _score(p: _Problem, x: tuple[int, ...]) -> tuple[float, float, float] | None:
    """The exact key of a policy if it meets every limit and pin, else None (true energy, docs/energy.md)."""
    xa = np.array(x, dtype=np.int8)
    if bool(((p.pin >= 0) & (p.pin != xa)).any()):
        return None
    ts = [latency(row.costs(p.like), xa) for row in p.times]
    if any(t > lim for t, lim in zip(ts, p.lims)) or sum(ts) > p.lims[-1]:
        return None
    e = p.model.client_j(xa)
    if e > p.e_lim:
        return None
    r = float(p.reward @ xa) if p.reward is not None else 0.0
    return _key(p, e, r, sum(ts))


def _incumbent(p: _Problem) -> tuple[tuple[float, float, float], tuple[int, ...]] | None:  # (key, policy)
    """The best feasible policy among the pinned prefix and suffix policies (a bound for pruning). O(L²)."""
    n, best = len(p.pin), None
    for k in range(n + 1):
        for x0 in (np.r_[np.ones(k), np.zeros(n - k)], np.r_[np.zeros(k), np.ones(n - k)]):
            x = tuple(int(v) for v in np.where(p.pin >= 0, p.pin, x0))
            got = _score(p, x)
            if got is not None and (best is None or got < best[0]):
                best = (got, x)
    return best


def _tables(p: _Problem) -> tuple[_F, _F, _F]:
    """Per layer i and side s (0 server, 1 client): the increments staying on s and switching to s, and the
    thresholds each row must stay within after layer i. Shapes (L, 2, K)."""
    rows = [*p.times, p.energy]
    n, K = len(p.pin), len(rows) + (p.reward is not None)
    stay, switch, th = np.zeros((n, 2, K)), np.zeros((n, 2, K)), np.full((n, 2, K), math.inf)
    for k, row in enumerate(rows):
        stay[:, 1, k], switch[:, 1, k] = row.client, row.down + row.client
        stay[:, 0, k], switch[:, 0, k] = row.server, row.up + row.server
        rem_c, rem_s = remaining_latency(row.costs(p.like))
        lim = p.lims[k] if k < len(p.times) else p.e_lim - p.fixed_j
        th[:, 1, k], th[:, 0, k] = lim - rem_c[1:], lim - rem_s[1:]
    if p.reward is not None:
        stay[:, 1, -1] = switch[:, 1, -1] = -p.reward
    return stay, switch, th


_History = list[tuple[tuple[NDArray[np.intp], int], tuple[NDArray[np.intp], int]]]


def _pass(p: _Problem, bound: tuple[float, float, float] | None) -> tuple[list[_F], _History] | None:
    """The label pass: the last layer's labels per side and the parents for backtracking."""
    stay, switch, th = _tables(p)
    nt, K = len(p.times), stay.shape[2]
    e_row = nt
    rem_tot = None
    if nt > 1:
        total = _Row(*(sum(getattr(r, f) for r in p.times) for f in ("client", "server", "up", "down", "up_out",
                                                                       "down_out")))
        rem_tot = remaining_latency(total.costs(p.like))
    rem_e = remaining_latency(p.energy.costs(p.like))
    future = np.concatenate((np.cumsum(np.maximum(p.reward, 0.0)[::-1])[::-1], [0.0])) if p.reward is not None \
        else None
    start = np.zeros((K, 1))
    none = np.zeros((K, 0))
    labs = [none, start] if p.start_client else [start, none]     # [server, client]
    history: _History = []
    for i in range(len(p.pin)):
        new, kept = [none, none], [np.zeros(0, dtype=np.intp)] * 2
        for s in (1, 0):
            if (p.pin[i] >= 0 and p.pin[i] != s) or labs[s].shape[1] + labs[1 - s].shape[1] == 0:
                continue
            Y = np.concatenate((labs[s] + stay[i, s][:, None], labs[1 - s] + switch[i, s][:, None]), axis=1)
            ok = np.all(Y <= th[i, s][:, None], axis=0)
            if rem_tot is not None:
                ok &= Y[:nt].sum(axis=0) <= p.lims[-1] - rem_tot[1 - s][i + 1]
            if bound is not None:
                ok &= _may_beat(p, Y, bound, e_row, (rem_e[1 - s][i + 1], future, i))
            idx = np.flatnonzero(ok)
            keep = idx[_front(Y[:, idx])]
            new[s], kept[s] = Y[:, keep], keep
        if not (new[0].shape[1] or new[1].shape[1]):
            return None
        if new[0].shape[1] + new[1].shape[1] > MAX_ENERGY_LABELS:
            raise SplittuiError(f"client energy: the exact label search holds over {MAX_ENERGY_LABELS:,} labels at "
                                f"layer {i} of {len(p.pin)} (latency, energy and reward traded three ways); "
                                "use the objective client_energy, a looser limit, or pins")
        history.append(((kept[0], labs[0].shape[1]), (kept[1], labs[1].shape[1])))
        labs = new
    return labs, history


def _may_beat(p: _Problem, Y: _F, bound: tuple[float, float, float], e_row: int,
              rest: tuple[float, _F | None, int]) -> NDArray[np.bool_]:
    """Labels that can still match the incumbent's key (ties kept): energy, or reward, still reachable."""
    rem_e, future, i = rest
    if p.reward is None:
        need = Y[e_row] + rem_e + p.fixed_j
        out: NDArray[np.bool_] = need <= bound[0] + 1e-9 * max(1.0, abs(bound[0]))
        return out
    assert future is not None
    reach = -Y[-1] + future[i + 1]
    ok: NDArray[np.bool_] = reach >= -bound[0] - 1e-9 * max(1.0, abs(bound[0]))
    return ok


_Best = tuple[tuple[float, float, float], tuple[int, ...]]   # (key, policy)


def _finish(p: _Problem, labs: list[_F], history: _History) -> _Best | None:
    nt, best = len(p.times), None
    for side in (1, 0):
        lab = labs[side]
        if not lab.shape[1]:
            continue
        T = np.array([lab[k] + p.times[k].tail(side, p.end_client) for k in range(nt)])
        E = lab[nt] + p.energy.tail(side, p.end_client) + p.fixed_j
        ok = np.all(T <= np.array(p.lims[:nt])[:, None], axis=0) & (T.sum(axis=0) <= p.lims[-1]) & (E <= p.e_lim)
        for j in np.flatnonzero(ok).tolist():
            r = -float(lab[-1][j]) if p.reward is not None else 0.0
            cand = (_key(p, float(E[j]), r, float(T[:, j].sum())), side, j)
            if best is None or cand[0] < best[0]:
                best = cand
    if best is None:
        return None
    key, side, idx = best
    policy = [0] * len(history)
    for k in range(len(history) - 1, -1, -1):
        policy[k] = side
        kept, n_same = history[k][side]
        col = int(kept[idx])
        side, idx = (side, col) if col < n_same else (1 - side, col - n_same)
    return key, tuple(policy)


def energy_policy(ph: Phases, sc: Scenario, *, unit_ms: float | None = None) -> tuple[int, ...] | None:
    """The least-client-energy policy (objective client_energy) or the most rewarding one within the client
    energy limit, meeting the deadline, the TTFT/TPOT limits (exact only) and the pins; None if none does.
    `unit_ms`: the DP (times integerised, rounded up, against W units)."""
    p = _problem(ph, sc, unit_ms)
    best = _incumbent(p)
    free = p.model.free_policy
    if free is not None:
        got = _score(p, free)   # its radio never wakes: scored with its true energy
        if got is not None and (best is None or got < best[0]):
            best = (got, free)
    out = _pass(p, None if best is None else best[0])
    if out is not None:
        got2 = _finish(p, *out)
        if got2 is not None and (best is None or got2[0] < best[0]):
            best = got2
    return None if best is None else best[1]


def energy_brute_force(ph: Phases, sc: Scenario, *, unit_ms: float | None = None) -> tuple[int, ...] | None:
    """All 2^L policies, scored exactly (tests; small L)."""
    from .baselines import BRUTE_FORCE_MAX_LAYERS

    p = _problem(ph, sc, unit_ms)
    if len(p.pin) > BRUTE_FORCE_MAX_LAYERS:
        raise SplittuiError(f"brute-force is limited to {BRUTE_FORCE_MAX_LAYERS} layers, this chain has {len(p.pin)}")
    best = None
    for x in itertools.product((0, 1), repeat=len(p.pin)):
        got = _score(p, x)
        if got is not None and (best is None or got < best[0]):
            best = (got, x)
    return None if best is None else tuple(best[1])


def energy_single_split(ph: Phases, sc: Scenario) -> tuple[int, ...] | None:
    """Neurosurgeon's energy mode: the prefix policy (client runs 1..k, pinned layers on their side) with the
    least client energy among those that meet the deadline; ties: the faster, then the smaller k. O(L²)."""
    from .exact import meets

    if ph.energy is None:
        raise SplittuiError("client energy: the request has no energy model")
    tot = ph.composite()
    pin = tot.pin if tot.pin is not None else np.full(tot.n, -1, dtype=np.int8)
    best: tuple[float, float, tuple[int, ...]] | None = None
    for k in range(tot.n + 1):
        x = np.where(pin >= 0, pin, np.r_[np.ones(k), np.zeros(tot.n - k)]).astype(np.int8)
        lat = latency(tot, x)
        if not meets(lat, tot.deadline_ms):
            continue
        cand = (ph.energy.client_j(x), lat, tuple(int(v) for v in x))
        if best is None or cand[:2] < best[:2]:
            best = cand
    return None if best is None else best[2]


def energy_violation(energy_j: float | None, sc: Scenario) -> tuple[str, ...]:
    """The client-energy limit a policy's joules break (one phrase), or nothing."""
    lim = sc.client_energy_j
    if lim is None or energy_j is None or energy_j <= _slack(lim):
        return ()
    return (f"client energy {energy_j:.3g} J > limit {lim:g} J",)
