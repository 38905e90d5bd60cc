"""The app over a chain of tiers (SPEC §11, issue 28): what the solve worker computes when the app was opened
with ``--tier``/``--hop``, ``--topology`` or a policy file with a ``tiers`` section, three or four tiers.

One scenario (the knobs' `Scenario` plus the topology's hops) gives one `TierPhases`, built once and passed
to every tier solver (dp, exact, no-split, all-client) and kept in the state for every view: a request that
moves neither the scenario nor the topology reuses it. The tiers' profiles come from the pickers' choice
(the model, its dtype and runtime) with each tier's device, as `splittui solve --tier` builds them: profile
k times tier 0's device as client and tier k's as server (tier 0: tier 1's), and equal requests share one
object. Pure: no textual here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from ..errors import SplittuiError
from ..model import Profile, Scenario
from ..solvers.tiers import TierResult, evaluate_tiers, solve_tiers_phases, tier_section, two_sided
from ..tiers import TierPhases, Topology, tier_min_latency, tier_phases, topology_of
from .profile_choice import MEASURED, ProfileChoice, fit_scenario, load_choice

__all__ = ["TIER_SOLVERS", "TWO_SIDES_ONLY", "TierView", "tier_profiles", "compute_tiers", "topology_of",
           "TIER_NOTE", "tier_section"]

TIER_SOLVERS = ("dp", "exact", "no-split", "all-client")   # the rows of the tier app, in this order
TWO_SIDES_ONLY = ("greedy", "single-split")                # the two-tier app's other rows: no tier version
TIER_NOTE = "has no meaning over a chain of tiers (two sides only); the Placement tab shows the tiers"


@dataclass(frozen=True, slots=True, eq=False)
class TierView:
    """One scenario over one topology: its tier costs (built once) and each tier solver's result."""

    topology: Topology
    profiles: tuple[Profile, ...]
    phases: TierPhases
    results: Mapping[str, TierResult]
    key: tuple[Any, ...]          # (profile ids, scenario, topology): what `phases` was built from
    loaded: TierResult | None = None
    loaded_label: str = ""

    @property
    def scenario(self) -> Scenario:
        """The scenario (fitted to the profiles) the tier costs were built for."""
        sc: Scenario = self.key[1]
        return sc

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.topology.tiers]

    def rows(self) -> list[tuple[str, TierResult]]:
        rows = list(self.results.items())
        if self.loaded is not None:
            rows.append((self.loaded_label or "loaded", self.loaded))
        return rows


def tier_profiles(choice: ProfileChoice, topo: Topology, loaded: dict[str, Profile]) -> tuple[Profile, ...]:
    """Profile k: the choice's model timed with tier 0's device as client and tier k's as server (tier 0:
    tier 1's), at the tier's runtime (else the choice's); a tier without a device keeps the profile's own."""
    first = topo.tiers[0]
    out = []
    for k, tier in enumerate(topo.tiers):
        server = topo.tiers[1] if k == 0 else tier
        pick = ProfileChoice(choice.model, first.device or MEASURED, server.device or MEASURED, choice.dtype,
                             tier.runtime or choice.runtime)
        out.append(load_choice(pick, loaded))
    return tuple(out)


def compute_tiers(choice: ProfileChoice, loaded: dict[str, Profile], sc: Scenario, topo: Topology,
                  previous: Any = None, loaded_policy: tuple[str, tuple[int, ...]] | None = None,
                  cancelled: Callable[[], bool] = lambda: False
                  ) -> tuple[Profile, Scenario, TierView | None, str, str | None]:
    """(profile, fitted scenario, view, note, error) of one request: the tier costs of `previous` (a
    TierView) when it was built from the same profiles, scenario and topology, else built once here; then
    every tier solver on them, stopping between solvers once `cancelled()` (a newer request: the caller
    drops this answer). Never raises SplittuiError: it becomes the error."""
    try:
        profiles = tier_profiles(choice, topo, loaded)
        fitted, note = fit_scenario(profiles[-1], sc)
        if fitted.objective == "client_energy" or fitted.client_energy_j is not None:
            raise SplittuiError("objective client_energy: the energy model covers a client and one server "
                                "(docs/energy.md), not a chain of tiers")
        fitted = fitted.replace(up_mbps=topo.hops[0].up_mbps, down_mbps=topo.hops[0].down_mbps,
                                delay_ms=topo.hops[0].delay_ms, start="client", end="client",
                                client_mem_gb=None, server_mem_gb=None, pin_client=(), pin_server=())
        key = (tuple(id(p) for p in profiles), fitted, topo)
        if previous is not None and previous.key == key:
            ph = previous.phases   # one scenario, one costs object
        else:
            ph = tier_phases(profiles, fitted, topo)
        names = [t.name for t in topo.tiers]
        m = tier_min_latency(ph.composite())
        results = {}
        for s in TIER_SOLVERS:
            if cancelled():
                break
            results[s] = solve_tiers_phases(ph, fitted, s, names=names, min_lat=m)
        view = TierView(topology=topo, profiles=profiles, phases=ph, results=MappingProxyType(results), key=key)
        if loaded_policy is not None and len(loaded_policy[1]) == profiles[-1].n_layers:
            t0 = time.perf_counter()
            got = evaluate_tiers(ph, loaded_policy[1], fitted, solver=loaded_policy[0], names=names, min_lat=m,
                                 solve_ms=0.0)
            got = replace(got, solve_ms=(time.perf_counter() - t0) * 1e3)
            view = replace(view, loaded=got, loaded_label=loaded_policy[0])
    except SplittuiError as exc:
        return (next(iter(loaded.values())), sc, None, "", str(exc))
    return profiles[-1], fitted, view, note, None


def tier_documents(view: TierView, sc: Scenario) -> dict[str, dict[str, Any]]:
    """Each tier solver's placement as a splittui.policy document with its ``tiers`` section."""
    from ..policy import policy_document

    profile = view.profiles[-1]
    return {name: policy_document(profile, sc, two_sided(r), tiers=tier_section(view.topology, profile, r))
            for name, r in view.results.items() if r.tiers is not None}


def tier_start(policy: Mapping[str, Any] | None, topology: Topology | None
               ) -> tuple[Topology | None, tuple[str, tuple[int, ...]] | None]:
    """What the app opens on: `topology`, else a policy document's `tiers` section, when it has three or
    four tiers (two: the two-sided app); and the document's tier placement to score as its row 'file:…'."""
    sec = policy.get("tiers") if policy is not None else None
    if topology is None and isinstance(sec, Mapping):
        topology = topology_of(sec)
    if topology is None or topology.k < 3:
        return None, None
    placement = sec.get("policy") if isinstance(sec, Mapping) else None
    if policy is None or not isinstance(placement, list):
        return topology, None
    return topology, (f"file:{policy.get('solver', 'policy')}", tuple(int(t) - 1 for t in placement))


__all__ += ["two_sided", "tier_documents", "tier_start"]
