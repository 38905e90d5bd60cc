"""A floor and the checks the constrained search starts from (`constrained`, SPEC §10).

`_incumbent`: the best feasible policy among the pinned prefix and suffix policies (a floor for pruning),
screened all at once with numpy (`_may_meet`, `_latencies`) and confirmed one by one (`_meets`).
`_remaining`: the least latency still to come from each layer and side with the pins (the pass's latency
bound).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from .constrained_case import _Chain, fits

_F = NDArray[np.float64]


def _remaining(ch: _Chain, pin: NDArray[np.int8]) -> tuple[_F, _F]:
    """`remaining_latency` with the pins: [side][i], the least latency from 'layer i−1 done on the client /
    the server' to the answer, a pinned layer's other side barred (inf: no way on). Tighter than without
    them, so the pass drops labels that cannot meet a limit once the pinned layers are paid for."""
    on_c, on_s = ch.tail(1), ch.tail(0)
    out_c, out_s = [on_c], [on_s]
    layers = zip(ch.client.tolist(), ch.server.tolist(), ch.up.tolist(), ch.down.tolist(), pin.tolist(), strict=True)
    for client, server, up, down, p in reversed(list(layers)):   # Python floats: remaining_latency's sums
        to_c = client + on_c if p != 0 else math.inf
        to_s = server + on_s if p != 1 else math.inf
        on_c, on_s = min(to_c, up + to_s), min(to_s, down + to_c)
        out_c.append(on_c)
        out_s.append(on_s)
    return np.array(out_c[::-1]), np.array(out_s[::-1])


def _meets(chains: list[_Chain], lims: list[float], c: Costs, x: NDArray[np.int8]) -> float | None:
    """The policy's summed latency if it meets every limit, pin and memory limit, else None."""
    from ..costs import latency

    if c.pin is not None and bool(((c.pin >= 0) & (c.pin != x)).any()):
        return None
    if c.mem is not None and c.mem.active and not fits(c.mem, x):
        return None
    ts = [latency(ch.costs(), x) for ch in chains]
    if any(t > lim for t, lim in zip(ts, lims)) or sum(ts) > lims[-1]:
        return None
    return sum(ts)


def _incumbent(chains: list[_Chain], reward: _F, c: Costs, lims: list[float]
               ) -> tuple[float, float, tuple[int, ...]] | None:
    """The best feasible policy among the pinned prefix and suffix policies (a floor for pruning). O(L²) numpy:
    a loose screen of all at once (`_may_meet`), then `_meets` on the screened ones, most rewarding first."""
    n = c.n
    pin = c.pin if c.pin is not None else np.full(n, -1, dtype=np.int8)
    tri = np.tri(n + 1, n, -1, dtype=np.int8)                  # row k: k ones, then zeros
    X = np.empty((2 * (n + 1), n), dtype=np.int8)
    X[0::2], X[1::2] = tri, 1 - tri                             # the prefix and suffix policies, in turn
    X = np.where(pin >= 0, pin, X).astype(np.int8)
    rewards = [float(reward @ x) for x in X]
    cand = np.flatnonzero(_may_meet(chains, c, lims, X))
    for r in sorted({rewards[k] for k in cand.tolist()}, reverse=True):
        best = None
        for k in cand.tolist():
            if rewards[k] == r:
                t = _meets(chains, lims, c, X[k])
                if t is not None and (best is None or -t > best[1]):
                    best = (r, -t, tuple(int(v) for v in X[k]))
        if best is not None:
            return best
    return None


def _may_meet(chains: list[_Chain], c: Costs, lims: list[float], X: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Per policy (row of X, 1 client): False only where it surely breaks a limit (latencies and bytes summed in
    another order than `latency` and `fits`, so compared with a margin far above their float noise)."""
    ts = [_latencies(ch, X) for ch in chains]
    ok = np.ones(X.shape[0], dtype=bool)
    for t, lim in zip(ts, lims, strict=False):
        ok &= t <= lim + 1e-6 * max(1.0, abs(lim))
    ok &= sum(ts) <= lims[-1] + 1e-6 * max(1.0, abs(lims[-1]))
    m = c.mem
    if m is not None and m.active:
        shared = 0.0 if m.tied is None else m.tied[2]
        for lim_k, res_k, on in zip(m.limit, m.reserve, (X == 1, X == 0), strict=True):
            if lim_k is not None:
                need = on @ m.held - shared + (on * m.act).max(axis=1, initial=0.0) + res_k
                ok &= need <= lim_k * (1 + 1e-6)
    return ok


def _latencies(ch: _Chain, X: NDArray[np.int8]) -> _F:
    """SPEC latency of each policy (row of X, 1 client) on one chain."""
    on = X == 1
    prev = np.concatenate((np.full((X.shape[0], 1), ch.start_client), on[:, :-1]), axis=1)
    t: _F = on @ ch.client + (~on) @ ch.server + (prev & ~on) @ ch.up + (~prev & on) @ ch.down
    last = on[:, -1]
    return t + np.where(last, ch.tail(1), ch.tail(0))
