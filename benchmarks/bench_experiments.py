"""Timings for `splittui sweep` and `splittui simulate` (issue 5 targets: a >= 500-cell one-model
sweep with every solver <= 10 s; 10^6 simulated requests <= 10 s). Prints a table of medians.

    .venv/bin/python benchmarks/bench_experiments.py [--repeats 3] [--baseline]

--baseline also times per-cell `solve_all` (re-solving every deadline) on a sample of cells of
the 644-cell grid and extrapolates, to show what the frontier saves.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from splittui.costs import costs_for
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.sim import SimConfig, simulate
from splittui.solvers import solve_costs
from splittui.sweep import SweepConfig, run_sweep
from splittui.sweep_sim import sim_cells


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (out, times)


def per_cell_baseline(prof, sw, sample: int = 60) -> float:
    """Seconds to re-solve `sample` cells one by one with every solver, scaled to the whole grid."""
    idx = np.random.default_rng(0).choice(sw.n_cells, size=min(sample, sw.n_cells), replace=False)
    t0 = time.perf_counter()
    for i in idx:
        sc = Scenario(deadline_ms=float(sw.deadline_ms[i]), up_mbps=float(sw.bandwidth[i]),
                      seq_len=int(sw.seq[i]), unit_ms=float(sw.unit_ms[i]))
        c = costs_for(prof, sc)
        for name in sw.solvers:
            solve_costs(c, sc, name)
    return (time.perf_counter() - t0) * sw.n_cells / len(idx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--model", default="gpt2-like")
    args = ap.parse_args()
    prof = load_profile(args.model)
    rows = []
    for label, cfg in (("sweep, paper grid (halving), all solvers", SweepConfig()),
                       ("sweep, 2 deadlines per halving, all solvers", SweepConfig(per_halving=2)),
                       ("sweep, 2 per halving, no exact", SweepConfig(per_halving=2, exact=False))):
        med, (sw, times) = timed(lambda cfg=cfg: run_sweep(prof, cfg), args.repeats)
        rows.append((f"{label} ({args.model})", f"{sw.n_cells} cells", med, times))
    cells = sim_cells([sw])
    for n in (100_000, 1_000_000):
        med, (res, times) = timed(lambda n=n: simulate(cells, SimConfig(requests=n)), args.repeats)
        rows.append((f"simulate dp+greedy+no-split, {cells.n} cells", f"{n:,} requests", med, times))
    if args.baseline:
        sw = run_sweep(prof, SweepConfig(per_halving=2))
        est = per_cell_baseline(prof, sw)
        rows.append(("per-cell solve_all, every solver (extrapolated from 60 cells)", f"{sw.n_cells} cells",
                     est, [est]))
    print(f"{'what':<66} {'size':>18} {'median s':>9}  runs")
    for what, size, med, times in rows:
        print(f"{what:<66} {size:>18} {med:>9.2f}  {', '.join(f'{t:.2f}' for t in times)}")


if __name__ == "__main__":
    main()
