"""The constrained search's inputs (`constrained`, SPEC §10): its cases and its latency chains.

A case is one additive problem: pins (a tied embedding/LM-head matrix's sides enumerated, `_cases`; a binding
client limit's activation peak made a cap per case, `_act_caps`), the bytes each layer holds and the budgets
left after the runtime reserve. A chain is one latency row's per-layer costs (the request's, or prefill and
decode apart under TTFT/TPOT limits). `memory_binds` says whether a limit can change any answer; `fits` checks
a policy against the limits as SPEC §10 states them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ..costs import Costs
from ..memory import MemRows

_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Case:
    pin: NDArray[np.int8]         # −1 free, 1 client, 0 server
    held: _F                      # bytes per layer (the tied matrix already counted as this case needs)
    act: _F
    budget: tuple[float, float]   # client, server: limit − reserve (inf: not limited)


def _cases(c: Costs) -> list[_Case]:
    """One case, or one per side pair of a tied embedding and head (SPEC §10: handled exactly)."""
    n = c.n
    pin = c.pin if c.pin is not None else np.full(n, -1, dtype=np.int8)
    m = c.mem
    if m is None or not m.active:
        z = np.zeros(n)
        return [_Case(pin, z, z, (math.inf, math.inf))]
    held = m.held
    bc, bs = m.budget
    budget = (bc + 1e-12 * (m.limit[0] or 0.0), bs + 1e-12 * (m.limit[1] or 0.0))   # the tolerance of `fits`
    if m.tied is None:
        return [_Case(pin, held, m.act, budget)]
    e, h, shared = m.tied
    out = []
    for se, sh in itertools.product((1, 0), repeat=2):
        if (pin[e] >= 0 and pin[e] != se) or (pin[h] >= 0 and pin[h] != sh):
            continue
        p = pin.copy()
        p[e], p[h] = se, sh
        hd = held.copy()
        if se == sh:
            hd[h] -= shared
        out.append(_Case(p, hd, m.act, budget))
    return out


def _act_caps(case: _Case) -> list[_Case]:
    """A case whose client limit binds, as one case per cap on the client's activation peak (largest first):
    layers above the cap go to the server, the cap leaves the budget, and the peak row goes. Exact: a policy
    whose peak is p fits iff its held bytes fit budget − p, so it is feasible in the case of cap p, and every
    case's policies fit. Kept whole where a server limit binds too (the server's peak stays a row)."""
    bc, bs = case.budget
    whole = float(case.held.sum()) + float(case.act.max(initial=0.0))
    if not math.isfinite(bc) or whole <= bc or (math.isfinite(bs) and whole > bs):
        return [case]
    least = float(case.act[case.pin == 1].max(initial=0.0))
    # `least` too: with no layer pinned to the client it is 0, the peak of a policy with no client layer
    caps = sorted({least} | {float(a) for a in case.act[case.pin != 0] if a >= least}, reverse=True)
    zero = np.zeros_like(case.act)
    out = []
    for a in caps:
        pin = case.pin.copy()
        pin[(case.act > a) & (pin < 0)] = 0
        out.append(_Case(pin, case.held, zero, (bc - a, bs)))
    return out


@dataclass(frozen=True, slots=True)
class _Chain:
    """One latency row's per-layer costs (ms, or integer units for the DP)."""

    client: _F
    server: _F
    up: _F
    down: _F
    up_out: float
    down_out: float
    start_client: bool
    end_client: bool

    @staticmethod
    def of(c: Costs) -> "_Chain":
        return _Chain(c.client_ms, c.server_ms, c.up_ms, c.down_ms, float(c.up_out_ms), float(c.down_out_ms),
                      c.start_client, c.end_client)

    def tail(self, side: int) -> float:
        if side == 1:
            return 0.0 if self.end_client else self.up_out
        return self.down_out if self.end_client else 0.0

    def costs(self) -> Costs:
        return Costs(self.client, self.server, self.up, self.down, np.zeros(len(self.client)), self.up_out,
                     self.down_out, self.start_client, self.end_client, math.inf)


def _sum_chain(chains: list[_Chain]) -> _Chain:
    a = chains[0]
    for b in chains[1:]:
        a = replace(a, client=a.client + b.client, server=a.server + b.server, up=a.up + b.up, down=a.down + b.down,
                    up_out=a.up_out + b.up_out, down_out=a.down_out + b.down_out)
    return a


def memory_binds(c: Costs) -> bool:
    """Whether some memory limit can bind: every layer on one side (a tied matrix counted twice, the largest
    activation added) would exceed that side's budget. Where none can, the limits change no answer and the
    pass runs on pins alone: one case, no byte rows, no Lagrangian bounds (the same optimum, much sooner)."""
    m = c.mem
    if m is None or not m.active:
        return False
    whole = float(m.held.sum()) + float(m.act.max(initial=0.0))
    return any(math.isfinite(b) and whole > b for b in m.budget)


def fits(m: MemRows, x: NDArray[np.int8]) -> bool:
    need = m.need(x)
    for k in (0, 1):
        lim = m.limit[k]
        if lim is not None and need[k] + m.reserve[k] > lim * (1 + 1e-12):
            return False
    return True


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit)) if math.isfinite(limit) else math.inf
