"""Solving a whole generation request (SPEC §8) and the exact solver under TTFT and TPOT limits.

Every solver runs on the request's composite chain, which carries the end-to-end deadline. The
optional limits TTFT ≤ Λ_ttft and TPOT ≤ Λ_tpot (i.e. total decode latency ≤ N·Λ_tpot) are handled
exactly by ``exact_limits_policy`` (and by brute force); any other solver's policy is checked against
them afterwards and reported as infeasible, with the reason, when it breaks one.

``exact_limits_policy`` keeps per layer and side the labels (prefill latency P, decode latency D,
client reward R) that no other label dominates in all three, pruned by the least remaining P, D and
P+D to the end and by an incumbent's reward (an upper bound on the reward still to come). Fast
path: when the two-dimensional exact optimum of the composite chain already meets the limits it is
optimal, and no 3-D labels are built; that 2-D pass is skipped where a cheap guess says the limits
bind (see `exact_limits_policy`). Both sides of a layer are one set of numpy calls (`step3`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..costs import Costs
from ..errors import SplittuiError
from ..generation import Phases, request_times
from ..model import Result, Scenario, decode_steps
from .baselines import BRUTE_FORCE_MAX_LAYERS, greedy_policy, prefix_latencies
from .constrained import constrained_brute_force, constrained_exact, constraint_violations
from .exact import exact_policy, meets, remaining_latency

__all__ = ["limits_of", "has_limits", "meets_limits", "has_constraints", "violations", "annotate",
           "exact_limits_policy", "brute_force_limits_policy"]


def limits_of(sc: Scenario) -> tuple[float, float]:
    """(TTFT limit, limit on the summed decode latency N·Λ_tpot); inf where absent or vacuous."""
    ttft = math.inf if sc.ttft_ms is None else float(sc.ttft_ms)
    steps = decode_steps(sc.gen_tokens)
    dec = math.inf if sc.tpot_ms is None or steps == 0 else float(sc.tpot_ms) * steps
    return ttft, dec


def meets_limits(ph: Phases, policy: ArrayLike, lims: tuple[float, float]) -> bool:
    """The policy's TTFT and summed decode latency within `limits_of`'s two limits (float slack only)."""
    t = request_times(ph, policy)
    return t.ttft_ms <= lims[0] * (1 + 1e-9) + 1e-9 and t.decode_ms <= lims[1] * (1 + 1e-9) + 1e-9


def has_limits(sc: Scenario) -> bool:
    return limits_of(sc) != (math.inf, math.inf)


def has_constraints(sc: Scenario) -> bool:
    """TTFT/TPOT limits, memory limits or pins (SPEC §8, §10): what goal seek must walk policies for."""
    return has_limits(sc) or sc.has_memory_limits or sc.has_pins


def violations(res: Result, ph: Phases, sc: Scenario) -> tuple[str, ...]:
    """The limits a result's policy breaks, one short phrase each (empty: it meets all of them)."""
    if res.policy is None:
        if res.feasible:
            return ()
        if res.min_latency_ms > sc.deadline_ms:
            return (f"no policy meets the deadline (least request latency {res.min_latency_ms:.1f} ms)",)
        if sc.client_energy_j is not None:
            return (f"no policy meets the deadline, the limits and the client energy limit {sc.client_energy_j:g} J "
                    "together",)
        if sc.has_memory_limits or sc.has_pins:
            return ("no policy meets the deadline, the TTFT/TPOT limits, the pins and the memory limits together",)
        return ("no policy meets the deadline and the TTFT/TPOT limits together",)
    t = request_times(ph, res.policy)
    out = []
    if res.latency_ms is not None and not meets(res.latency_ms, sc.deadline_ms):
        out.append(f"latency {res.latency_ms:.1f} ms > deadline {sc.deadline_ms:g} ms")
    if sc.ttft_ms is not None and not meets(t.ttft_ms, sc.ttft_ms):
        out.append(f"TTFT {t.ttft_ms:.1f} ms > limit {sc.ttft_ms:g} ms")
    if sc.tpot_ms is not None and t.tpot_ms is not None and not meets(t.tpot_ms, sc.tpot_ms):
        out.append(f"TPOT {t.tpot_ms:.1f} ms > limit {sc.tpot_ms:g} ms")
    why = tuple(out) + constraint_violations(ph.composite(), np.asarray(res.policy, dtype=np.int8))
    if sc.client_energy_j is not None and ph.energy is not None:
        from .energy import energy_violation

        why += energy_violation(ph.energy.client_j(res.policy), sc)
    return why


