"""A sweep's aggregates, charts and rows (`splittui.sweep`'s §IV-C grid, summarised): SPEC §5 metrics.

`summary`/`overall` give the client shares and the improvement over greedy (ratio of means, median and mean of
per-cell ratios, points, server-load reduction: the formulas are in `splittui.sweep`'s module text);
`rounding`/`overall_rounding` the cells where the DP's time unit cost more than a point against exact;
`by_deadline`/`by_bandwidth` the paper's figure breakdowns; `charts` the figures as plotext-ready series and
`sweep_rows` one row per cell for CSV/JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .sweep import PAPER, ROUNDING_POINTS, Sweep, paper_key

__all__ = ["Chart", "IMPROVEMENT_CAP", "summary", "overall", "rounding", "overall_rounding", "by_deadline",
           "by_bandwidth", "charts", "sweep_rows"]


def _agg(dp: np.ndarray, greedy: np.ndarray) -> dict[str, Any]:
    """Mean shares and both improvement measures over the cells where dp and greedy are feasible."""
    both = np.isfinite(dp) & np.isfinite(greedy)
    if not both.any():
        return {"cells": 0, "dp": math.nan, "greedy": math.nan, "improvement": math.nan,
                "improvement_median": math.nan, "improvement_mean": math.nan, "points": math.nan,
                "server_reduction": math.nan, "server_reduction_mean": math.nan}
    d, g = dp[both], greedy[both]
    pos = g > 0
    ratios = (d[pos] - g[pos]) / g[pos]
    return {"cells": int(both.sum()), "dp": float(d.mean()), "greedy": float(g.mean()),
            "improvement": float((d.mean() - g.mean()) / g.mean()) if g.mean() > 0 else math.nan,
            "improvement_median": float(np.median(ratios)) if ratios.size else math.nan,
            "improvement_mean": float(ratios.mean()) if ratios.size else math.nan,
            "points": float(d.mean() - g.mean()), **_server_reduction(1.0 - d, 1.0 - g)}


def _server_reduction(sd: np.ndarray, sg: np.ndarray) -> dict[str, Any]:
    """SPEC §5: (L_greedy - L_dp) / L_greedy on server shares, ratio of means and mean of ratios."""
    pos = sg > 0
    return {"server_reduction": float((sg.mean() - sd.mean()) / sg.mean()) if sg.mean() > 0 else math.nan,
            "server_reduction_mean": float(((sg[pos] - sd[pos]) / sg[pos]).mean()) if pos.any() else math.nan}


def rounding(sw: Sweep) -> dict[str, Any]:
    """Cells the DP loses to its time unit T, against the exact solver (needs exact in the sweep)."""
    units = sw.unit_ms
    out = {"unit_ms_min": float(units.min()) if units.size else math.nan,
           "unit_ms_max": float(units.max()) if units.size else math.nan, "checked": "exact" in sw.solvers}
    if "exact" not in sw.solvers:
        return out | {"cells_behind": 0, "cells_infeasible": 0}
    dp, ex = sw.share("dp"), sw.share("exact")
    both = np.isfinite(dp) & np.isfinite(ex)
    behind = both & (ex > dp + ROUNDING_POINTS)
    return out | {"cells_behind": int(behind.sum()),
                  "cells_infeasible": int((~np.isfinite(dp) & np.isfinite(ex)).sum()),
                  "points_behind": float((ex[behind] - dp[behind]).mean()) if behind.any() else 0.0}


def overall_rounding(sweeps: list[Sweep]) -> dict[str, Any]:
    """rounding() summed over models."""
    parts = [rounding(sw) for sw in sweeps]
    return {"checked": all(p["checked"] for p in parts),
            "cells_behind": sum(p["cells_behind"] for p in parts),
            "cells_infeasible": sum(p["cells_infeasible"] for p in parts),
            "unit_ms_min": min((p["unit_ms_min"] for p in parts), default=math.nan),
            "unit_ms_max": max((p["unit_ms_max"] for p in parts), default=math.nan)}


def summary(sw: Sweep) -> dict[str, Any]:
    """Per-model headline numbers (fractions, not %), with the paper's beside them."""
    dp, g = sw.share("dp"), sw.share("greedy")
    out = _agg(dp, g)
    out.update(model=sw.model, n_cells=sw.n_cells, elapsed_s=sw.elapsed_s,
               dp_infeasible_greedy_feasible=int((~np.isfinite(dp) & np.isfinite(g)).sum()),
               paper=PAPER.get(paper_key(sw.model) or "", None), rounding=rounding(sw),
               speedup_min=min(sw.speedups, default=math.nan), speedup_max=max(sw.speedups, default=math.nan))
    if "exact" in sw.solvers:
        ex = _agg(sw.share("exact"), g)
        out.update(exact=ex["dp"], exact_improvement=ex["improvement"])
    return out


def overall(sweeps: list[Sweep]) -> dict[str, Any]:
    """All models' cells pooled."""
    dp = np.concatenate([s.share("dp") for s in sweeps])
    g = np.concatenate([s.share("greedy") for s in sweeps])
    return _agg(dp, g)


