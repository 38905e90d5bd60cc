"""The Lagrangian dual of the constrained chain (`constrained`, SPEC §10), for many multipliers at once.

With the deadline priced by λ ≥ 0 and the client's held bytes by μ ≥ 0, every feasible policy's reward is at
most ``f(λ, μ) = max_x [R(x) − λ·T(x) − μ·H(x)] + λ·Λ + μ·B`` (T the latency, H the client bytes held, B the
client budget). The inner maximum is a two-state chain recurrence (the layer on the client or the server,
a switch paying its transfer), run here forward over whole arrays of multiplier pairs: one numpy pass per
layer whatever their number. `best_multipliers` searches a log grid, then refines it around its best point
three times; any pair gives a valid bound, the search only makes it tight.

Time O(L·K) for K pairs (about 1,500 on the first grid, 121 per refinement).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .constrained_case import _Case, _Chain

__all__ = ["DualChain", "dual_values", "best_multipliers"]

_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DualChain:
    """A chain's per-layer times, reward, client bytes and pins (1 client, 0 server, −1 free)."""

    client: _F
    server: _F
    up: _F
    down: _F
    tail: tuple[float, float]   # the answer's delivery after the last layer on the client / the server
    start_client: bool
    reward: _F
    held: _F
    pin: NDArray[np.int8]


def dual_values(ch: DualChain, lams: _F, mus: _F, T: float, B: float) -> _F:
    """f(λ_k, μ_k) for each pair k (B infinite: μ is not used)."""
    lams, mus = np.asarray(lams, dtype=np.float64), np.asarray(mus, dtype=np.float64)
    fin_b = math.isfinite(B)
    if not fin_b:
        mus = np.zeros_like(mus)
    fc = np.where(ch.start_client, 0.0, -math.inf) + 0.0 * lams
    fs = np.where(ch.start_client, -math.inf, 0.0) + 0.0 * lams
    ninf = np.full(lams.shape, -math.inf)
    for c, s, u, d, r, h, p in zip(ch.client.tolist(), ch.server.tolist(), ch.up.tolist(), ch.down.tolist(),
                                   ch.reward.tolist(), ch.held.tolist(), ch.pin.tolist(), strict=True):
        a = np.maximum(fc, fs - lams * d) + (r - lams * c - mus * h) if p != 0 else ninf
        b = np.maximum(fs, fc - lams * u) - lams * s if p != 1 else ninf
        fc, fs = a, b
    best = np.maximum(fc - lams * ch.tail[0], fs - lams * ch.tail[1])
    out: _F = best + lams * T + (mus * B if fin_b else 0.0)
    return out


def best_multipliers(ch: DualChain, T: float, B: float) -> tuple[float, float]:
    """(λ, μ) near the minimum of f: a log grid (zero included) scaled to the problem, then three finer grids."""
    tot = float(np.abs(ch.reward).sum()) or 1.0
    scale_l = tot / max(T, 1e-9)
    scale_m = tot / max(B, 1.0) if math.isfinite(B) else 0.0
    steps = np.concatenate(([0.0], 10.0 ** np.linspace(-6.0, 3.0, 37)))
    lam_g = scale_l * steps
    mu_g = scale_m * steps if scale_m else np.zeros(1)
    L, M = np.meshgrid(lam_g, mu_g, indexing="ij")
    v = dual_values(ch, L.ravel(), M.ravel(), T, B)
    k = int(np.argmin(v))
    lam, mu, val = float(L.ravel()[k]), float(M.ravel()[k]), float(v[k])
    for width in (0.25, 0.05, 0.01):
        f = 10.0 ** np.linspace(-width, width, 11)
        ls = lam * f if lam > 0 else np.zeros(1)
        ms = mu * f if mu > 0 else np.zeros(1)
        L, M = np.meshgrid(ls, ms, indexing="ij")
        v = dual_values(ch, L.ravel(), M.ravel(), T, B)
        k = int(np.argmin(v))
        if v[k] < val:
            lam, mu, val = float(L.ravel()[k]), float(M.ravel()[k]), float(v[k])
    return lam, mu


# The Lagrangian bounds the label pass prunes by (below: built from a case and its summed chain).


def _knapsack_bounds(reward: _F, case: _Case) -> list[tuple[_F, _F, float]]:
    """Per layer i: the fractional-knapsack bound on the client reward layers i+1.. can still add within a
    client byte budget (free layers by reward per byte; pinned-client ones always count): cumulative bytes
    and rewards in that order, and the pinned-client reward. O(L² log L) once per pass."""
    n = len(reward)
    out = []
    for i in range(n):
        j = np.arange(i + 1, n)
        free = j[(case.pin[j] < 0) & (reward[j] > 0)]
        pinned = float(reward[j[case.pin[j] == 1]].sum())
        held = case.held[free]
        ratio = np.where(held > 0, reward[free] / np.maximum(held, 1e-300), np.inf)
        order = np.argsort(-ratio, kind="stable")
        out.append((np.cumsum(held[order]), np.cumsum(reward[free][order]), pinned))
    return out


