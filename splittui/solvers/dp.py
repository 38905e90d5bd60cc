"""The paper's dynamic program (Algorithm 1 as corrected by SPEC §4), vectorised with numpy.

Times are integerised in units of T (rounded up by default, so every policy the DP accepts really
meets the deadline). ``C[w]``/``S[w]`` hold the best client-side reward of layers 1..l with layer l
on the client/server within w units; each layer is one numpy pass over w = 0..W, and only one
decision bit per state and cell is kept for backtracking (packed 8 per byte when the table is large).

Time O(L·W), memory O(W) floats + 2·L·W bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..costs import Costs
from ..errors import SplittuiError

__all__ = ["DPTables", "integerise", "run_dp", "backtrack", "dp_memory_bytes", "DP_MEM_LIMIT_BYTES"]

DP_MEM_LIMIT_BYTES = 1 << 30          # refuse DP tables larger than this (1 GiB)
_BOOL_LIMIT_BYTES = 64 << 20          # above this, decision bits are bit-packed
_EPS = 1e-9


def _units(values, unit: float, rounding: str) -> np.ndarray:
    scaled = np.asarray(values, dtype=np.float64) / unit
    if rounding == "round":
        return np.maximum(np.floor(scaled + 0.5), 0).astype(np.int64)
    return np.maximum(np.ceil(scaled - _EPS), 0).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Integerised:
    c: np.ndarray
    s: np.ndarray
    u: np.ndarray
    d: np.ndarray
    u_out: int
    d_out: int
    W: int


def integerise(costs: Costs, unit_ms: float, rounding: str = "ceil") -> Integerised:
    k = lambda v: _units(v, unit_ms, rounding)  # noqa: E731
    return Integerised(c=k(costs.client_ms), s=k(costs.server_ms), u=k(costs.up_ms), d=k(costs.down_ms),
                       u_out=int(k(costs.up_out_ms)), d_out=int(k(costs.down_out_ms)),
                       W=int(math.floor(costs.deadline_ms / unit_ms + _EPS)))


def dp_memory_bytes(n_layers: int, W: int) -> int:
    """Peak bytes the DP holds: four float rows of 2(W+1) and the decision bits."""
    cells = W + 1
    bits = 2 * n_layers * cells
    return 4 * 2 * cells * 8 + (bits if bits <= _BOOL_LIMIT_BYTES else bits // 8 + 2 * n_layers)


def check_memory(n_layers: int, deadline_ms: float, unit_ms: float, limit: int = DP_MEM_LIMIT_BYTES) -> None:
    W = int(math.floor(deadline_ms / unit_ms + _EPS))
    need = dp_memory_bytes(n_layers, W)
    if need <= limit:
        return
    w_fit = int(limit / (64 + n_layers / 4)) - 2
    t_fit = deadline_ms / max(w_fit, 1)
    t_fit = float(f"{t_fit:.2g}") * 1.0
    while dp_memory_bytes(n_layers, int(deadline_ms / t_fit)) > limit:
        t_fit *= 1.1
    raise SplittuiError(
        f"unit_ms {unit_ms:g} is too small: the DP table for W={W:,} units x {n_layers} layers needs "
        f"{need / 2**20:,.0f} MiB, over the {limit / 2**20:,.0f} MiB limit; unit_ms >= {t_fit:.3g} would fit")


@dataclass(frozen=True, slots=True)
class DPTables:
    """Last rows and decision bits of one DP pass."""

    C: np.ndarray          # C[L][0..W]
    S: np.ndarray          # S[L][0..W]
    bit_c: np.ndarray      # (L, W+1) bool or (L, ceil((W+1)/8)) packed: C came from S
    bit_s: np.ndarray      # same: S came from C
    packed: bool
    ints: Integerised
    start_client: bool
    end_client: bool

    def end_values(self) -> np.ndarray:
        """best[w]: largest client reward with the answer delivered within w units (−inf if none)."""
        W, it = self.ints.W, self.ints
        end_c = _shift(self.C, 0 if self.end_client else it.u_out, W)
        end_s = _shift(self.S, it.d_out if self.end_client else 0, W)
        return np.maximum(end_c, end_s)


def _shift(row: np.ndarray, k: int, W: int) -> np.ndarray:
    out = np.full(W + 1, -np.inf)
    if k <= W:
        out[k:] = row[: W + 1 - k]
    return out


def run_dp(costs: Costs, unit_ms: float, *, rounding: str = "ceil",
           mem_limit: int = DP_MEM_LIMIT_BYTES) -> DPTables:
    """Fill the tables for every budget w = 0..W (one pass also yields the whole frontier)."""
    check_memory(costs.n, costs.deadline_ms, unit_ms, mem_limit)
    it = integerise(costs, unit_ms, rounding)
    W, L, P = it.W, costs.n, it.W + 1
    packed = 2 * L * P > _BOOL_LIMIT_BYTES
    width = (P + 7) // 8 if packed else P
    bit_c = np.zeros((L, width), dtype=np.uint8 if packed else bool)
    bit_s = np.zeros_like(bit_c)
    tmp = np.empty(P, dtype=bool)
    bufs = [np.full(2 * P, -np.inf) for _ in range(4)]
    C, S, Cn, Sn = bufs
    if costs.start_client:
        C[P:] = 0.0
    else:
        S[P:] = 0.0
    rew = costs.reward
    c_, s_ = np.minimum(it.c, P), np.minimum(it.s, P)
    cd, su = np.minimum(it.c + it.d, P), np.minimum(it.s + it.u, P)
    for l in range(L):
        for frm_same, frm_other, same_k, other_k, bits, out, add in (
            (C, S, c_[l], cd[l], bit_c, Cn, rew[l]),
            (S, C, s_[l], su[l], bit_s, Sn, 0.0),
        ):
            a = frm_same[P - same_k: 2 * P - same_k]
            b = frm_other[P - other_k: 2 * P - other_k]
            if packed:
                np.greater(b, a, out=tmp)
                bits[l] = np.packbits(tmp)
            else:
                np.greater(b, a, out=bits[l])
            dst = out[P:]
            np.maximum(a, b, out=dst)
            if add:
                dst += add
        C, Cn, S, Sn = Cn, C, Sn, S
    return DPTables(C=C[P:].copy(), S=S[P:].copy(), bit_c=bit_c, bit_s=bit_s, packed=packed, ints=it,
                    start_client=costs.start_client, end_client=costs.end_client)


def _bit(bits: np.ndarray, l: int, w: int, packed: bool) -> bool:
    if packed:
        return bool((bits[l, w >> 3] >> (7 - (w & 7))) & 1)
    return bool(bits[l, w])


def backtrack(t: DPTables) -> tuple[int, ...] | None:
    """Rebuild the best policy for the full budget W, or None when no policy fits."""
    it, W = t.ints, t.ints.W
    wc = W - (0 if t.end_client else it.u_out)
    ws = W - (it.d_out if t.end_client else 0)
    vc = t.C[wc] if wc >= 0 else -np.inf
    vs = t.S[ws] if ws >= 0 else -np.inf
    if vc == -np.inf and vs == -np.inf:
        return None
    on_client, w = (True, wc) if vc >= vs else (False, ws)
    L = len(it.c)
    policy = [0] * L
    for l in range(L - 1, -1, -1):
        if on_client:
            policy[l] = 1
            if _bit(t.bit_c, l, w, t.packed):
                w -= int(it.c[l] + it.d[l])
                on_client = False
            else:
                w -= int(it.c[l])
        else:
            if _bit(t.bit_s, l, w, t.packed):
                w -= int(it.s[l] + it.u[l])
                on_client = True
            else:
                w -= int(it.s[l])
    assert w >= 0 and on_client == t.start_client, "DP backtrack left the table"
    return tuple(policy)