def by_deadline(sw: Sweep) -> dict[int, dict[int, dict[str, Any]]]:
    """{seq: {step: aggregate over bandwidths}} (Figs. 8-9)."""
    out: dict[int, dict[int, dict[str, Any]]] = {}
    dp, g = sw.share("dp"), sw.share("greedy")
    for s in np.unique(sw.seq):
        row: dict[int, dict[str, Any]] = {}
        for j in np.unique(sw.step[sw.seq == s]):
            m = (sw.seq == s) & (sw.step == j)
            row[int(j)] = _agg(dp[m], g[m]) | {"deadline_ms": float(sw.deadline_ms[m][0])}
        out[int(s)] = row
    return out


def by_bandwidth(sw: Sweep) -> dict[float, dict[str, Any]]:
    """{bandwidth: aggregate over sequence lengths and deadlines} (Figs. 10-11)."""
    dp, g = sw.share("dp"), sw.share("greedy")
    return {float(b): _agg(dp[sw.bandwidth == b], g[sw.bandwidth == b]) for b in np.unique(sw.bandwidth)}


@dataclass(frozen=True, slots=True)
class Chart:
    """One figure: series are (label, xs, ys); xticks are (positions, labels)."""

    title: str
    xlabel: str
    ylabel: str
    series: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...]
    xticks: tuple[tuple[float, ...], tuple[str, ...]] | None = None
    ylim: tuple[float, float] | None = None   # a fixed y range (shares: 0..100); None: fit the data


def _pct(v: float, cap: float = math.inf) -> float:
    return min(100.0 * v, cap) if math.isfinite(v) else math.nan


IMPROVEMENT_CAP = 300.0  # % shown on charts; at tight deadlines greedy keeps ~nothing and ratios explode


def charts(sw: Sweep) -> list[Chart]:
    """The four figures of §IV-C for one model (x of Figs. 8-9: halving step j, D_j = D_0 / 2^j)."""
    bd, bb = by_deadline(sw), by_bandwidth(sw)
    per, cap = sw.config.per_halving, IMPROVEMENT_CAP
    fig8, fig9 = [], []
    for s, row in bd.items():
        js = tuple(j / per for j in row)
        fig8.append((f"s={s}", js, tuple(_pct(a["dp"]) for a in row.values())))
        fig9.append((f"s={s}", js, tuple(_pct(a["improvement"], cap) for a in row.values())))
    bws = list(bb)
    xs = tuple(float(i) for i in range(len(bws)))
    ticks = (xs, tuple(f"{b:g}" for b in bws))
    fig10 = [("dp", xs, tuple(_pct(bb[b]["dp"]) for b in bws)),
             ("greedy", xs, tuple(_pct(bb[b]["greedy"]) for b in bws))]
    fig11 = [("dp vs greedy", xs, tuple(_pct(bb[b]["improvement"], cap) for b in bws))]
    xl = "j (deadline = D0 / 2^j)"
    top = int(sw.step.max() // per) if sw.n_cells else 0
    jt = (tuple(float(j) for j in range(top + 1)), tuple(str(j) for j in range(top + 1)))
    capped = f"% (capped at {cap:g})"
    return [
        Chart(f"{sw.model} · Fig. 8: DP client share by deadline", xl, "% on client", tuple(fig8), jt, (0.0, 100.0)),
        Chart(f"{sw.model} · Fig. 9: gain over greedy by deadline", xl, capped, tuple(fig9), jt),
        Chart(f"{sw.model} · Fig. 10: client share by bandwidth", "Mbit/s", "% on client", tuple(fig10), ticks,
              (0.0, 100.0)),
        Chart(f"{sw.model} · Fig. 11: gain over greedy by bandwidth", "Mbit/s", capped, tuple(fig11),
              ticks),
    ]


def sweep_rows(sw: Sweep) -> list[dict[str, Any]]:
    """One flat dict per cell (CSV/JSON): the radio, then per solver client share, server share, latency,
    feasible and client joules per request (an estimate under that radio, docs/energy.md; null if infeasible)."""
    rows = []
    for i in range(sw.n_cells):
        row = {"model": sw.model, "seq_len": int(sw.seq[i]), "bandwidth_mbps": float(sw.bandwidth[i]),
               "step": int(sw.step[i]), "deadline_ms": round(float(sw.deadline_ms[i]), 6),
               "unit_ms": float(sw.unit_ms[i]), "radio": sw.config.radio}
        for k, name in enumerate(sw.solvers):
            cs, lat = sw.client_share[i, k], sw.latency_ms[i, k]
            ok = bool(np.isfinite(cs))
            row[f"{name}_feasible"] = ok
            row[f"{name}_client_share"] = float(cs) if ok else None
            row[f"{name}_server_share"] = float(1.0 - cs) if ok else None
            row[f"{name}_latency_ms"] = float(lat) if ok else None
            j = np.nan if sw.client_j is None else sw.client_j[i, k]
            row[f"{name}_client_j"] = float(j) if ok and np.isfinite(j) else None   # an estimate (docs/energy.md)
        rows.append(row)
    return rows
