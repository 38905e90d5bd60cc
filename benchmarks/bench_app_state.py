"""The solve worker alone (no drawing): `compute_choice` per knob change, median and p90 over n runs
(wall), and the median CPU time (process time: on a loaded machine it moves less than wall time).

Rows: gpt2-like at the app's defaults (T = 1 ms, deadline 1,500 ms) without and with the bandwidth
sweep (the Bandwidth tab; the deadline moves each run, so the sweep is recomputed every time);
qwen2.5-7b and llama-3.1-8b (analytic, bf16) with 256 output tokens; a device switch on llama-3.1-8b
with the profile cache cold (built from the config) and warm.

Usage: python benchmarks/bench_app_state.py [n, default 15]
"""

from __future__ import annotations

import statistics
import sys
import time

from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.tui import profile_choice
from splittui.tui.profile_choice import ProfileChoice
from splittui.tui.state import Parts, compute_choice


def timed(fn, n: int) -> tuple[float, float, float]:
    xs, cpu = [], []
    for i in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(i)
        xs.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    xs.sort()
    return statistics.median(xs), xs[min(n - 1, int(0.9 * n))], statistics.median(cpu)


def main(n: int) -> None:
    gpt2 = {"gpt2-like": load_profile("gpt2-like")}
    g = ProfileChoice("gpt2-like")
    def deadline(i: int) -> float:
        return 1500.0 + (i % 2) * 10

    rows = [
        ("gpt2-like, numbers + frontier + timelines",
         lambda i: compute_choice(g, gpt2, Scenario(deadline_ms=deadline(i)))),
        ("gpt2-like, + bandwidth sweep",
         lambda i: compute_choice(g, gpt2, Scenario(deadline_ms=deadline(i)), parts=Parts(sweep=True))),
        ("gpt2-like, 256 output tokens", lambda i: compute_choice(
            g, gpt2, Scenario(deadline_ms=20_000 + i, gen_tokens=256))),
        ("qwen2.5-7b bf16, 256 output tokens", lambda i: compute_choice(
            ProfileChoice("qwen2.5-7b", "laptop-cpu", "a100-80gb", "bf16"), {}, Scenario(deadline_ms=20_000 + i,
                                                                                         gen_tokens=256))),
        ("llama-3.1-8b bf16, 256 output tokens", lambda i: compute_choice(
            ProfileChoice("llama-3.1-8b", "laptop-cpu", "a100-80gb", "bf16"), {}, Scenario(deadline_ms=20_000 + i,
                                                                                           gen_tokens=256))),
    ]
    devices = ["jetson-orin", "apple-m2", "phone-soc", "raspberry-pi-5", "laptop-cpu"]

    def switch(i: int, cold: bool) -> None:
        if cold:
            profile_choice._load.cache_clear()
        compute_choice(ProfileChoice("llama-3.1-8b", devices[i % len(devices)], "h100-sxm", "int4"), {},
                       Scenario(deadline_ms=20_000, gen_tokens=256))

    rows += [("llama-3.1-8b device switch, cache cold", lambda i: switch(i, True)),
             ("llama-3.1-8b device switch, cache warm", lambda i: switch(i, False))]
    print(f"compute_choice (the solve worker's whole job per key press), ms; n = {n}")
    print(f"{'case':<44} {'median':>8} {'p90':>8} {'cpu':>8}")
    for name, fn in rows:
        fn(0)  # warm-up
        med, p90, cpu = timed(fn, n)
        print(f"{name:<44} {med:8.1f} {p90:8.1f} {cpu:8.1f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
