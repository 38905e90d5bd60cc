"""Timings over a chain of tiers (issue 28 targets: three tiers on llama-3.1-8b with 256 output tokens,
dp <= 50 ms, exact <= 200 ms). Prints a table of medians (wall ms, then CPU ms: on a loaded machine the CPU
column moves less) per case: building the tier costs, then each solver alone on them.

    .venv/bin/python benchmarks/bench_tiers.py [--repeats 7] [--tokens 256] [--deadline-ms 60000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from splittui.llm import load_any
from splittui.model import Scenario
from splittui.solvers.tiers import tier_dp, tier_exact, tier_exact_limits
from splittui.tiers import Hop, Tier, Topology, tier_phases

CHAINS = {
    "phone→edge→cloud": (("phone", "phone-soc"), ("edge", "jetson-orin"), ("cloud", "a100-80gb")),
    "phone→edge→region→cloud": (("phone", "phone-soc"), ("edge", "jetson-orin"), ("region", "l4"),
                                ("cloud", "a100-80gb")),
}
HOPS = (Hop(50, 100, 5), Hop(200, 500, 20), Hop(1000, 1000, 10))


def _median(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--deadline-ms", type=float, default=60000.0)
    args = ap.parse_args()
    sc = Scenario(deadline_ms=args.deadline_ms, seq_len=args.seq, gen_tokens=args.tokens)
    print(f"llama-3.1-8b · seq {args.seq} · {args.tokens} output tokens · deadline {args.deadline_ms:g} ms · "
          f"T 1 ms · median of {args.repeats}")
    print(f"{'chain':<26} {'step':<22} {'wall ms':>9} {'cpu ms':>9}")
    for label, tiers in CHAINS.items():
        topo = Topology(tiers=tuple(Tier(n, d) for n, d in tiers), hops=HOPS[:len(tiers) - 1])
        profiles = {d: load_any("llama-3.1-8b", client_device=tiers[0][1], server_device=d, include_seq=[args.seq])
                    for _, d in tiers[1:]}
        ps = [profiles[tiers[1][1]], *(profiles[d] for _, d in tiers[1:])]
        ph = tier_phases(ps, sc, topo)
        c = ph.composite()
        steps: list[tuple[str, Callable[[], object]]] = [
            ("tier costs", lambda ps=ps, topo=topo: tier_phases(ps, sc, topo)),
            ("dp (T = 1 ms)", lambda c=c: tier_dp(c, 1.0)),
            ("exact", lambda c=c: tier_exact(c)),
            ("exact, TTFT 8 s limit", lambda ph=ph: tier_exact_limits(ph, 8000.0, None)),
        ]
        for name, fn in steps:
            wall, cpu = _median(fn, args.repeats)
            print(f"{label:<26} {name:<22} {wall:>9.1f} {cpu:>9.1f}")


if __name__ == "__main__":
    main()