def annotate(res: Result, ph: Phases, sc: Scenario) -> Result:
    """Add TTFT, TPOT and server memory; a policy breaking a limit is marked infeasible, with why."""
    why = violations(res, ph, sc)
    if res.policy is None:   # a dropped baseline policy keeps what it broke besides the deadline
        return replace(res, violations=why + tuple(v for v in res.violations if v not in why))
    t = request_times(ph, res.policy)
    need = (None, None) if ph.memory is None else ph.memory.need(res.policy)
    res = replace(res, feasible=res.feasible and not why, ttft_ms=t.ttft_ms, tpot_ms=t.tpot_ms,
                  server_mem_bytes=t.server_mem_bytes, violations=why, client_mem_need_bytes=need[0],
                  server_mem_need_bytes=need[1])
    if ph.energy is None:
        return res
    e = ph.energy.figures(np.asarray(res.policy, dtype=np.int8))   # docs/energy.md: estimates
    return replace(res, client_energy_j=e.client_j, client_energy_parts=(e.compute_j, e.wait_j, e.radio_j),
                   client_j_per_token=e.decode_j_per_token, server_energy_j=e.server_j)


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit)) if math.isfinite(limit) else math.inf


def _zero_like(c: Costs) -> Costs:
    z = np.zeros(c.n)
    return replace(c, client_ms=z, server_ms=z, up_ms=z, down_ms=z, reward=z, up_out_ms=0.0, down_out_ms=0.0)


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


