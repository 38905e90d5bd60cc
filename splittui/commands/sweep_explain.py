"""The sweep's "why" table: what separates our improvement-over-greedy from the paper's.

Per model and overall: the client-share gain as a ratio of means, a mean and a median of per-cell
ratios, and in percentage points; SPEC §5's server-load reduction (ratio of means, mean of ratios);
the whole-model client/server speed ratio; the DP's time unit T and the cells it loses to rounding
against the exact solver. Numbers come from ``splittui.sweep`` (pure); this module only lays them out.
"""

from __future__ import annotations

import math

from ..report.formats import gain

__all__ = ["explain_table", "explain_rows"]


def explain_rows(sweeps: list) -> list[dict]:
    """One dict per model (and 'overall' when there are several), fractions (not %)."""
    from ..sweep_summary import overall, overall_rounding, summary

    rows = []
    for sw in sweeps:
        s = summary(sw)
        rows.append({"model": sw.model, **{k: s[k] for k in _KEYS}, "rounding": s["rounding"],
                     "speedup": (s["speedup_min"], s["speedup_max"])})
    if len(sweeps) > 1:
        o = overall(sweeps)
        rows.append({"model": "overall", **{k: o[k] for k in _KEYS}, "rounding": overall_rounding(sweeps),
                     "speedup": (min(r["speedup"][0] for r in rows), max(r["speedup"][1] for r in rows))})
    return rows


_KEYS = ("cells", "improvement", "improvement_mean", "improvement_median", "points", "server_reduction",
         "server_reduction_mean")


def _pct(v: float, signed: bool = True) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    g = 100 * v
    if abs(g) >= 10_000:   # only a gain over a greedy that keeps almost nothing gets here: times greedy's
        return gain(v)
    return f"{g:+.1f}" if signed else f"{g:.1f}"


def _range(lo: float, hi: float, fmt: str) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    a, b = format(lo, fmt), format(hi, fmt)
    return a if a == b else f"{a}–{b}"


def explain_table(sweeps: list):
    """Two rich tables in a Group: the gains measured four ways, then the setup and the rounding."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    cfg = sweeps[0].config
    speed = "the profile's own" if cfg.server_speedup is None else f"rescaled to {cfg.server_speedup:g}x"
    grid = "paper (50..1000 Mbit/s, per-bandwidth deadlines)" if cfg.grid == "paper" else "default"
    rows = explain_rows(sweeps)
    gains = Table(title=f"gain over greedy, four ways, %: grid {grid}; server speed {speed}",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), caption_justify="left",
                  caption="client-share gain: rm = ratio of means (the headline), mr = mean of per-cell ratios, "
                          "med = their median, pp = percentage points; server-load reduction (SPEC §5), "
                          "(L_greedy − L_dp) / L_greedy: rm and mr; from +10,000 % a gain reads ×N: N times "
                          "greedy's client share")
    for col in ("model", "cells", "rm", "mr", "med", "pp", "load rm", "load mr"):
        gains.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for r in rows:
        gains.add_row(r["model"], str(r["cells"]), _pct(r["improvement"]), _pct(r["improvement_mean"]),
                      _pct(r["improvement_median"]), _pct(r["points"]), _pct(r["server_reduction"]),
                      _pct(r["server_reduction_mean"]))
    setup = Table(title="setup and rounding", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                  caption_justify="left",
                  caption="client/server: whole-model client time over server time at the swept lengths (the "
                          "paper: 79x); T: the DP's time unit; exact > dp: cells where exact keeps more than 1 "
                          "point more on the client; dp infeasible: cells dp finds infeasible, exact does not")
    for col in ("model", "client/server", "T ms", "exact > dp", "dp infeasible"):
        setup.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for r in rows:
        rd = r["rounding"]
        checked = rd["checked"]
        setup.add_row(r["model"], _range(r["speedup"][0], r["speedup"][1], ".0f") + "x",
                      _range(rd["unit_ms_min"], rd["unit_ms_max"], ".3g"),
                      str(rd["cells_behind"]) if checked else "— (--no-exact)",
                      str(rd["cells_infeasible"]) if checked else "—")
    return Group(gains, setup)
