"""Output lengths: a request's decode-token count drawn from a distribution, and its costs at that count.

``TokenDist`` parses ``fixed:N``, ``geometric:MEAN`` (support 1, 2, …; P(N = k) = p(1−p)^(k−1),
p = 1/MEAN) and ``uniform:A-B`` (integers A..B inclusive) and samples them with numpy.

``LengthCosts`` holds, per cell, one method's request costs as functions of the output length N
under the cell's fixed placement (SPEC §8: one placement serves the whole request). At the
profile's context knots it keeps the decode-step server load and latency and the server-side
weight and KV bytes (per token) of that placement; every per-step cost is linear in the context c
between knots, so for fixed x so is their placement-weighted sum, and the sums over the N − 1
decode steps (SPEC §8's counting: the prefill yields the first token), c = s..s+N−2, are exact
arithmetic series (``series_sum``, vectorised over rows). Then

  load(N)    = prefill load + Σ_c step load(c)        (objective server_mem: the memory below)
  latency(N) = TTFT + Σ_c step latency(c)
  memory(N)  = weights(c*) + kv(c*) · (s + N − 1),  c* = s + max(N − 1, 1) − 1  (as generation.server_mem_bytes)

Pure numpy; the arrays come from ``splittui.sweep_sim.sim_cells``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SplittuiError

__all__ = ["TokenDist", "parse_token_dist", "LengthCosts", "RequestCosts", "series_sum", "interp_at",
           "MAX_TOKENS"]

MAX_TOKENS = 10_000_000
_FORMS = "fixed:N, geometric:MEAN or uniform:A-B"


@dataclass(frozen=True, slots=True)
class TokenDist:
    """An output-length distribution over integers >= 0."""

    kind: str          # fixed | geometric | uniform
    a: float           # fixed: N; geometric: the mean; uniform: A
    b: float = 0.0     # uniform: B

    def __post_init__(self) -> None:
        ok = {"fixed": lambda: float(self.a).is_integer() and 0 <= self.a <= MAX_TOKENS,
              "geometric": lambda: math.isfinite(self.a) and 1 <= self.a <= MAX_TOKENS,
              "uniform": lambda: (float(self.a).is_integer() and float(self.b).is_integer()
                                  and 0 <= self.a <= self.b <= MAX_TOKENS)}
        if self.kind not in ok or not ok[self.kind]():
            raise SplittuiError(f"--gen-tokens-dist {self.text}: want {_FORMS} (N, A <= B integers "
                                f"in 0..{MAX_TOKENS:,}; MEAN in 1..{MAX_TOKENS:,})")

    @property
    def text(self) -> str:
        if self.kind == "uniform":
            return f"uniform:{self.a:g}-{self.b:g}"
        return f"{self.kind}:{self.a:g}"

    @property
    def mean(self) -> float:
        return (self.a + self.b) / 2 if self.kind == "uniform" else float(self.a)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, int(self.a), dtype=np.int64)
        if self.kind == "uniform":
            return rng.integers(int(self.a), int(self.b) + 1, n).astype(np.int64)
        return rng.geometric(1.0 / self.a, n).astype(np.int64)


def parse_token_dist(text: str) -> TokenDist:
    """``fixed:N``, ``geometric:MEAN`` or ``uniform:A-B``; a one-line SplittuiError otherwise."""
    kind, sep, arg = str(text).strip().partition(":")
    kind = kind.strip().lower()
    bad = SplittuiError(f"--gen-tokens-dist {text!r}: want {_FORMS}, e.g. geometric:256")
    if not sep or kind not in ("fixed", "geometric", "uniform"):
        raise bad
    parts = arg.split("-") if kind == "uniform" else [arg]
    if len(parts) != (2 if kind == "uniform" else 1):
        raise bad
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise bad from None
    if not all(math.isfinite(v) for v in nums):
        raise bad
    return TokenDist(kind, *nums)


def _prefix(k: np.ndarray, v: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per row: Σ f(c') over integers k_0 <= c' < c (pieces half-open [k_j, k_j+1); the last knot alone)."""
    total = np.zeros(len(c))
    for j in range(k.shape[1] - 1):
        a, b = k[:, j], k[:, j + 1]
        q = np.minimum(b, c)
        cnt = np.maximum(q - a, 0.0)
        slope = (v[:, j + 1] - v[:, j]) / np.where(b > a, b - a, 1.0)
        last = v[:, j] + slope * (q - 1 - a)
        total += np.where(cnt > 0, cnt * (v[:, j] + last) / 2.0, 0.0)
    return total + np.where(c > k[:, -1], v[:, -1], 0.0)