def exact_limits_policy(ph: Phases, sc: Scenario, hint: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
    """Max client reward policy meeting the deadline, the TTFT and the TPOT limits exactly, or None.

    Two exact routes; only their order depends on a guess. The 2-D optimum of the composite chain,
    where it meets the limits, is the answer (its reward bounds every policy's that meets more); when
    the greedy prefix policy (O(L)) already breaks a limit, the 2-D optimum, which takes at least as
    much for the client, nearly always does too, so the 3-D pass runs without that 2-D pass first.
    """
    tot = ph.composite()
    ttft, dec_lim = limits_of(sc)
    pre, dec = ph.prefill, ph.decode if ph.decode is not None else _zero_like(ph.prefill)
    lims = (_slack(ttft), _slack(dec_lim), _slack(sc.deadline_ms))
    if tot.constrained:   # pins and memory limits too (SPEC §10)
        return constrained_exact(pre, dec, tot, lims, hint)   # `hint`: a policy to start from (the DP's)
    guess = greedy_policy(tot)
    if guess is not None and not _meets_all(pre, dec, np.array(guess, dtype=np.int8), lims):
        return _labels3(pre, dec, tot, lims)
    fast = exact_policy(tot)
    if fast is None or _meets_all(pre, dec, np.array(fast, dtype=np.int8), lims):
        return fast
    return _labels3(pre, dec, tot, lims)


_F = NDArray[np.float64]
_I = NDArray[np.intp]
_History3 = list[tuple[_I, _I, int]]   # per layer: the kept client and server candidates, the client label count


def _labels3(pre: Costs, dec: Costs, tot: Costs, lims: tuple[float, float, float]) -> tuple[int, ...] | None:
    """The 3-D label-setting pass (see the module docstring). Worst case exponential in L.

    A label is a column (P, D, −R, P+D); C and S hold the client and the server labels. Each layer is
    one `step3` over both sides at once, with the layer's shifts and pruning thresholds (`_layer_tables`).
    """
    V, TH = _layer_tables(pre, dec, tot, lims)
    first, none = np.zeros((_ROWS, 1)), np.zeros((_ROWS, 0))
    C, S = (first, none) if tot.start_client else (none, first)
    history: _History3 = []
    for i in range(tot.n):
        nc = C.shape[1]
        C, S, kc, ks = step3(C, S, V[i], TH[i])
        if not (kc.size or ks.size):
            return None                                     # no label left: nothing meets the limits
        history.append((kc, ks, nc))
    return _finish3(pre, dec, C, S, history, lims)


_ROWS = 4                 # a label's rows: P, D, −R, P+D
_CELLS = 1 << 18          # candidate pairs compared at once (bounds the comparison's memory)
_all = np.logical_and.reduce   # np.all's wrapper costs more than the reduction on these small arrays


def _layer_tables(pre: Costs, dec: Costs, tot: Costs, lims: tuple[float, float, float]) -> tuple[_F, _F]:
    """Per layer i: V[i][row, side, source], what moving a label of `source` (0 client, 1 server) across
    layer i onto `side` (0 client, 1 server) adds to each row; TH[i][row, side, 0], the largest value
    each row of a label on `side` after layer i may have: the limits less the least remaining P, D and
    P+D to the end, and (row −R) the reward still available less an incumbent's reward."""
    rem = [remaining_latency(c) for c in (pre, dec, tot)]   # each: (rem_client, rem_server), i = 0..L
    future = np.concatenate((np.cumsum(tot.reward[::-1])[::-1], [0.0]))
    floor = _incumbent(pre, dec, tot, lims)
    floor -= 1e-9 * max(1.0, abs(floor)) if math.isfinite(floor) else 0.0   # never prune the incumbent itself
    V = np.empty((tot.n, _ROWS, 2, 2))
    for row, c in ((0, pre), (1, dec)):
        V[:, row, 0, 0] = c.client_ms
        V[:, row, 0, 1] = c.down_ms + c.client_ms
        V[:, row, 1, 0] = c.up_ms + c.server_ms
        V[:, row, 1, 1] = c.server_ms
    V[:, 2, 0, :] = -tot.reward[:, None]
    V[:, 2, 1, :] = 0.0
    V[:, 3] = V[:, 0] + V[:, 1]
    TH = np.empty((tot.n, _ROWS, 2, 1))
    for side in (0, 1):
        TH[:, 0, side, 0] = lims[0] - rem[0][side][1:]
        TH[:, 1, side, 0] = lims[1] - rem[1][side][1:]
        TH[:, 2, side, 0] = future[1:] - floor
        TH[:, 3, side, 0] = lims[2] - rem[2][side][1:]
    return V, TH


def step3(C: _F, S: _F, V: _F, TH: _F) -> tuple[_F, _F, _I, _I]:
    """One layer of the 3-D pass for both sides: the new client and server labels and, for each, the
    index of its candidate (below C's label count: moved from C, else from S at index − that count).

    Candidates on a side are the labels of C, then those of S, moved across the layer (V). Kept are
    those within every threshold (TH) that no other candidate of that side matches or beats in P, D
    and −R; of two equal candidates the one from the same side stays. (A candidate beyond a threshold
    beats only candidates beyond it too, so bounds and comparison need no order.) The two sources are
    each a front shifted by one constant (no candidate dominates another of its source), so only
    pairs across the sources are compared. A float rounding that makes two of one source comparable
    can only leave an extra label, never drop a needed one.
    """
    nc, ns = C.shape[1], S.shape[1]
    Y = np.empty((_ROWS, 2, nc + ns))                        # [row, side, candidate]
    np.add(C[:, None, :], V[:, :, 0:1], out=Y[:, :, :nc])
    np.add(S[:, None, :], V[:, :, 1:2], out=Y[:, :, nc:])
    ok = _all(Y <= TH, axis=0)                               # [side, candidate]
    if nc and ns:
        drop = np.zeros((2, nc + ns), dtype=bool)
        step = max(1, _CELLS // (2 * ns))
        for lo in range(0, nc, step):
            hi = min(nc, lo + step)
            a, b = Y[:3, :, lo:hi, None], Y[:3, :, None, nc:]  # from C vs from S, both sides
            le = _all(a <= b, axis=0)                         # [side, i, j]: from-C i at least as good as from-S j
            ge = _all(a >= b, axis=0)                         # [side, i, j]: from-S j at least as good
            drop[0, lo:hi] = (ge[0] & ~le[0]).any(axis=1)     # client side: from C is the same side, wins ties
            drop[0, nc:] |= le[0].any(axis=0)
            drop[1, lo:hi] = ge[1].any(axis=1)                # server side: from S is the same side, wins ties
            drop[1, nc:] |= (le[1] & ~ge[1]).any(axis=0)
        ok &= ~drop
    kc, ks = ok[0].nonzero()[0], ok[1].nonzero()[0]
    return Y[:, 0, kc], Y[:, 1, ks], kc, ks


def _tails(c: Costs, side: int) -> float:
    if side == 1:
        return 0.0 if c.end_client else c.up_out_ms
    return c.down_out_ms if c.end_client else 0.0


def _finish3(pre: Costs, dec: Costs, C: _F, S: _F, history: _History3, lims: tuple[float, float, float]
             ) -> tuple[int, ...] | None:
    best = None  # (reward, -latency, side, index)
    for side, lab in ((1, C), (0, S)):
        P, D, R = lab[0] + _tails(pre, side), lab[1] + _tails(dec, side), -lab[2]
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
        kc, ks, nc = history[k]
        col = int((kc if side == 1 else ks)[idx])
        side, idx = (1, col) if col < nc else (0, col - nc)
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
    if tot.constrained:
        ttft, dec_lim = limits_of(sc)
        return constrained_brute_force(ph.prefill, ph.decode, tot, (_slack(ttft), _slack(dec_lim),
                                                                    _slack(sc.deadline_ms)))
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
