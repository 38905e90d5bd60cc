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
