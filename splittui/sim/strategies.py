"""Placements of each client class for the capacity comparison (docs/capacity.md), and the comparison.

(a) ``all-server``: every layer on the server. (b) ``greedy``: the paper's greedy on the request's
composite chain, deadline ``TTFT target + (N − 1) · TPOT target``. (c) ``exact``: per class, the least
server FLOPs under the per-request limits TTFT ≤ target, TPOT ≤ target (SPEC §8's exact solver).
(d) ``joint``: candidates that move each class's cut to a *canonical* point (a block boundary, so its
server range is a whole number of blocks) — the one nearest its exact cut, and up to six cuts shared by
every class (their server ranges then coincide and batch together), spread over the canonical cuts every
class meets unloaded — each meeting the per-request limits; the candidate (with (a) and (c)) of the
largest capacity wins. A class whose per-request
limits no policy meets falls back to (a), with a note.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..devices import Device
from ..generation import phase_costs, request_costs, request_times
from ..model import Profile, Scenario, decode_steps
from ..solvers import solve_request
from ..solvers.baselines import greedy_policy
from .capacity import CapacityRun, poisson_workload, simulate_server
from .search import Capacity, SearchOptions, Target, capacity_search
from .server import ClientClass, client_class, server_model

__all__ = ["STRATEGIES", "LABELS", "ClassSpec", "StrategyResult", "canonical_cuts", "class_policy", "compare"]

STRATEGIES = ("all-server", "greedy", "exact", "joint")
SHARED_CUTS = 6      # (d): shared canonical cuts tried, spread over those every class meets
LABELS = {"all-server": "(a) all on server", "greedy": "(b) paper's greedy",
          "exact": "(c) exact per class", "joint": "(d) joint, canonical cuts"}
_BLOCK = re.compile(r"^(h|layers?\.|blocks?\.)?\d+\.(ln1|ln_1|input_layernorm|attn_norm)$")


@dataclass(frozen=True, slots=True, eq=False)
class ClassSpec:
    """A client class: name, share of arrivals, its profile (timed on its device) and scenario (its link)."""

    name: str
    weight: float
    profile: Profile
    scenario: Scenario


@dataclass(frozen=True, slots=True, eq=False)
class StrategyResult:
    strategy: str
    policies: tuple[tuple[int, ...], ...]     # per class
    capacity: Capacity
    unloaded: tuple[tuple[float, float], ...]   # per class (TTFT, TPOT) ms, alone on the server
    notes: tuple[str, ...] = ()
    run: CapacityRun | None = None     # a run at the capacity (first seed): utilisation, memory over time

    @property
    def label(self) -> str:
        return LABELS[self.strategy]

    def client_layers(self) -> tuple[int, ...]:
        return tuple(sum(p) for p in self.policies)


def _limits(targets: tuple[Target, ...]) -> tuple[float | None, float | None]:
    ttft = [t.ms for t in targets if t.metric == "ttft"]
    tpot = [t.ms for t in targets if t.metric == "tpot"]
    return (min(ttft) if ttft else None), (min(tpot) if tpot else None)


def _limited(spec: ClassSpec, targets: tuple[Target, ...]) -> Scenario:
    """The class's scenario with the targets as per-request limits and the deadline they imply."""
    sc = spec.scenario
    ttft, tpot = _limits(targets)
    e2e = [t.ms for t in targets if t.metric == "e2e"]
    parts = [ttft + decode_steps(sc.gen_tokens) * tpot] if ttft is not None and tpot is not None else []
    deadline = min([*parts, *e2e], default=sc.deadline_ms)
    return sc.replace(deadline_ms=deadline, ttft_ms=ttft, tpot_ms=tpot if sc.gen_tokens > 1 else None)