def _bound(tab: tuple[_F, _F, float], room: _F) -> _F:
    """The bound at each byte budget `room` (vectorised over labels)."""
    ch, cr, pinned = tab
    if ch.size == 0:
        return np.full(room.shape, pinned)
    room = np.maximum(room, 0.0)
    k = np.searchsorted(ch, room, side="right")          # whole items that fit
    prev_h = np.where(k > 0, ch[np.maximum(k - 1, 0)], 0.0)
    prev_r = np.where(k > 0, cr[np.maximum(k - 1, 0)], 0.0)
    nxt = np.minimum(k, ch.size - 1)
    item_h = ch[nxt] - np.where(nxt > 0, ch[np.maximum(nxt - 1, 0)], 0.0)
    item_r = cr[nxt] - np.where(nxt > 0, cr[np.maximum(nxt - 1, 0)], 0.0)
    frac = np.where((k < ch.size) & (item_h > 0), (room - prev_h) / np.where(item_h > 0, item_h, 1.0), 0.0)
    return pinned + prev_r + np.where(k < ch.size, np.clip(frac, 0.0, 1.0) * item_r, 0.0)


@dataclass(frozen=True, slots=True)
class _Dual:
    """A Lagrangian bound (SPEC §10 constraints relaxed with multipliers lam on latency, mu on client bytes):
    for a label after layer i on a side, its best reward is at most R − lam·T − mu·held + G[i][side] +
    lam·Λ + mu·B, where G is the best future value of reward − lam·latency − mu·bytes (a backward chain
    pass, pins respected). Valid for any lam, mu >= 0; the pass picks them near the dual optimum."""

    lam: float
    mu: float
    G: _F          # (L, 2): [i, side] side 0 client, 1 server


def _backward(ch: _Chain, reward: _F, held: _F, pin: NDArray[np.int8], lam: float, mu: float) -> _F:
    n = len(reward)
    G = np.empty((n, 2))
    gc, gs = -lam * ch.tail(1), -lam * ch.tail(0)
    cl, sv, up, dn = ch.client.tolist(), ch.server.tolist(), ch.up.tolist(), ch.down.tolist()
    val = (reward - mu * held).tolist()
    pins = pin.tolist()
    for i in range(n - 1, -1, -1):
        G[i, 0], G[i, 1] = gc, gs
        a = val[i] - lam * cl[i] + gc if pins[i] != 0 else -math.inf   # layer i on the client
        b = -lam * sv[i] + gs if pins[i] != 1 else -math.inf              # on the server
        gc, gs = max(a, b - lam * up[i]), max(b, a - lam * dn[i])
    return G   # G[i, side]: the best value of the layers after i (and the answer's transfer), layer i on side


def _dual_value(ch: _Chain, reward: _F, case: _Case, lam: float, mu: float, T: float, B: float) -> float:
    G = _backward(ch, reward, case.held, case.pin, lam, mu)
    start = 0 if ch.start_client else 1
    # layer 0's own value: the backward pass from a virtual layer −1 on the start side
    v0c = (reward[0] - mu * case.held[0]) - lam * ch.client[0] - (0 if ch.start_client else lam * ch.down[0])
    v0s = -lam * ch.server[0] - (lam * ch.up[0] if ch.start_client else 0)
    a = v0c + G[0, 0] if case.pin[0] != 0 else -math.inf
    b = v0s + G[0, 1] if case.pin[0] != 1 else -math.inf
    del start
    return max(a, b) + lam * T + mu * (B if math.isfinite(B) else 0.0)


def _dual(ch: _Chain, reward: _F, case: _Case, T: float) -> _Dual:
    """Multipliers near the minimum of the dual function (`constrained_dual`: grids over both at once)."""
    lam, mu = best_multipliers(_dual_chain(ch, reward, case), T, case.budget[0])
    return _Dual(lam, mu, _backward(ch, reward, case.held, case.pin, lam, mu))


def _dual_chain(ch: _Chain, reward: _F, case: _Case) -> DualChain:
    return DualChain(ch.client, ch.server, ch.up, ch.down, (ch.tail(1), ch.tail(0)), ch.start_client, reward,
                     case.held, case.pin)


def _below(total: _Chain, reward: _F, case: _Case, d: _Dual, limit: float, floor: float) -> bool:
    """Whether the case's Lagrangian bound at d's multipliers falls below `floor`."""
    ub = _dual_value(total, reward, case, d.lam, d.mu, limit, case.budget[0])
    return ub < floor - 1e-9 * max(1.0, abs(floor), abs(ub))