def series_sum(knots: np.ndarray, values: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per row r: Σ_{c=first_r}^{first_r+count_r−1} f_r(c), f_r linear between (knots[r, j], values[r, j]).

    Contexts must lie within the row's knots; rows may repeat their last knot (padding).
    """
    k, v = np.asarray(knots, dtype=np.float64), np.asarray(values, dtype=np.float64)
    lo = np.asarray(first, dtype=np.float64)
    hi = lo + np.asarray(count, dtype=np.float64)
    out: np.ndarray = _prefix(k, v, hi) - _prefix(k, v, lo)
    return out


def interp_at(knots: np.ndarray, values: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per row: the linear interpolation of (knots, values) at context c (within the knots)."""
    k, v = np.asarray(knots, dtype=np.float64), np.asarray(values, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    out: np.ndarray = v[:, 0].copy()
    for j in range(k.shape[1] - 1):
        a, b = k[:, j], k[:, j + 1]
        slope = (v[:, j + 1] - v[:, j]) / np.where(b > a, b - a, 1.0)
        out = np.where((c > a) & (b > a), v[:, j] + slope * (np.minimum(c, b) - a), out)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class RequestCosts:
    """Per request under one method: server load, latency (ms), server weight and KV bytes held."""

    load: np.ndarray
    latency_ms: np.ndarray
    weight_bytes: np.ndarray | None
    kv_bytes: np.ndarray | None


@dataclass(frozen=True, slots=True, eq=False)
class LengthCosts:
    """One method's per-cell request costs as functions of N (see the module docstring); rows = cells."""

    seq: np.ndarray            # (n,) prompt length s
    max_tokens: np.ndarray     # (n,) the largest N the profile covers (s + N − 2 <= its last length)
    prefill_load: np.ndarray   # (n,) server load of the prefill
    prefill_ms: np.ndarray     # (n,) TTFT
    knots: np.ndarray          # (n, K) contexts, ascending, padded by repeating the last
    step_load: np.ndarray      # (n, K) server load of one decode step at each knot
    step_ms: np.ndarray        # (n, K) latency of one decode step at each knot
    weight_bytes: np.ndarray | None = None   # (n, K) server-side weights; None: unknown
    kv_bytes: np.ndarray | None = None       # (n, K) server-side KV cache per token
    load_is_memory: bool = False             # objective server_mem: the load is the memory

    @property
    def has_memory(self) -> bool:
        return self.weight_bytes is not None and self.kv_bytes is not None

    def costs(self, rows: np.ndarray, tokens: np.ndarray) -> RequestCosts:
        """Costs of requests in cells ``rows`` with ``tokens`` output tokens (each <= max_tokens[row])."""
        rows = np.asarray(rows, dtype=np.int64)
        n = np.asarray(tokens, dtype=np.float64)
        s = self.seq[rows].astype(np.float64)
        k = self.knots[rows]
        steps = np.maximum(n - 1, 0)   # SPEC §8: the prefill yields the first of the N tokens
        ms = self.prefill_ms[rows] + series_sum(k, self.step_ms[rows], s, steps)
        load = self.prefill_load[rows] + series_sum(k, self.step_load[rows], s, steps)
        w = kv = None
        if self.weight_bytes is not None and self.kv_bytes is not None:
            last = s + np.maximum(steps, 1) - 1
            w = interp_at(k, self.weight_bytes[rows], last)
            kv = interp_at(k, self.kv_bytes[rows], last) * (s + steps)
            if self.load_is_memory:
                load = w + kv
        return RequestCosts(load=load, latency_ms=ms, weight_bytes=w, kv_bytes=kv)
