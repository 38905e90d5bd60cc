"""The three-way trade of issue 29: server work, request latency and the client's energy, for one scenario.

Every point is an exact answer: at deadlines spaced geometrically from the least latency up to the
scenario's, the least server work and the least client energy (the latency axis); at the scenario's
deadline, the least server share whose client joules stay within a cap, for caps spaced from the least
energy any policy meeting the scenario reaches up to what the least-server-work policy spends (the energy
axis). Each answer is then polished: the least server share at its own latency and joules, ties broken by
latency then joules (the energy route of solvers/energy.py keys flops that way), so no policy at all is at
most as large in all three and smaller in one: every point is Pareto-optimal in server share × latency ×
client J, not only among the points (tests/core/test_energy.py checks it against 2^L policies). `pareto`
marks the points none of the others beats (all of them, up to float noise). Joules are estimates
(docs/energy.md). Pure Python + numpy; no UI import.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .generation import Phases
from .model import Result, Scenario

__all__ = ["EnergyPoint", "energy_points"]

_TINY_J = 1e-300   # a joule cap must be > 0: a policy spending 0 J is polished under this one (slack 1e-9 J)


@dataclass(frozen=True, slots=True)
class EnergyPoint:
    cap_j: float | None          # the client-joule cap it was solved under (None: no cap)
    server_share: float
    latency_ms: float
    client_j: float
    policy: tuple[int, ...]
    pareto: bool = False         # no other point is at most as large in all three and smaller in one


def _point(res: Result, cap: float | None) -> EnergyPoint | None:
    if not res.feasible or res.policy is None or res.server_share is None or res.latency_ms is None \
            or res.client_energy_j is None:
        return None
    return EnergyPoint(cap, res.server_share, res.latency_ms, res.client_energy_j, res.policy)


def energy_points(ph: Phases, sc: Scenario, *, caps: int = 8,
                  progress: Callable[[int, int], None] | None = None) -> list[EnergyPoint]:
    """The points (ascending client J, one per policy), Pareto-optimal ones marked; [] when no policy meets
    the scenario or the profile has no energy model. Two families of exact answers: at `caps` deadlines from
    the least latency up to the scenario's, the least server work and the least client energy (the latency
    axis); at the scenario's deadline, the least server work under `caps` caps on the client's joules (the
    energy axis)."""
    from .solvers import solve_request
    from .solvers.goal import scenario_at, solve_request_at

    total = 3 + 5 * caps   # least J, the least-work polish, per deadline step and per cap, with the polishes
    step = [0]

    def solved(s: Scenario, cap: float | None = None) -> EnergyPoint | None:
        step[0] += 1
        if progress is not None:
            progress(step[0], total)
        if s.deadline_ms != sc.deadline_ms:   # the phases carry the deadline: solve at this one
            return _point(solve_request_at(ph, s, "exact", s.deadline_ms), cap)
        return _point(solve_request(ph, s, "exact"), cap)

    def polished(p: EnergyPoint | None) -> EnergyPoint | None:
        """The least server share within p's latency and joules (then the least latency, then joules)."""
        if p is None:
            return None
        at = scenario_at(base, p.latency_ms).replace(objective="flops", client_energy_j=max(p.client_j, _TINY_J))
        q = solved(at, p.cap_j)
        return p if q is None else q

    base = sc.replace(client_energy_j=None)
    least_j = polished(solved(base.replace(objective="client_energy")))
    work_res = solve_request(ph, base.replace(objective="flops"), "exact")
    least_work = polished(_point(work_res, None))
    pts = [p for p in (least_j, least_work) if p is not None]
    if least_j is None or least_work is None:
        return _marked(pts)
    lo_t, hi_t = work_res.min_latency_ms, max(least_j.latency_ms, least_work.latency_ms)
    for k in range(caps):
        if not (math.isfinite(lo_t) and hi_t > lo_t > 0):
            break
        d = lo_t * (hi_t / lo_t) ** (k / max(1, caps - 1)) * (1 + 1e-9)
        at = scenario_at(base, d)
        pts += [p for p in (polished(solved(at.replace(objective="flops"))),
                            polished(solved(at.replace(objective="client_energy")))) if p is not None]
    lo, hi = least_j.client_j, least_work.client_j
    if hi > lo * (1 + 1e-9):
        for k in range(caps):
            cap = lo * (hi / lo) ** ((k + 1) / (caps + 1)) if lo > 0 else hi * (k + 1) / (caps + 1)
            p = solved(base.replace(objective="flops", client_energy_j=cap), cap)
            if p is not None:
                pts.append(p)
    return _marked(pts)


def _marked(pts: list[EnergyPoint]) -> list[EnergyPoint]:
    seen: dict[tuple[int, ...], EnergyPoint] = {}
    for p in sorted(pts, key=lambda q: (q.client_j, q.server_share, q.latency_ms)):
        seen.setdefault(p.policy, p)
    uniq = list(seen.values())
    return [EnergyPoint(p.cap_j, p.server_share, p.latency_ms, p.client_j, p.policy, _undominated(p, uniq))
            for p in uniq]


def _undominated(p: EnergyPoint, pts: list[EnergyPoint]) -> bool:
    """No other point is at most p in all three and below it in one, beyond float noise: shares (in [0, 1])
    within 1e-14 (a share 1e-12 smaller is real when layer rewards span many decades), latency and joules
    within 1e-12 relative."""
    keys_p = (p.server_share, p.latency_ms, p.client_j)
    tol = (1e-14, 1e-12 * max(1.0, abs(p.latency_ms)), 1e-12 * max(1.0, abs(p.client_j)))
    for q in pts:
        keys_q = (q.server_share, q.latency_ms, q.client_j)
        if q is not p and all(a <= b + t for a, b, t in zip(keys_q, keys_p, tol)) \
                and any(a < b - t for a, b, t in zip(keys_q, keys_p, tol)):
            return False
    return not math.isnan(p.client_j)
