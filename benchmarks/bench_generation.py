"""Timings for generation requests (issue 12 targets: dp on gpt2-like's composite chain with
N = 1024 at T = 1 ms <= 10 ms; exact with both TTFT and TPOT limits <= 50 ms). Prints a table of
medians (ms) per case: building the phase costs, the solver alone, and `solve` end to end.

    .venv/bin/python benchmarks/bench_generation.py [--repeats 5] [--model gpt2-like]

"exact (3-D labels)" runs the label pass even where the 2-D fast path would already answer, to
time the worst route; "exact (solve)" is what `splittui solve` runs.
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
from splittui.solvers.request import _labels3, _slack, _zero_like, limits_of


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def cases(n: int):
    base = dict(seq_len=512, gen_tokens=n, up_mbps=100.0, unit_ms=1.0)
    yield "dp", Scenario(deadline_ms=30_000.0, **base)
    yield "dp", Scenario(deadline_ms=120_000.0, **base)
    yield "exact", Scenario(deadline_ms=120_000.0, ttft_ms=1_500.0, tpot_ms=80.0, **base)
    yield "exact", Scenario(deadline_ms=120_000.0, ttft_ms=800.0, tpot_ms=40.0, **base)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", default="gpt2-like")
    ap.add_argument("--tokens", type=int, nargs="*", default=[256, 1024, 3584])
    args = ap.parse_args()
    prof = load_profile(args.model)
    print(f"{args.model}: {prof.n_layers} layers; seq 512, up 100 Mbit/s, delay 10 ms, T 1 ms; "
          f"median of {args.repeats} (ms)")
    print(f"{'N':>5} {'solver':<18} {'deadline':>9} {'TTFT lim':>8} {'TPOT lim':>8} {'costs':>7} {'solver':>8} "
          f"{'solve()':>8}  result")
    for n in args.tokens:
        for name, sc in cases(n):
            t_cost, ph = timed(lambda: phase_costs(prof, sc), args.repeats)
            c = ph.composite()
            if name == "dp":
                t_alg, _ = timed(lambda: backtrack(run_dp(c, sc.unit_ms)), args.repeats)
            else:
                pre, dec = ph.prefill, ph.decode or _zero_like(ph.prefill)
                ttft, dl = limits_of(sc)
                lims = (_slack(ttft), _slack(dl), _slack(sc.deadline_ms))
                t_alg, _ = timed(lambda: _labels3(pre, dec, c, lims), args.repeats)
            t_all, r = timed(lambda: solve(prof, sc, name), args.repeats)
            what = (f"server {100 * r.server_share:.1f} %, TTFT {r.ttft_ms:,.0f}, TPOT {r.tpot_ms:,.1f}"
                    if r.feasible else "infeasible: " + "; ".join(r.violations))
            label = name if name == "dp" else "exact (3-D labels)"
            lim = lambda v: "—" if v is None else f"{v:g}"  # noqa: E731
            print(f"{n:>5} {label:<18} {sc.deadline_ms:>9,.0f} {lim(sc.ttft_ms):>8} {lim(sc.tpot_ms):>8} "
                  f"{t_cost:>7.2f} {t_alg:>8.2f} {t_all:>8.2f}  {what}")


if __name__ == "__main__":
    main()
