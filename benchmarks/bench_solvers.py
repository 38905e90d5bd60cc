"""Solver speed benchmark (issue 2, item 8): prints a table; not a timed test.

The chain: the first 122 layers of the analytic ``gpt2-like`` profile (splittui.analytic: embedding,
15 pre-norm blocks of 8 layers, and the 16th block's first norm) at seq 512, 100 Mbit/s up and down,
10 ms delay, deadline 1500 ms. T = 1500/20,000 ms gives W = 20,000 units; T = 1500/10^6 gives
W = 10^6. Rows:

* dp: the DP solve at W = 20,000 as splittui.solve runs it, backtrack(run_dp(...)) (median of
  --runs, target <= 5 ms)
* exact: the Pareto-label solver on the same chain (target <= 20 ms)
* pure Python: a plain transcription of the same recurrences with lists (fewer runs); ratio >= 200x
* dp at W = 10^6: time, and peak memory in a fresh subprocess (tracemalloc peak of the DP call and
  the process's max RSS; target < 500 MB)

dp, exact and pure-Python runs are interleaved in batches, so that load from other processes on a
shared machine falls on every row alike; the best (minimum) times are shown too.

    .venv/bin/python benchmarks/bench_solvers.py [--runs 60] [--python-runs 5] [--big-W 1000000]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

import numpy as np

from splittui.analytic import gpt2_like_doc
from splittui.costs import Costs, costs_for
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.solvers.dp import backtrack, integerise, run_dp
from splittui.solvers.exact import exact_policy

N_LAYERS = 122
DEADLINE_MS = 1500.0


def chain_costs(W: int) -> tuple[Costs, float]:
    doc = gpt2_like_doc()
    doc["layers"] = doc["layers"][:N_LAYERS]
    prof = profile_from_doc(doc, source="gpt2-like[:122]")
    unit = DEADLINE_MS / W
    sc = Scenario(deadline_ms=DEADLINE_MS, up_mbps=100.0, delay_ms=10.0, seq_len=512, unit_ms=unit)
    c = costs_for(prof, sc)
    assert integerise(c, unit).W == W, integerise(c, unit).W
    return c, unit


def timed_all(fn, runs: int) -> list[tuple[float, float]]:
    """(wall ms, this process's CPU ms) of each of `runs` calls; CPU time leaves out preemption."""
    times = []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(((time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3))
    return times


def stats(times: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median wall, best wall, median CPU (ms)."""
    wall = [t[0] for t in times]
    return statistics.median(wall), min(wall), statistics.median(t[1] for t in times)


def pure_python_dp(c: Costs, unit: float) -> tuple[float, tuple[int, ...] | None]:
    """SPEC §4 transcribed with Python lists and loops: same integerisation, same recurrences."""
    it = integerise(c, unit)
    W, L, NEG = it.W, c.n, -math.inf
    cs, ss, us, ds = (v.tolist() for v in (it.c, it.s, it.u, it.d))
    rew = c.reward.tolist()
    C = [0.0 if c.start_client else NEG] * (W + 1)
    S = [0.0 if not c.start_client else NEG] * (W + 1)
    from_s, from_c = [], []
    for l in range(L):
        Cn, Sn = [NEG] * (W + 1), [NEG] * (W + 1)
        bc, bs = [False] * (W + 1), [False] * (W + 1)
        for w in range(W + 1):
            a = C[w - cs[l]] if w >= cs[l] else NEG
            b = S[w - cs[l] - ds[l]] if w >= cs[l] + ds[l] else NEG
            if b > a:
                bc[w], a = True, b
            Cn[w] = a + rew[l]
            a = S[w - ss[l]] if w >= ss[l] else NEG
            b = C[w - ss[l] - us[l]] if w >= ss[l] + us[l] else NEG
            if b > a:
                bs[w], a = True, b
            Sn[w] = a
        C, S = Cn, Sn
        from_s.append(bc)
        from_c.append(bs)
    wc = W - (0 if c.end_client else it.u_out)
    ws = W - (it.d_out if c.end_client else 0)
    vc = C[wc] if wc >= 0 else NEG
    vs = S[ws] if ws >= 0 else NEG
    if vc == NEG and vs == NEG:
        return NEG, None
    on_client, w = (True, wc) if vc >= vs else (False, ws)
    policy = [0] * L
    for l in range(L - 1, -1, -1):
        if on_client:
            policy[l] = 1
            if from_s[l][w]:
                w, on_client = w - cs[l] - ds[l], False
            else:
                w -= cs[l]
        elif from_c[l][w]:
            w, on_client = w - ss[l] - us[l], True
        else:
            w -= ss[l]
    return max(vc, vs), tuple(policy)


def numpy_dp(c: Costs, unit: float) -> tuple[float, tuple[int, ...] | None]:
    t = run_dp(c, unit)
    policy = backtrack(t)
    return float(t.end_values()[-1]), policy


def big_child(W: int) -> dict:
    """Run in a fresh process: DP at W units, its time, tracemalloc peak and the process max RSS."""
    import resource
    import tracemalloc

    c, unit = chain_costs(W)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t0 = time.perf_counter()
    reward, policy = numpy_dp(c, unit)
    ms = (time.perf_counter() - t0) * 1e3
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"ms": ms, "traced_peak_mb": peak / 2**20, "maxrss_mb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024, "base_rss_mb": base_rss, "feasible": policy is not None}


def measure_big(W: int) -> dict:
    code = f"import json, sys; sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r}); " \
           f"import bench_solvers as b; print(json.dumps(b.big_child({W})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=60, help="timed runs of dp and exact (median; >= 20)")
    ap.add_argument("--python-runs", type=int, default=5, help="timed runs of the pure-Python DP")
    ap.add_argument("--big-W", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    args.python_runs = max(1, args.python_runs)

    c, unit = chain_costs(20_000)
    numpy_dp(c, unit), exact_policy(c)  # warm up
    # The machine may be shared: interleave the batches so that load hits every row alike.
    dp_t, ex_t, py_t = [], [], []
    per = max(1, math.ceil(args.runs / args.python_runs))
    for _ in range(args.python_runs):
        dp_t += timed_all(lambda: backtrack(run_dp(c, unit)), per)
        ex_t += timed_all(lambda: exact_policy(c), per)
        py_t += timed_all(lambda: pure_python_dp(c, unit), 1)
    (dp_ms, dp_min, dp_cpu), (ex_ms, ex_min, ex_cpu), (py_ms, py_min, py_cpu) = map(stats, (dp_t, ex_t, py_t))
    dp_reward, dp_pol = numpy_dp(c, unit)
    ex_policy = exact_policy(c)
    py_reward, py_policy = pure_python_dp(c, unit)
    assert py_reward == dp_reward and py_policy == dp_pol, "the DPs disagree"
    ex_reward = float(c.reward[np.asarray(ex_policy) == 1].sum())
    assert dp_reward <= ex_reward * (1 + 1e-12), "DP beat the exact optimum"
    big = measure_big(args.big_W)

    share = lambda r: 1 - r / c.total_reward  # noqa: E731
    rows = [
        ("dp (run_dp + backtrack), W=20,000", len(dp_t), dp_ms, dp_min, dp_cpu, "<= 5 ms", dp_ms <= 5,
         f"server share {share(dp_reward):.4f}"),
        ("exact (Pareto labels)", len(ex_t), ex_ms, ex_min, ex_cpu, "<= 20 ms", ex_ms <= 20,
         f"server share {share(ex_reward):.4f}"),
        ("pure-Python DP, W=20,000", len(py_t), py_ms, py_min, py_cpu, "", True, "same policy as dp"),
        ("ratio pure-Python / dp", "", py_ms / dp_ms, py_min / dp_min, py_cpu / dp_cpu, ">= 200x",
         py_ms / dp_ms >= 200, "x, not ms"),
        (f"dp, W={args.big_W:,}", 1, big["ms"], big["ms"], math.nan, "", True,
         f"traced peak {big['traced_peak_mb']:,.0f} MB (target < 500 MB); process max RSS "
         f"{big['maxrss_mb']:,.0f} MB, {big['base_rss_mb']:,.0f} MB of it before the DP"),
    ]
    ok = [r[6] for r in rows] + [big["traced_peak_mb"] < 500]
    _print(rows, f"{N_LAYERS}-layer chain: gpt2-like (analytic) layers 1..{N_LAYERS}, seq 512, "
                 f"100 Mbit/s, delay 10 ms, deadline {DEADLINE_MS:g} ms, T = {unit:g} ms")
    return 0 if all(ok) else 1


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    return "—" if math.isnan(v) else (f"{v:,.0f}" if v >= 100 else f"{v:.2f}")


def _print(rows, title: str) -> None:
    head = ("case", "runs", "median ms", "best ms", "median CPU ms", "target", "", "note")
    cells = [[_fmt(v) for v in r[:6]] + ["ok" if r[6] else "MISSED", r[7]] for r in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        for line in (head, *cells):
            print(" | ".join(line))
        return
    t = Table(title=title, title_justify="left")
    for i, col in enumerate(head):
        t.add_column(col, justify="right" if 1 <= i <= 4 else "left")
    for line in cells:
        t.add_row(*line)
    Console(width=160).print(t)


if __name__ == "__main__":
    raise SystemExit(main())
