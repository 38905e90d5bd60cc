"""Timings for generation requests (issue 12 targets: dp on gpt2-like's composite chain with
N = 1024 at T = 1 ms <= 10 ms; exact with both TTFT and TPOT limits <= 50 ms). Prints a table of
medians (ms) per case: building the phase costs, the solver alone, the reference pass beside it,
and `solve` end to end (wall, then CPU time: on a loaded machine the CPU column moves less).

    .venv/bin/python benchmarks/bench_generation.py [--repeats 5] [--model gpt2-like] [--tokens 256 1024]
    .venv/bin/python benchmarks/bench_generation.py --grid      # exact with limits over 72 cases: the slowest

dp rows: "solver" is the route `solve` takes (dp_labels.dp_policy: the label pass where W is large,
the dense table otherwise), "dense" the dense table alone (run_dp + backtrack) on the same chain:
both give the same policy. exact rows: "solver" is the 3-D label pass (run even where the 2-D fast
path would already answer, to time the worst route), "2-D" the 2-D exact pass that `solve` runs
first unless the greedy prefix policy already breaks a limit (then it goes straight to the 3-D pass).
"""

from __future__ import annotations

import argparse
import statistics
import time

from splittui.generation import phase_costs
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.solvers import solve
from splittui.solvers.dp import backtrack, run_dp
from splittui.solvers.dp_labels import dp_policy
from splittui.solvers.exact import exact_policy
from splittui.solvers.request import _labels3, _slack, _zero_like, limits_of


def timed(repeats: int, fn, *args) -> tuple[float, float, object]:
    """Median wall and CPU time (ms) of `repeats` calls fn(*args), and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*args)
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    return statistics.median(walls), statistics.median(cpus), out


def dense_dp(c, unit_ms: float):
    return backtrack(run_dp(c, unit_ms))


def cases(n: int):
    base = dict(seq_len=512, gen_tokens=n, up_mbps=100.0, unit_ms=1.0)
    yield "dp", Scenario(deadline_ms=30_000.0, **base)
    yield "dp", Scenario(deadline_ms=120_000.0, **base)
    yield "exact", Scenario(deadline_ms=120_000.0, ttft_ms=1_500.0, tpot_ms=80.0, **base)
    yield "exact", Scenario(deadline_ms=120_000.0, ttft_ms=800.0, tpot_ms=40.0, **base)
    yield "exact", Scenario(deadline_ms=120_000.0, ttft_ms=5_000.0, tpot_ms=200.0, **base)  # most labels found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", default="gpt2-like")
    ap.add_argument("--tokens", type=int, nargs="*", default=[256, 1024, 3584])
    ap.add_argument("--grid", action="store_true", help="exact with both limits over seq 128/512/1024 x N "
                    "16/256/1024 x deadline 30/120 s x four TTFT/TPOT pairs; prints the five slowest solve()s")
    args = ap.parse_args()
    prof = load_profile(args.model)
    if args.grid:
        grid(prof, args.repeats)
        return
    print(f"{args.model}: {prof.n_layers} layers; seq 512, up 100 Mbit/s, delay 10 ms, T 1 ms; "
          f"median of {args.repeats} (ms)")
    print(f"{'N':>5} {'solver':<18} {'deadline':>9} {'TTFT lim':>8} {'TPOT lim':>8} {'costs':>7} {'solver':>8} "
          f"{'dense':>8} {'2-D':>8} {'solve()':>8} {'cpu':>8}  result")
    for n in args.tokens:
        for name, sc in cases(n):
            rep = args.repeats
            t_cost, _, ph = timed(rep, phase_costs, prof, sc)
            c = ph.composite()
            if name == "dp":
                t_alg, _, _ = timed(rep, dp_policy, c, sc.unit_ms)
                t_ref, _, _ = timed(rep, dense_dp, c, sc.unit_ms)
                refs = f"{t_ref:>8.2f} {'—':>8}"
            else:
                pre, dec = ph.prefill, ph.decode or _zero_like(ph.prefill)
                ttft, dl = limits_of(sc)
                lims = (_slack(ttft), _slack(dl), _slack(sc.deadline_ms))
                t_alg, _, _ = timed(rep, _labels3, pre, dec, c, lims)
                t_ref, _, _ = timed(rep, exact_policy, c)
                refs = f"{'—':>8} {t_ref:>8.2f}"
            t_all, cpu_all, r = timed(rep, solve, prof, sc, name)
            what = (f"server {100 * r.server_share:.1f} %, TTFT {r.ttft_ms:,.0f}, TPOT {r.tpot_ms:,.1f}"
                    if r.feasible else "infeasible: " + "; ".join(r.violations))
            label = name if name == "dp" else "exact (3-D labels)"
            lim = lambda v: "—" if v is None else f"{v:g}"  # noqa: E731
            print(f"{n:>5} {label:<18} {sc.deadline_ms:>9,.0f} {lim(sc.ttft_ms):>8} {lim(sc.tpot_ms):>8} "
                  f"{t_cost:>7.2f} {t_alg:>8.2f} {refs} {t_all:>8.2f} {cpu_all:>8.2f}  {what}")


def grid(prof, repeats: int) -> None:
    """solve(..., "exact") with TTFT and TPOT limits over a grid: median wall ms per case, the five slowest."""
    rows = []
    for seq in (128, 512, 1024):
        for n in (16, 256, 1024):
            for deadline in (30_000.0, 120_000.0):
                for ttft, tpot in ((1_500.0, 80.0), (800.0, 40.0), (5_000.0, 200.0), (20_000.0, 1e5)):
                    sc = Scenario(deadline_ms=deadline, seq_len=seq, gen_tokens=n, up_mbps=100.0, unit_ms=1.0,
                                  ttft_ms=ttft, tpot_ms=tpot)
                    wall, _, r = timed(repeats, solve, prof, sc, "exact")
                    rows.append((wall, seq, n, deadline, ttft, tpot, r.feasible))
    rows.sort(reverse=True)
    print(f"exact with TTFT and TPOT limits, {len(rows)} cases, median of {repeats}; the five slowest solve() (ms):")
    for wall, seq, n, deadline, ttft, tpot, ok in rows[:5]:
        print(f"  {wall:7.2f}  seq {seq}, N {n}, deadline {deadline:,.0f}, TTFT {ttft:g}, TPOT {tpot:g}"
              f"{'' if ok else ' (infeasible)'}")


def probe_line() -> str:
    """This CPU's speed now, as the reference workload of profiler/speed.py times it (torch imported only
    here, after the solves): timings on a VM in a slow phase read slow by the same factor."""
    try:
        from splittui.profiler.speed import WORKLOAD, probe_ms
    except ImportError:
        return "reference workload: torch not installed"
    return f"reference workload ({WORKLOAD}): {probe_ms():.2f} ms"


if __name__ == "__main__":
    main()
    print(probe_line())
