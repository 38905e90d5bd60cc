"""Issue 27's simulation speed: 10^5 requests through `simulate_server`, one and three client classes.

    python benchmarks/bench_capacity_sim.py [--requests 100000] [--reference]

Llama-3.1-8B on an A100-80GB server; classes jetson-orin 20/100, phone-soc 10/50, laptop-cpu 20/100
Mbit/s (weights 0.5/0.3/0.2), 512 + 64 tokens, cut after 0, 9 and 17 layers. Prints CPU seconds per
case; `--reference` also times the loop before it was made fast (tests/core/capacity_oracle.py) in the
same run, so the two compare as a ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from splittui.devices import resolve_device
from splittui.llm import load_any
from splittui.model import Scenario
from splittui.sim.capacity import SimOptions, poisson_workload, simulate_server
from splittui.sim.server import client_class, server_model

_MIX = (("jetson-orin", 20.0, 100.0, 0.5), ("phone-soc", 10.0, 50.0, 0.3), ("laptop-cpu", 20.0, 100.0, 0.2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--reference", action="store_true", help="also time the old loop (tests/core)")
    a = ap.parse_args()
    mix = []
    for dev, up, down, w in _MIX:
        p = load_any("llama-3.1-8b", client_device=dev, server_device="a100-80gb", include_seq=[512, 575])
        mix.append((p, Scenario(deadline_ms=1e9, up_mbps=up, down_mbps=down, seq_len=512, gen_tokens=64), w))
    n = mix[0][0].n_layers
    cuts = [(1,) * k + (0,) * (n - k) for k in (0, 9, 17)]
    runs = []
    for label, m, rate in (("one class", mix[:1], 9.0), ("three classes", mix, 7.0)):
        classes = [client_class(p, sc, pol, name=f"c{i}", weight=w) for i, ((p, sc, w), pol) in enumerate(zip(m, cuts))]
        srv = server_model(m[0][0], m[0][1], resolve_device("a100-80gb"), classes)
        wl = poisson_workload(rate, a.requests, classes, seed=0)
        fns = [("fast", simulate_server)]
        if a.reference:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
            from capacity_oracle import simulate_server_reference
            fns.append(("reference", simulate_server_reference))
        for name, fn in fns:
            t0 = time.process_time()
            run = fn(wl, classes, srv, SimOptions())
            runs.append((label, name, time.process_time() - t0, run.completed))
    print(f"{'case':<15}{'loop':<11}{'CPU s':>8}{'completed':>11}")
    for label, name, s, done in runs:
        print(f"{label:<15}{name:<11}{s:>8.2f}{done:>11,}")


if __name__ == "__main__":
    main()
