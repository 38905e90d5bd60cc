"""Speed of the LLM building blocks (issue 11): analytic profile build (32 layers x 6 lengths, the
app's per-slider-move work) and a solve on Llama-3.1-8B; plus, with torch + transformers installed,
the per-family FlopCounterMode comparison (--flops).

    PYTHONPATH=. python benchmarks/bench_llm.py [--flops]

Prints medians over repeated runs. Timings depend on machine load: say what else was running.
"""

from __future__ import annotations

import statistics
import sys
import time

from splittui.llm import load_arch, profile_doc_for, profile_for
from splittui.model import Scenario
from splittui.solvers import solve


def _median_ms(fn, n: int = 30) -> float:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def speed_table() -> None:
    arch = load_arch("llama-3.1-8b")
    kw = dict(dtype="int4", client_device="jetson-orin", server_device="a100-80gb")
    prof = profile_for(arch, **kw)
    sc = Scenario(deadline_ms=3000, up_mbps=50, seq_len=2048)
    rows = [
        ("profile_for (Profile), llama-3.1-8b, 259 layers x 6 lengths", _median_ms(lambda: profile_for(arch, **kw))),
        ("profile_doc_for (JSON doc), same", _median_ms(lambda: profile_doc_for(arch, **kw))),
        ("profile_for + dp solve (one slider move, T=1 ms)",
         _median_ms(lambda: solve(profile_for(arch, **kw), sc, "dp"), n=10)),
    ]
    for solver in ("dp", "exact", "greedy", "single-split"):
        rows.append((f"solve {solver} (seq 2048, deadline 3000 ms, 50 Mbit/s)",
                     _median_ms(lambda s=solver: solve(prof, sc, s), n=10)))
    print("| what | median ms |\n|---|---:|")
    for what, ms in rows:
        print(f"| {what} | {ms:.2f} |")


def flops_table() -> None:
    sys.path.insert(0, "tests/profiler")
    from test_hf_flops import TINY

    from splittui.hf_config import arch_from_dict, prefill_stages
    from splittui.profiler.hf_live import build_model, count_stage_flops

    print("\n| family | s | stages | analytic matmul FLOP | FlopCounterMode FLOP | max stage rel. diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for family, cfg in sorted(TINY.items()):
        arch = arch_from_dict(cfg, name=family)
        model = build_model(arch)
        for s in (7, 32):
            counted = count_stage_flops(model, arch, s)
            stages = prefill_stages(arch, s, dtype="fp32")
            worst = max((abs(counted[x.name] - x.mm_flops) / x.mm_flops if x.mm_flops else abs(counted[x.name]))
                        for x in stages)
            print(f"| {family} | {s} | {len(stages)} | {sum(x.mm_flops for x in stages):,.0f} | "
                  f"{sum(counted.values()):,.0f} | {worst:.2%} |")


if __name__ == "__main__":
    speed_table()
    if "--flops" in sys.argv:
        flops_table()
