"""The solvers' answers a state holds: the app solvers in order (the DP skipped where its table would be too
large, with a note that says so; exact reused from a scenario before where that serves), the same solvers
without the pins (the cost of privacy), the exact answers kept for reuse, and each placement's memory per side.

`state.complete_state` calls these; they read the request's chains (reuse.py) and never import state.py.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..memory import SideMemory, side_memory
from ..model import Profile, Result, Scenario
from ..solvers import APP_SOLVERS
from ..solvers.dp_span import DPSpan
from .reuse import EXACT_KEPT, Chains, chains, reused_exact

__all__ = ["MAX_DP_CELLS", "dp_skipped", "fitting_unit_ms"]

MAX_DP_CELLS = 100_000_000    # above this (~0.5 s, ~30 MB of bits) the app skips the DP and says so


def dp_skipped(profile: Profile, sc: Scenario) -> bool:
    """Whether the app skips the DP for `sc`: its table would pass MAX_DP_CELLS (L × deadline/T cells)."""
    return profile.n_layers * sc.deadline_ms / sc.unit_ms > MAX_DP_CELLS


def fitting_unit_ms(n_layers: int, deadline_ms: float) -> float:
    """The least T (two significant digits, rounded up) at which the DP fits in MAX_DP_CELLS."""
    need = n_layers * deadline_ms / MAX_DP_CELLS
    scale = 10.0 ** (math.floor(math.log10(need)) - 1)
    return math.ceil(need / scale - 1e-9) * scale


def _unpinned(profile: Profile, sc: Scenario, have: tuple[Scenario, Mapping[str, Result]] | None,
              names: frozenset[str], solve: bool = True) -> tuple[Scenario, Mapping[str, Result]] | None:
    """The named solvers on `sc` without its pins (memory limits kept): `have`'s answers where it is that
    scenario, the rest solved on its own chains (`solve`; else only what `have` holds). None without pins."""
    if not sc.has_pins:
        return None
    free = sc.replace(pin_client=(), pin_server=())
    got = have[1] if have is not None and have[0] == free else MappingProxyType({})
    if solve and names - set(got):
        got, _ = _results(profile, free, got, names, None, chains(profile, free))
    return free, got


def _memory(ch: Chains, sc: Scenario, results: Mapping[str, Result]
            ) -> Mapping[str, tuple[SideMemory, SideMemory]]:
    """Each placement's memory per side, under memory limits (empty without them, or without the fields)."""
    rows = ch.phases.memory
    if not sc.has_memory_limits or rows is None:
        return MappingProxyType({})
    return MappingProxyType({name: side_memory(rows, np.asarray(r.policy, dtype=np.int8))
                             for name, r in results.items() if r.policy is not None})


def _solved(kept: tuple[tuple[Scenario, Result], ...], sc: Scenario, results: Mapping[str, Result]
            ) -> tuple[tuple[Scenario, Result], ...]:
    """The exact answers kept for reuse: this scenario's first, then up to EXACT_KEPT - 1 before it."""
    res = results.get("exact")
    if res is None or (kept and kept[0][0] == sc):
        return kept
    return ((sc, res), *[(was, r) for was, r in kept if was != sc][: EXACT_KEPT - 1])


def _results(profile: Profile, sc: Scenario, have: Mapping[str, Result], names: frozenset[str],
             span: DPSpan | None, ch: Chains, solved: tuple[tuple[Scenario, Result], ...] = ()
             ) -> tuple[Mapping[str, Result], str]:
    """`have` plus the named solvers' results in APP_SOLVERS order, and a note if the DP was skipped;
    exact joins whenever DP finds nothing (the banner tells infeasible from DP's rounding with it). The
    exact answer is read from `solved` where `reused_exact` serves."""
    from ..solvers import solve_all

    def solve(names: list[str]) -> dict[str, Result]:
        out = {}
        if "exact" in names and (reused := reused_exact(solved, sc, ch)) is not None:
            out["exact"] = reused
            names = [s for s in names if s != "exact"]
        if names:
            out.update(solve_all(profile, sc, tuple(names), span=span, phases=ch.phases, min_lat=ch.min_lat))
        return out

    note = ""
    todo = [s for s in APP_SOLVERS if s in names and s not in have]
    if "dp" in todo and dp_skipped(profile, sc):
        cells = profile.n_layers * sc.deadline_ms / sc.unit_ms
        note = (f"DP skipped ({cells:.1g} cells = L × deadline/T): raise T to ≥ "
                f"{fitting_unit_ms(profile.n_layers, sc.deadline_ms):g} ms or lower the deadline")
        todo.remove("dp")
    found = {**have, **solve(todo)}
    dp = found.get("dp")
    if "exact" not in found and (dp is None or not dp.feasible):
        found.update(solve(["exact"]))
    return MappingProxyType({s: found[s] for s in APP_SOLVERS if s in found}), note
