"""Issue 28 item 3: the cost of `sweep` rows over a chain of tiers, against one dp and one exact.

    python benchmarks/bench_tier_sweep.py

The done-when chain (llama-3.1-8b, phone=phone-soc → edge=jetson-orin → cloud=a100-80gb, hops 50/100/5 and
200/500/20, 1024 + 256 tokens, deadline 60 s). Prints the CPU and wall time (best of three) of a 10-row sweep
two ways: 10 bandwidths of hop 1 × 1 deadline (each row its own pair: one `tier_phases`, one dp pass, one
exact pass) and 1 pair × 10 deadlines (one front per solver for all 10), and beside them one `tier_dp` and
one `tier_exact` on the same chain, so the rows compare as a ratio within one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from splittui.llm import load_any
from splittui.model import Scenario
from splittui.solvers.tiers import tier_dp, tier_exact
from splittui.sweep import SweepConfig
from splittui.tier_sweep import run_tier_sweep
from splittui.tiers import Hop, Tier, Topology, tier_phases

TOPO = Topology(tiers=(Tier("phone", "phone-soc"), Tier("edge", "jetson-orin"), Tier("cloud", "a100-80gb")),
                hops=(Hop(50, 100, 5), Hop(200, 500, 20)))
BANDWIDTHS = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
DEADLINES = (60000.0, 55000.0, 50000.0, 45000.0, 40000.0, 35000.0, 30000.0, 25000.0, 20000.0, 17000.0)


def best_of(f: Callable[[], object], n: int = 3) -> tuple[float, float]:
    """(CPU s, wall s) of the fastest of n runs."""
    best = (float("inf"), float("inf"))
    for _ in range(n):
        c, w = time.process_time(), time.perf_counter()
        f()
        best = min(best, (time.process_time() - c, time.perf_counter() - w))
    return best


def main() -> None:
    edge = load_any("llama-3.1-8b", client_device="phone-soc", server_device="jetson-orin", include_seq=[1024])
    cloud = load_any("llama-3.1-8b", client_device="phone-soc", server_device="a100-80gb", include_seq=[1024])
    profiles = [edge, edge, cloud]
    cases = [("10 bandwidths x 1 deadline", SweepConfig(seq_lens=(1024,), gen_tokens=256, deadlines=(60000.0,),
                                                        bandwidths=BANDWIDTHS), 0),
             ("1 pair x 10 deadlines", SweepConfig(seq_lens=(1024,), gen_tokens=256, deadlines=DEADLINES), None)]
    print(f"{'case':34} {'CPU ms':>8} {'ms/row':>7} {'wall ms':>8}")
    for label, cfg, hop in cases:
        cpu, wall = best_of(lambda cfg=cfg, hop=hop: run_tier_sweep(profiles, TOPO, cfg, hop=hop))
        print(f"{label:34} {cpu * 1e3:8.0f} {cpu * 1e2:7.0f} {wall * 1e3:8.0f}")
    c = tier_phases(profiles, Scenario(deadline_ms=60000, seq_len=1024, gen_tokens=256), TOPO).composite()
    for label, f in (("one tier_dp (T = 60 ms, the sweep's)", lambda: tier_dp(c, 60.0)),
                     ("one tier_exact", lambda: tier_exact(c))):
        cpu, wall = best_of(f)
        print(f"{label:34} {cpu * 1e3:8.0f} {'':7} {wall * 1e3:8.0f}")


if __name__ == "__main__":
    main()