def class_policy(spec: ClassSpec, strategy: str, targets: tuple[Target, ...]) -> tuple[tuple[int, ...], str | None]:
    """(policy, note) of one class under (a), (b) or (c)."""
    n = spec.profile.n_layers
    zeros = (0,) * n
    if strategy == "all-server":
        return zeros, None
    sc = _limited(spec, targets)
    if strategy == "greedy":
        pol = greedy_policy(request_costs(spec.profile, sc.replace(ttft_ms=None, tpot_ms=None)))
    else:
        pol = solve_request(phase_costs(spec.profile, sc), sc, "exact").policy
    if pol is None:
        return zeros, f"{spec.name}: {LABELS[strategy]} finds no policy meeting the per-request limits; all on server"
    return tuple(int(v) for v in pol), None


def canonical_cuts(profile: Profile) -> list[int]:
    """Prefix lengths k (the client runs layers 0..k−1) that end at a block boundary, 0 included."""
    return [0, *(i for i, layer in enumerate(profile.layers) if _BLOCK.match(layer.name))]


def _feasible_cuts(spec: ClassSpec, targets: tuple[Target, ...]) -> list[int]:
    sc = _limited(spec, targets)
    ph = phase_costs(spec.profile, sc)
    n, out = spec.profile.n_layers, []
    for k in canonical_cuts(spec.profile):
        t = request_times(ph, np.array([1] * k + [0] * (n - k), dtype=np.int8))
        ttft_ok = sc.ttft_ms is None or t.ttft_ms <= sc.ttft_ms
        tpot_ok = sc.tpot_ms is None or (t.tpot_ms or 0.0) <= sc.tpot_ms
        if ttft_ok and tpot_ok and t.latency_ms <= sc.deadline_ms:
            out.append(k)
    return out


def _prefix(n: int, k: int) -> tuple[int, ...]:
    return (1,) * k + (0,) * (n - k)


def joint_candidates(specs: list[ClassSpec], targets: tuple[Target, ...],
                     exact: tuple[tuple[int, ...], ...]) -> list[tuple[tuple[int, ...], ...]]:
    """Placements for (d) beyond (a) and (c): each class at the feasible canonical cut nearest its exact
    cut, and up to SHARED_CUTS canonical cuts every class meets, shared by all (one server range), spread
    from the largest down."""
    cuts = [_feasible_cuts(s, targets) for s in specs]
    out: list[tuple[tuple[int, ...], ...]] = []
    if all(cuts):
        near = tuple(_prefix(s.profile.n_layers, min(c, key=lambda k: (abs(k - sum(x)), -k)))
                     for s, c, x in zip(specs, cuts, exact))
        out.append(near)
        common = sorted(set.intersection(*(set(c) for c in cuts)) - {0})
        # shared cuts spread over the feasible range: the largest spends the most slack on the client,
        # smaller ones leave headroom for queueing and batching
        pick = sorted({common[int(i)] for i in np.linspace(0, len(common) - 1, min(SHARED_CUTS, len(common)))})
        out += [tuple(_prefix(s.profile.n_layers, k) for s in specs) for k in reversed(pick)]
    return out


def _classes(specs: list[ClassSpec], policies: tuple[tuple[int, ...], ...]) -> list[ClientClass]:
    return [client_class(s.profile, s.scenario, p, name=s.name, weight=s.weight) for s, p in zip(specs, policies)]


