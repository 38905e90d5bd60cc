"""Hypothesis strategies and independent oracles for the core tests.

`chains()` draws a small random chain as `splittui.costs.Costs` (L <= 10, random start/end sides,
times, transfer costs and rewards); `profile_docs()` draws the same kind of chain as a
`splittui.profile/1` document with one sequence length. The oracles re-derive SPEC §3 from its text
(plain Python, no splittui code) so that a test compares the solvers against something independent.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from splittui.costs import Costs
from splittui.model import Scenario

__all__ = ["CORE", "Chain", "chains", "profile_docs", "spec_latency", "spec_reward", "Oracle", "oracle",
           "scenario_for", "meets_spec", "with_deadline"]

# Shared settings: the number of examples comes from the hypothesis profile (tests/core/conftest.py).
CORE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)

UNITS_EXACT = (0.25, 0.5, 1.0, 2.0)       # binary fractions: integer multiples add up exactly
UNITS_ANY = (0.3, 0.7, 1.0, 1.3, 2.9)


@dataclass(frozen=True)
class Chain:
    costs: Costs
    unit_ms: float


def meets_spec(latency_ms: float, deadline_ms: float) -> bool:
    """Deadline test with float-noise slack only (1e-9 relative), written independently."""
    return latency_ms <= deadline_ms + 1e-9 * max(1.0, abs(deadline_ms))


def spec_latency(c: Costs, x) -> float:
    """SPEC §3, term by term, in plain Python."""
    sides = [1 if c.start_client else 0, *[int(v) for v in x], 1 if c.end_client else 0]
    total = 0.0
    for l in range(c.n):
        total += float(c.client_ms[l]) if sides[l + 1] == 1 else float(c.server_ms[l])
        if sides[l] == 1 and sides[l + 1] == 0:
            total += float(c.up_ms[l])
        elif sides[l] == 0 and sides[l + 1] == 1:
            total += float(c.down_ms[l])
    if sides[c.n] == 1 and not c.end_client:
        total += float(c.up_out_ms)
    if sides[c.n] == 0 and c.end_client:
        total += float(c.down_out_ms)
    return total


def spec_reward(c: Costs, x) -> float:
    """Client-side reward sum x_l r_l (server load = total - this)."""
    return float(sum(float(r) for r, v in zip(c.reward, x) if v))


@dataclass(frozen=True)
class Oracle:
    feasible: bool
    best_reward: float          # -inf when infeasible
    min_latency: float
    policies: tuple             # every policy (for further checks)
    latencies: tuple


def oracle(c: Costs, deadline_ms: float | None = None) -> Oracle:
    """Brute force over 2^L, independent of splittui.solvers."""
    lam = c.deadline_ms if deadline_ms is None else deadline_ms
    pols = tuple(itertools.product((0, 1), repeat=c.n))
    lats = tuple(spec_latency(c, x) for x in pols)
    best = -math.inf
    for x, lat in zip(pols, lats):
        if meets_spec(lat, lam):
            best = max(best, spec_reward(c, x))
    return Oracle(feasible=best > -math.inf, best_reward=best, min_latency=min(lats), policies=pols,
                  latencies=lats)


def scenario_for(ch: Chain, **over) -> Scenario:
    """A Scenario carrying the chain's unit (solve_costs reads unit_ms and rounding from it)."""
    return Scenario(deadline_ms=max(ch.costs.deadline_ms, 1e-6), unit_ms=ch.unit_ms, **over)


def with_deadline(c: Costs, deadline_ms: float) -> Costs:
    return replace(c, deadline_ms=float(deadline_ms))


def _arr(draw, n: int, elements) -> np.ndarray:
    return np.array(draw(st.lists(elements, min_size=n, max_size=n)), dtype=np.float64)


@st.composite
def chains(draw, *, integer: bool = False, max_layers: int = 10, min_layers: int = 1,
           units=None, deadline: str = "mixed") -> Chain:
    """A random chain. integer=True: every time is a whole multiple of the unit T.

    deadline: "mixed" (around the least latency, sometimes on a unit boundary), "infeasible"
    (below the least latency).
    """
    L = draw(st.integers(min_layers, max_layers))
    if integer:
        T = draw(st.sampled_from(units or UNITS_EXACT))
        ints = lambda hi: st.integers(0, hi).map(lambda k: k * T)  # noqa: E731
        compute, hop, out = ints(40), ints(25), ints(25)
    else:
        T = draw(st.sampled_from(units or UNITS_ANY))
        f = lambda hi: st.floats(0, hi, allow_nan=False, allow_subnormal=False).map(  # noqa: E731
            lambda v: round(v, 4))
        compute, hop, out = f(40.0), f(25.0), f(25.0)
    reward = st.one_of(st.integers(0, 50).map(float), st.floats(0, 1e6, allow_subnormal=False))
    c = Costs(client_ms=_arr(draw, L, compute), server_ms=_arr(draw, L, compute),
              up_ms=_arr(draw, L, hop), down_ms=_arr(draw, L, hop), reward=_arr(draw, L, reward),
              up_out_ms=float(draw(out)), down_out_ms=float(draw(out)),
              start_client=draw(st.booleans()), end_client=draw(st.booleans()), deadline_ms=1.0)
    lats = [spec_latency(c, x) for x in itertools.product((0, 1), repeat=L)]
    lo, hi = min(lats), max(lats)
    if deadline == "infeasible":
        assume(lo > 1e-6)
        lam = lo * draw(st.floats(0.05, 0.999))
    elif integer and draw(st.booleans()):
        lam = T * draw(st.integers(max(1, int(lo / T) - 2), max(1, int(hi / T) + 2)))
    else:
        lam = draw(st.floats(max(lo * 0.9, 0.01), max(hi * 1.05, 0.02)))
    return Chain(costs=with_deadline(c, lam), unit_ms=T)


@st.composite
def profile_docs(draw, *, max_layers: int = 8) -> dict:
    """A random `splittui.profile/1` document with one sequence length."""
    L = draw(st.integers(1, max_layers))
    num = lambda hi: st.floats(0, hi, allow_nan=False, allow_subnormal=False).map(  # noqa: E731
        lambda v: round(v, 3))
    layers = [{"name": f"l{i}", "kind": draw(st.sampled_from(("linear", "attention", "norm"))),
               "flops": [draw(num(1e9))], "client_ms": [draw(num(50.0))], "server_ms": [draw(num(5.0))],
               "in_bytes": [draw(num(2e6))], "mem_bytes": [draw(num(1e8))]} for i in range(L)]
    return {"schema": "splittui.profile/1", "model": "rand", "description": "hypothesis chain",
            "source": {"kind": "synthetic"}, "seq_lens": [draw(st.integers(1, 4096))],
            "output_bytes": [draw(num(1e6))], "layers": layers}
