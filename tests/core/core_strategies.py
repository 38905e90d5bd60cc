"""Hypothesis strategies and independent oracles for the core tests.

`chains()` draws a small random chain as `splittui.costs.Costs` (L <= 10, random start/end sides,
times, transfer costs and rewards); `profile_docs()` draws the same kind of chain as a
`splittui.profile/1` document with one sequence length; `oracle_cases()` draws a document with 1-4
sequence lengths and a scenario dict for the document-level oracle (tests/core/oracle.py). The
oracles re-derive SPEC §3 from its text (plain Python, no splittui code) so that a test compares
the solvers against something independent.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, replace

import numpy as np
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from splittui.costs import Costs
from splittui.model import Scenario

__all__ = ["CORE", "Chain", "chains", "profile_docs", "spec_latency", "spec_reward", "Oracle", "oracle",
           "scenario_for", "meets_spec", "with_deadline", "oracle_cases"]

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
    for i in range(c.n):
        total += float(c.client_ms[i]) if sides[i + 1] == 1 else float(c.server_ms[i])
        if sides[i] == 1 and sides[i + 1] == 0:
            total += float(c.up_ms[i])
        elif sides[i] == 0 and sides[i + 1] == 1:
            total += float(c.down_ms[i])
    if sides[c.n] == 1 and not c.end_client:
        total += float(c.up_out_ms)
    if sides[c.n] == 0 and c.end_client:
        total += float(c.down_out_ms)
    return total


def spec_reward(c: Costs, x) -> float:
    """Client-side reward sum x_l r_l (server load = total - this)."""
    return float(sum(float(r) for r, v in zip(c.reward, x, strict=False) if v))


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
    for x, lat in zip(pols, lats, strict=False):
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
    """A random `splittui.profile/1` document with one sequence length; `oracle_cases()` draws a document with 1-4
sequence lengths and a scenario dict for the document-level oracle (tests/core/oracle.py)."""
    L = draw(st.integers(1, max_layers))
    num = lambda hi: st.floats(0, hi, allow_nan=False, allow_subnormal=False).map(  # noqa: E731
        lambda v: round(v, 3))
    layers = [{"name": f"l{i}", "kind": draw(st.sampled_from(("linear", "attention", "norm"))),
               "flops": [draw(num(1e9))], "client_ms": [draw(num(50.0))], "server_ms": [draw(num(5.0))],
               "in_bytes": [draw(num(2e6))], "mem_bytes": [draw(num(1e8))]} for i in range(L)]
    return {"schema": "splittui.profile/1", "model": "rand", "description": "hypothesis chain",
            "source": {"kind": "synthetic"}, "seq_lens": [draw(st.integers(1, 4096))],
            "output_bytes": [draw(num(1e6))], "layers": layers}


_ORACLE_FIELDS = ("flops", "client_ms", "server_ms", "in_bytes", "mem_bytes")


def _column(rng: random.Random, lens: list[int], hi: float) -> list[float]:
    """Samples of one cost: zero, constant, a monotone quadratic in s, or arbitrary (non-monotone)."""
    kind = rng.random()
    if kind < 0.1:
        return [0.0] * len(lens)
    if kind < 0.2:
        return [round(rng.uniform(0, hi), 3)] * len(lens)
    if kind < 0.5:
        a, b, c = (rng.uniform(0, hi) for _ in range(3))
        top = lens[-1]
        return [round(a + b * s / top + c * (s / top) ** 2, 3) for s in lens]
    return [0.0 if rng.random() < 0.1 else round(rng.uniform(0, hi), 3) for _ in lens]


@st.composite
def oracle_cases(draw, *, max_layers: int = 6) -> tuple[dict, dict]:
    """(profile document, scenario dict) with the deadline still to be set.

    The structure comes from hypothesis; the cost samples from a seeded Random (drawing ~100 floats
    one by one through hypothesis would cost most of the suite's time budget).
    """
    lens = sorted(draw(st.lists(st.integers(1, 4096), min_size=1, max_size=4, unique=True)))
    L = draw(st.integers(1, max_layers))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    scale = {"flops": 1e9, "client_ms": 60.0, "server_ms": 8.0, "in_bytes": 4e6, "mem_bytes": 1e8}
    with_mem = draw(st.booleans())
    fields = _ORACLE_FIELDS if with_mem else _ORACLE_FIELDS[:-1]
    layers = [{"name": f"l{i}", "kind": "linear", **{f: _column(rng, lens, scale[f]) for f in fields}}
              for i in range(L)]
    doc = {"schema": "splittui.profile/1", "model": "oracle", "seq_lens": lens,
           "output_bytes": _column(rng, lens, 4e6), "layers": layers}
    up = draw(st.floats(0.5, 1000.0))
    sc = {"up_mbps": up, "down_mbps": draw(st.one_of(st.just(up), st.floats(0.5, 1000.0))),
          "delay_ms": draw(st.one_of(st.just(0.0), st.floats(0.0, 30.0))),
          "seq_len": draw(st.one_of(st.sampled_from(lens), st.integers(lens[0], lens[-1]))),
          "start": draw(st.sampled_from(("client", "server"))), "end": draw(st.sampled_from(("client", "server"))),
          "objective": draw(st.sampled_from(("flops", "server_ms", "mem_bytes") if with_mem
                                            else ("flops", "server_ms"))),
          "deadline_ms": 1.0}
    return doc, sc