def compare(specs: list[ClassSpec], device: Device, targets: tuple[Target, ...], opt: SearchOptions, *,
            strategies: tuple[str, ...] = STRATEGIES, mem_gb: float | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> dict[str, StrategyResult]:
    """The capacity of each strategy; placements searched once each (memoised by placement)."""
    done: dict[tuple[tuple[int, ...], ...], tuple[Capacity, CapacityRun | None]] = {}

    def search(name: str, policies: tuple[tuple[int, ...], ...]) -> tuple[Capacity, CapacityRun | None]:
        if policies not in done:
            classes = _classes(specs, policies)
            server = server_model(specs[0].profile, specs[0].scenario, device, classes, mem_gb=mem_gb)
            cb = None if progress is None else (lambda i, n: progress(name, i, n))
            cap = _headroom(capacity_search(classes, server, targets, opt, progress=cb), classes, targets)
            at = None if not 0 < cap.rate_per_s < math.inf else simulate_server(
                poisson_workload(cap.rate_per_s, opt.requests, classes, seed=opt.seeds[0]), classes, server, opt.sim)
            done[policies] = cap, at
        return done[policies]

    coarse_opt = replace(opt, requests=max(opt.requests // 3, 200), rel_tol=max(opt.rel_tol, 0.1))
    coarse: dict[tuple[tuple[int, ...], ...], float] = {}

    def rough(name: str, policies: tuple[tuple[int, ...], ...]) -> float:
        """A candidate's capacity: the full search's where done, else a coarse one (a third of the
        requests, tolerance 0.1) to rank the candidates before the winner's full search."""
        if policies in done:
            return done[policies][0].rate_per_s
        if policies not in coarse:
            classes = _classes(specs, policies)
            server = server_model(specs[0].profile, specs[0].scenario, device, classes, mem_gb=mem_gb)
            cb = None if progress is None else (lambda i, n: progress(name, i, n))
            coarse[policies] = capacity_search(classes, server, targets, coarse_opt, progress=cb).rate_per_s
        return coarse[policies]

    plans: dict[str, tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]] = {}
    for s in ("all-server", "greedy", "exact"):
        if s in strategies or (s != "greedy" and "joint" in strategies):
            got = [class_policy(c, s, targets) for c in specs]
            plans[s] = tuple(p for p, _ in got), tuple(n for _, n in got if n)
    out: dict[str, StrategyResult] = {}
    for s in strategies:
        if s == "joint":
            continue
        pols, notes = plans[s]
        cap, at = search(LABELS[s], pols)
        out[s] = StrategyResult(s, pols, cap, _unloaded(specs, pols), notes, at)
    if "joint" in strategies:
        cands = [plans["exact"][0], *joint_candidates(specs, targets, plans["exact"][0]), plans["all-server"][0]]
        unique = list(dict.fromkeys(cands))
        top = sorted(unique, key=lambda p: rough(LABELS["joint"], p), reverse=True)[:2]
        finals = [p for p in unique if p in top or p in done]     # full searches: the two best and (a), (c)
        best = max(finals, key=lambda p: search(LABELS["joint"], p)[0].rate_per_s)
        cap, at = search(LABELS["joint"], best)
        out["joint"] = StrategyResult("joint", best, cap, _unloaded(specs, best),
                                      (f"chosen from {len(unique)} candidate placements (ranked by a coarse search, "
                                       f"the best {len(finals)} searched in full)",), at)
    return out


def _headroom(cap: Capacity, classes: list[ClientClass], targets: tuple[Target, ...]) -> Capacity:
    """Name the resource 'no headroom' where the binding TTFT/TPOT target is >= 95 % spent by a request
    alone: no server resource saturates then; the placement leaves no slack for sharing."""
    alone = {"ttft": max(c.latency_ms()[0] for c in classes), "tpot": max(c.latency_ms()[1] for c in classes)}
    for t in targets:
        if t.label == cap.binding and t.metric in alone and alone[t.metric] >= 0.95 * t.ms:
            return replace(cap, resource=f"no headroom: one request alone spends {alone[t.metric] / t.ms:.0%} "
                                         f"of the {t.metric.upper()} target")
    return cap


def _unloaded(specs: list[ClassSpec], policies: tuple[tuple[int, ...], ...]) -> tuple[tuple[float, float], ...]:
    out = []
    for s, p in zip(specs, policies):
        t = request_times(phase_costs(s.profile, s.scenario), np.array(p, dtype=np.int8))
        out.append((t.ttft_ms, t.tpot_ms or 0.0))
    return tuple(out)
