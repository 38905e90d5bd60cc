"""The sweep over a chain of tiers (SPEC §11, issue 28): every tier solver over sequence lengths × one hop's
bandwidth × deadlines, and per cell each solver's share of the work on each tier, latency, TTFT/TPOT and
whether it meets every constraint.

Grid: the lengths of ``cfg.seq_lens`` (or the profile's own, as `sweep.sweep_seq_lens`); the bandwidths of
``cfg.bandwidths`` on hop ``hop`` (0-based; up = down = B, the hop's delay kept; ``hop=None``: the hops as
given, one column); per (length, bandwidth) pair the deadlines ``cfg.deadlines`` if given, else the two-tier
sweep's halving series with ``D_0`` = the latency of every layer on the first tier (or the least latency, if
larger), halved while at least the least latency at the fastest bandwidth.

Costs: one `tier_phases` per pair, shared by every solver and deadline (a deadline only sets the prefill
chain's ``deadline_ms``). exact reads every deadline off one front (`tier_front_limits`: with TTFT/TPOT
limits, the front of the policies that meet them), dp off one label pass at the loosest deadline in whole
time units (`tier_dp_front`; T as the two-tier sweep's, `sweep.dp_unit`); the answers are those of
`tier_exact_limits`/`tier_dp` at each deadline. A tier memory limit that can bind makes dp and exact solve
per cell (`solve_tiers_phases`). no-split and all-client are scored per cell. Time per pair: one dp pass
and one exact pass (each O(L·K²·m log m), m labels per state) plus an O(L·K) score per cell and solver.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import SplittuiError
from .model import Profile, Scenario
from .solvers.dp import budget_units
from .solvers.tiers import TierResult, evaluate_tiers, solve_tiers_phases, tier_dp_front, tier_front_limits
from .solvers.tiers_memory import binding_tiers
from .sweep import SweepConfig, dp_unit, given_deadlines, halving_series, sweep_seq_lens
from .tiers import Hop, TierPhases, Topology, score, tier_min_latency, tier_phases

__all__ = ["TIER_SWEEP_SOLVERS", "TierSweep", "run_tier_sweep", "tier_deadline_series", "swept_topology",
           "tier_sweep_rows", "tier_sweep_summary"]

TIER_SWEEP_SOLVERS = ("dp", "exact", "no-split", "all-client")
_Front = list[tuple[float, float, tuple[int, ...]]]


@dataclass(frozen=True, slots=True, eq=False)
class TierSweep:
    """One model's sweep over a topology, one entry per cell: its grid values and each solver's result."""

    model: str
    topology: Topology                        # the hops as given (the swept one's bandwidth is per cell)
    hop: int | None                           # the swept hop, 0-based; None: no hop swept
    solvers: tuple[str, ...]
    config: SweepConfig
    seq: NDArray[np.int64]
    bandwidth: NDArray[np.float64]            # the swept hop's Mbit/s (up = down); NaN when none is swept
    step: NDArray[np.int64]
    deadline_ms: NDArray[np.float64]
    unit_ms: NDArray[np.float64]
    results: tuple[dict[str, TierResult], ...]
    elapsed_s: float = 0.0

    @property
    def n_cells(self) -> int:
        return len(self.seq)


def swept_topology(topo: Topology, hop: int | None, mbps: float | None) -> Topology:
    """`topo` with hop `hop` at `mbps` both ways (its delay kept); unchanged when no hop is swept."""
    if hop is None or mbps is None:
        return topo
    hops = list(topo.hops)
    hops[hop] = Hop(up_mbps=mbps, down_mbps=mbps, delay_ms=hops[hop].delay_ms)
    return replace(topo, hops=tuple(hops))


def _sweep_iv(profiles: Sequence[Profile], topo: Topology, cfg: SweepConfig, hop: int | None) -> None:
    if len(profiles) != topo.k:
        raise SplittuiError(f"topology: {topo.k} tiers need {topo.k} profiles, got {len(profiles)}")
    if hop is not None and not 0 <= hop < len(topo.hops):
        raise SplittuiError(f"--hop-sweep {hop + 1}: the topology has {len(topo.hops)} hop(s); give 1 to "
                            f"{len(topo.hops)}")
    if cfg.grid == "paper" or cfg.server_speedup is not None:
        raise SplittuiError("--grid paper / --server-speedup: the paper's two-sided experiment; over tiers "
                            "sweep with the default grid")


def _scenario(s: int, cfg: SweepConfig, deadline: float, unit: float) -> Scenario:
    """A pair's scenario: its length, the config's request, limits and objective (the hops set the links)."""
    return Scenario(deadline_ms=max(deadline, cfg.ttft_ms or 0.0), seq_len=s, unit_ms=unit, objective=cfg.objective,
                    gen_tokens=cfg.gen_tokens, returns=cfg.returns, ttft_ms=cfg.ttft_ms,
                    tpot_ms=cfg.tpot_ms if cfg.gen_tokens else None)


def _first_tier(ph: TierPhases) -> tuple[int, ...]:
    """Every layer on the first tier, pinned layers on their tier (all-client's policy)."""
    pin = ph.prefill.pin
    return tuple(0 if pin is None or pin[li] < 0 else int(pin[li]) for li in range(ph.prefill.n))


def tier_deadline_series(profiles: Sequence[Profile], topo: Topology, s: int, cfg: SweepConfig,
                         hop: int | None = None) -> NDArray[np.float64]:
    """The deadlines (ms) of length s, loosest first: the config's, or the halving series (module doc)."""
    if cfg.deadlines:
        return given_deadlines(cfg)
    fast = swept_topology(topo, hop, max(cfg.bandwidths) if hop is not None else None)
    ph = tier_phases(profiles, _scenario(s, cfg, 1.0, 1.0), fast)
    c = ph.composite()
    floor_ms = tier_min_latency(c)
    d0 = max(score(c, _first_tier(ph)).latency_ms, floor_ms)
    if not (d0 > 0 and math.isfinite(d0)):
        raise SplittuiError(f"{profiles[-1].model}: every policy takes 0 ms at seq {s}, so there is no deadline "
                            "to sweep")
    return halving_series(d0, floor_ms, cfg)


def _in_force(front: _Front, bound: float) -> tuple[int, ...] | None:
    """The policy of the last front point within `bound` (the front is fastest first), None if none is."""
    i = int(np.searchsorted([p[0] for p in front], bound, side="right")) - 1
    return front[i][2] if i >= 0 else None


def _pair(profiles: Sequence[Profile], topo: Topology, s: int, series: NDArray[np.float64], cfg: SweepConfig,
          solvers: tuple[str, ...]) -> list[dict[str, TierResult]]:
    """Every solver's result at each deadline of one (length, bandwidth) pair, from one `tier_phases`."""
    unit = dp_unit(series, cfg)
    sc = _scenario(s, cfg, float(series[0]), unit)
    ph = tier_phases(profiles, sc, topo)
    names = [t.name for t in topo.tiers]
    m = tier_min_latency(ph.composite())
    per_cell = bool(binding_tiers(ph))
    fronts: dict[str, _Front] = {}
    if not per_cell and "dp" in solvers:
        fronts["dp"] = tier_dp_front(replace(ph.composite(), deadline_ms=float(series[0])), unit)
    if not per_cell and "exact" in solvers:
        fronts["exact"] = tier_front_limits(ph, sc.ttft_ms, sc.tpot_ms, limit=_slack(float(series[0])))
    out = []
    for d in series.tolist():
        ph_d = replace(ph, prefill=replace(ph.prefill, deadline_ms=d))
        row = {}
        for solver in solvers:
            if solver in fronts:
                bound = budget_units(d, unit) if solver == "dp" else _slack(d)
                row[solver] = evaluate_tiers(ph_d, _in_force(fronts[solver], bound), sc, solver=solver, names=names,
                                             min_lat=m)
            else:
                row[solver] = solve_tiers_phases(ph_d, sc, solver, names=names, min_lat=m)
        out.append(row)
    return out


def _slack(limit: float) -> float:
    return limit + 1e-9 * max(1.0, abs(limit))


def run_tier_sweep(profiles: Sequence[Profile], topo: Topology, cfg: SweepConfig, *,
                   hop: int | None = None, progress: Callable[[int, int], object] | None = None) -> TierSweep:
    """Sweep one model over a topology (`profiles[k]` as `tier_phases` takes them); progress(done, total) is
    called after each (length, bandwidth) pair."""
    _sweep_iv(profiles, topo, cfg, hop)
    t0 = time.perf_counter()
    solvers = tuple(s for s in TIER_SWEEP_SOLVERS if cfg.exact or s != "exact")
    seqs = sweep_seq_lens(profiles[-1], cfg)
    bws: tuple[float | None, ...] = cfg.bandwidths if hop is not None else (None,)
    cols: dict[str, list[float]] = {k: [] for k in ("seq", "bw", "step", "deadline", "unit")}
    results: list[dict[str, TierResult]] = []
    done, total = 0, len(seqs) * len(bws)
    for s in seqs:
        series = tier_deadline_series(profiles, topo, s, cfg, hop)
        for bw in bws:
            results += _pair(profiles, swept_topology(topo, hop, bw), s, series, cfg, solvers)
            for j, d in enumerate(series.tolist()):
                for key, v in zip(cols, (s, math.nan if bw is None else bw, j, d, dp_unit(series, cfg)), strict=True):
                    cols[key].append(v)
            done += 1
            if progress is not None:
                progress(done, total)
    return TierSweep(model=profiles[-1].model, topology=topo, hop=hop, solvers=solvers, config=cfg,
                     seq=np.array(cols["seq"], dtype=np.int64), bandwidth=np.array(cols["bw"], dtype=np.float64),
                     step=np.array(cols["step"], dtype=np.int64), deadline_ms=np.array(cols["deadline"]),
                     unit_ms=np.array(cols["unit"]), results=tuple(results), elapsed_s=time.perf_counter() - t0)


def tier_sweep_rows(sw: TierSweep) -> list[dict[str, Any]]:
    """One flat dict per cell (CSV/JSON): the grid values, then per solver: feasible, each tier's share of the
    work, latency, TTFT, TPOT, weighted work, hops crossed, the strip (one letter per layer) and what it
    breaks. Shares and times are null where the solver's answer is infeasible (as the two-tier rows)."""
    topo = sw.topology
    rows = []
    for i, res in enumerate(sw.results):
        bw = float(sw.bandwidth[i])
        row: dict[str, Any] = {"model": sw.model, "seq_len": int(sw.seq[i]),
                               "hop": None if sw.hop is None else sw.hop + 1,
                               "bandwidth_mbps": bw if math.isfinite(bw) else None, "step": int(sw.step[i]),
                               "deadline_ms": round(float(sw.deadline_ms[i]), 6), "unit_ms": float(sw.unit_ms[i])}
        for name, r in res.items():
            ok = r.feasible
            shares = r.shares if ok and r.shares is not None else (None,) * topo.k
            row[f"{name}_feasible"] = ok
            row |= {f"{name}_{t.name}_share": v for t, v in zip(topo.tiers, shares, strict=True)}
            row |= {f"{name}_{key}": getattr(r, key) if ok else None
                    for key in ("latency_ms", "ttft_ms", "tpot_ms", "objective", "crossings")}
            row[f"{name}_strip"] = "".join(topo.letters[t] for t in r.tiers) if ok and r.tiers else None
            row[f"{name}_violations"] = "; ".join(r.violations) or None
        rows.append(row)
    return rows


def tier_sweep_summary(sw: TierSweep) -> dict[str, dict[str, Any]]:
    """Per solver: feasible cells, and over them the mean share of each tier and the mean latency."""
    out: dict[str, dict[str, Any]] = {}
    for name in sw.solvers:
        ok = [r[name] for r in sw.results if r[name].feasible and r[name].shares is not None]
        shares = np.array([r.shares for r in ok], dtype=np.float64).reshape(len(ok), sw.topology.k)
        out[name] = {"feasible": len(ok), "cells": sw.n_cells,
                     "mean_shares": {t.name: float(shares[:, k].mean()) if ok else None
                                     for k, t in enumerate(sw.topology.tiers)},
                     "mean_latency_ms": float(np.mean([r.latency_ms for r in ok])) if ok else None}
    return out
