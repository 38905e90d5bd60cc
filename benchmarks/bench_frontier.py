"""The exact frontier: one label pass read at every point against one exact solve per point, in one run.

Both paths must give the same points (checked here too); the table prints the points and the wall time of
each path (best of `--repeats`). Without pins the frontier is `exact_frontier` of the request's chain;
with pins it is `request_frontier` (the pass over the barred chain, `goal._pins_reader`).

Usage: python benchmarks/bench_frontier.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import splittui
from splittui.generation import phase_costs
from splittui.llm import load_any
from splittui.solvers import exact, goal

CASES = [
    ("gpt2-like seq 256", lambda: splittui.load_profile("gpt2-like"), dict(seq_len=256)),
    ("bert-base seq 128, 20 Mbit/s", lambda: splittui.load_profile("bert-base"), dict(seq_len=128, up_mbps=20)),
    ("llama-3.1-8b Pi 5 -> L4, seq 1024, 5 Mbit/s",
     lambda: load_any("llama-3.1-8b", client_device="raspberry-pi-5", server_device="l4"),
     dict(seq_len=1024, up_mbps=5, deadline_ms=900_000)),
    ("llama-3.2-1b phone -> A100, 16 output tokens",
     lambda: load_any("llama-3.2-1b", client_device="phone-soc", server_device="a100-80gb"),
     dict(seq_len=512, gen_tokens=16, deadline_ms=20_000)),
    ("gpt2-like, pins 0,193,194", lambda: splittui.load_profile("gpt2-like"), dict(pin_client=(0, 193, 194))),
    ("gpt2-like, pins 5,6 on server, 8 tokens", lambda: splittui.load_profile("gpt2-like"),
     dict(pin_server=(5, 6), gen_tokens=8)),
    ("gpt2-like, pin 0, client 8 GB", lambda: splittui.load_profile("gpt2-like"),
     dict(pin_client=(0,), client_mem_gb=8.0)),
]


def _front(ph, sc):
    return goal.request_frontier(ph, sc)


def _per_point(ph, sc):
    keep_fronts, keep_pins = exact.final_fronts, goal._pins_reader
    exact.final_fronts, goal._pins_reader = (lambda c, d: None), (lambda *a: None)
    try:
        return goal.request_frontier(ph, sc)
    finally:
        exact.final_fronts, goal._pins_reader = keep_fronts, keep_pins


def _best(fn, ph, sc, repeats: int):
    out, best = None, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(ph, sc)
        best = min(best, time.perf_counter() - t0)
    return out, best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'case':48} {'points':>6} {'per point ms':>13} {'one pass ms':>12} {'ratio':>6}  same")
    for name, make, knobs in CASES:
        prof = make()
        sc = splittui.Scenario(**{"seq_len": prof.default_seq, **knobs})
        ph = phase_costs(prof, sc)
        fast, t_fast = _best(_front, ph, sc, args.repeats)
        slow, t_slow = _best(_per_point, ph, sc, args.repeats)
        same = len(fast) == len(slow) and all(
            a.deadline_ms == b.deadline_ms and a.result.policy == b.result.policy for a, b in zip(fast, slow))
        print(f"{name:48} {len(fast):>6} {t_slow:>13.0f} {t_fast:>12.0f} {t_slow / t_fast:>6.1f}  {same}")


if __name__ == "__main__":
    main()
