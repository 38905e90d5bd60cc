"""The paper's dynamic program (Algorithm 1 as corrected by SPEC §4), vectorised with numpy.

Times are integerised in units of T (rounded up by default, so every policy the DP accepts really
meets the deadline). ``C[w]``/``S[w]`` hold the best client-side reward of layers 1..l with layer l
on the client/server within w units; each layer is one numpy pass over w = 0..W (a shift is a view
into a row padded with −inf), and only one decision bit per state and cell is kept for
backtracking, packed 8 per byte (also faster: less fresh memory to fault in than a bool table).

Time O(L·W); memory: 4 float rows and 2 bool rows of O(W) (work memory, reused per thread) and
2·L·W bits. Cells below the least latency that reaches a state are −inf and skipped. `solve` and
the frontier go through `dp_labels`, which computes the same cells sparsely where W is large and
comes back here where W is small or the labels would outgrow the table.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..costs import Costs
from ..errors import SplittuiError

__all__ = ["DPTables", "integerise", "run_dp", "backtrack", "dp_memory_bytes", "check_memory",
           "fitting_unit", "budget_units", "DP_MEM_LIMIT_BYTES"]

DP_MEM_LIMIT_BYTES = 1 << 30          # refuse DP tables larger than this (1 GiB)
_EPS = 1e-9
_UNIT_CAP = float(1 << 60)  # any time above W units acts alike (shifts cap at W+1); keeps c+d in int64


def _units(values: ArrayLike, unit: float, rounding: str) -> NDArray[np.int64]:
    scaled = np.minimum(np.asarray(values, dtype=np.float64) / unit, _UNIT_CAP)
    if rounding == "round":
        return np.maximum(np.floor(scaled + 0.5), 0).astype(np.int64)
    return np.maximum(np.ceil(scaled - _EPS), 0).astype(np.int64)


def budget_units(deadline_ms: float, unit_ms: float) -> float:
    """W = floor(Λ/T + 1e-9) (SPEC §4); a float, so that an absurd ratio stays inf, not an error."""
    q = deadline_ms / unit_ms + _EPS
    return float(math.floor(q)) if math.isfinite(q) else math.inf


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
    def k(v: ArrayLike) -> NDArray[np.int64]:
        return _units(v, unit_ms, rounding)

    return Integerised(c=k(costs.client_ms), s=k(costs.server_ms), u=k(costs.up_ms), d=k(costs.down_ms),
                       u_out=int(k(costs.up_out_ms)), d_out=int(k(costs.down_out_ms)),
                       W=int(budget_units(costs.deadline_ms, unit_ms)))


def dp_memory_bytes(n_layers: int, W: float) -> float:
    """Peak bytes the DP holds for W units: four padded float rows, two bool rows, the packed bits."""
    cells = W + 1
    if not math.isfinite(cells):
        return math.inf  # an absurd deadline/unit ratio (budget_units gives inf): refused, not an OverflowError
    return 4 * 2 * cells * 8 + 2 * cells + 2 * n_layers * math.ceil(cells / 8)


def _round_up_2sig(x: float) -> float:
    """The smallest number with two significant digits that is >= x (up to 1e-12 relative)."""
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    return float(f"{math.ceil(x / step * (1 - 1e-12)) * step:.2g}")


def fitting_unit(n_layers: int, deadline_ms: float, limit: int = DP_MEM_LIMIT_BYTES) -> float:
    """A round time unit (2 significant digits, rounded up) whose DP table fits in `limit` bytes."""
    lo, hi = 0, max(1, int(limit))                    # largest W that fits: binary search
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if dp_memory_bytes(n_layers, mid) <= limit else (lo, mid - 1)
    unit = _round_up_2sig(deadline_ms / (lo + 1))      # any unit above this gives W <= lo
    while dp_memory_bytes(n_layers, budget_units(deadline_ms, unit)) > limit:
        unit = _round_up_2sig(unit * 1.001)           # strictly larger: the next 2-digit number
    return unit


def check_memory(n_layers: int, deadline_ms: float, unit_ms: float, limit: int = DP_MEM_LIMIT_BYTES) -> None:
    """Raise SplittuiError, naming a unit that fits, when the DP table would exceed `limit` bytes."""
    W = budget_units(deadline_ms, unit_ms)
    need = dp_memory_bytes(n_layers, W)
    if need <= limit:
        return
    size = f"{need / 2**20:,.0f} MiB" if math.isfinite(need) else "unbounded memory"
    raise SplittuiError(
        f"unit_ms {unit_ms:g} is too small for deadline_ms {deadline_ms:g}: the DP table for W={W:,.0f} "
        f"units x {n_layers} layers needs {size}, over the {limit / 2**20:,.0f} MiB limit; "
        f"unit_ms {fitting_unit(n_layers, deadline_ms, limit):g} or more would fit")


@dataclass(frozen=True, slots=True)
class DPTables:
    """Last rows and decision bits of one DP pass."""

    C: np.ndarray          # C[L][0..W]
    S: np.ndarray          # S[L][0..W]
    bit_c: np.ndarray      # (L, ceil((W+1)/8)) packed, big-endian bit order: C came from S
    bit_s: np.ndarray      # same: S came from C
    packed: bool
    ints: Integerised
    start_client: bool
    end_client: bool

    def end_values(self) -> np.ndarray:
        """best[w]: largest client reward with the answer delivered within w units (−inf if none)."""
        W, it = self.ints.W, self.ints
        best = np.full(W + 1, -np.inf)
        for row, k in ((self.C, 0 if self.end_client else it.u_out), (self.S, it.d_out if self.end_client else 0)):
            if k <= W:
                np.maximum(best[k:], row[: W + 1 - k], out=best[k:])
        return best


def run_dp(costs: Costs, unit_ms: float, *, rounding: str = "ceil",
           mem_limit: int = DP_MEM_LIMIT_BYTES) -> DPTables:
    """Fill the tables for every budget w = 0..W (one pass also yields the whole frontier)."""
    check_memory(costs.n, costs.deadline_ms, unit_ms, mem_limit)
    it = integerise(costs, unit_ms, rounding)
    P = it.W + 1
    shifts = [np.minimum(k, P).tolist() for k in (it.c, it.c + it.d, it.s, it.s + it.u)]
    pad = max(1, max(max(k) for k in shifts))
    rows, took = _scratch(pad + P, P)            # C, S, next C, next S; [0, pad) holds -inf
    rows[0 if costs.start_client else 1, pad:] = 0.0
    bits = np.empty((costs.n, 2, (P + 7) // 8), dtype=np.uint8)
    _fill(rows, took, bits, shifts, _reach(it, costs.start_client, P), costs.reward.tolist(), pad, P)
    cur = 0 if costs.n % 2 == 0 else 2
    return DPTables(C=rows[cur, pad:].copy(), S=rows[cur + 1, pad:].copy(), bit_c=bits[:, 0], bit_s=bits[:, 1],
                    packed=True, ints=it, start_client=costs.start_client, end_client=costs.end_client)


_SCRATCH = threading.local()
_SCRATCH_KEEP_BYTES = 16 << 20   # work rows up to this size are kept per thread for the next call


def _scratch(width: int, P: int) -> tuple[np.ndarray, np.ndarray]:
    """Four float work rows of `width`, all −inf, and a (2, P) bool row; reused within a thread.

    Reuse matters: faulting in fresh pages for ~1 MB of rows costs up to a third of a W = 20,000
    solve. Only the returned tables' own arrays (last rows, decision bits) are fresh.
    """
    rows = getattr(_SCRATCH, "rows", None)
    if rows is None or rows.shape[1] < width:
        rows = np.empty((4, width))
        if rows.nbytes <= _SCRATCH_KEEP_BYTES:
            _SCRATCH.rows = rows
    took = getattr(_SCRATCH, "took", None)
    if took is None or took.shape[1] < P:
        took = np.empty((2, P), dtype=bool)
        if took.nbytes <= _SCRATCH_KEEP_BYTES:
            _SCRATCH.took = took
    rows = rows[:, :width]
    rows.fill(-np.inf)
    return rows, took[:, :P]


def _reach(it: Integerised, start_client: bool, P: int) -> list[tuple[int, int]]:
    """Per layer, the least integer latency that reaches it on the client / on the server (capped at P).

    Below it the row is −inf, so the recurrence only runs from there. O(L).
    """
    inf = math.inf
    on_c, on_s = (0, inf) if start_client else (inf, 0)
    out = []
    for c, s, u, d in zip(it.c.tolist(), it.s.tolist(), it.u.tolist(), it.d.tolist(), strict=False):
        on_c, on_s = min(on_c + c, on_s + c + d), min(on_s + s, on_c + s + u)
        out.append((min(on_c, P), min(on_s, P)))
    return out


def _fill(rows: np.ndarray, took: np.ndarray, bits: np.ndarray, shifts: list[list[int]],
          reach: list[tuple[int, int]], rewards: list[float], pad: int, P: int) -> None:
    """The recurrence of SPEC §4, one layer per iteration, writing the packed decision bits.

    Per layer and state: one comparison (the decision bits), one maximum (and for the client one
    add), each a ufunc with out= into preallocated rows, over the cells from the state's least
    reaching latency on; cells below it are set to −inf and their decision bits are never read.
    """
    c_, cd, s_, su = shifts
    C, S, Cn, Sn = rows
    took_c, took_s = took
    end = pad + P
    lo_of = [0, 0, 0, 0]  # per row of `rows`: cells below this are already −inf
    ic, is_, icn, isn = 0, 1, 2, 3
    gt, mx, pack = np.greater, np.maximum, np.packbits
    for i, r in enumerate(rewards):
        lc, ls = reach[i]
        if lo_of[icn] < lc:
            Cn[pad + lo_of[icn]: pad + lc] = -np.inf
        if lo_of[isn] < ls:
            Sn[pad + lo_of[isn]: pad + ls] = -np.inf
        lo_of[icn], lo_of[isn] = lc, ls
        o = pad + lc
        a, b = C[o - c_[i]: end - c_[i]], S[o - cd[i]: end - cd[i]]
        gt(b, a, out=took_c[lc:])
        dst = Cn[o:]
        mx(a, b, out=dst)
        if r:
            dst += r
        o = pad + ls
        a, b = S[o - s_[i]: end - s_[i]], C[o - su[i]: end - su[i]]
        gt(b, a, out=took_s[ls:])
        mx(a, b, out=Sn[o:])
        bits[i] = pack(took, axis=1)
        C, S, Cn, Sn = Cn, Sn, C, S
        ic, is_, icn, isn = icn, isn, ic, is_


def _bit(bits: np.ndarray, i: int, w: int) -> bool:
    return bool((bits[i, w >> 3] >> (7 - (w & 7))) & 1)


def backtrack(t: DPTables) -> tuple[int, ...] | None:
    """Rebuild the best policy for the budget t.ints.W (any W up to the filled one), or None."""
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
    for i in range(L - 1, -1, -1):
        if on_client:
            policy[i] = 1
            if _bit(t.bit_c, i, w):
                w -= int(it.c[i] + it.d[i])
                on_client = False
            else:
                w -= int(it.c[i])
        else:
            if _bit(t.bit_s, i, w):
                w -= int(it.s[i] + it.u[i])
                on_client = True
            else:
                w -= int(it.s[i])
    if w < 0 or on_client != t.start_client:
        raise RuntimeError("DP backtrack left the table")  # a bug, never bad input
    return tuple(policy)
