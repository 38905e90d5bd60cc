"""Calibration check (a report, not a test): do the per-stage client times add up to the model?

For each model and two sequence lengths, on the client (1 torch thread, warm-up first):

- whole: the unsplit model's forward (``chain.reference``), median of rounds;
- staged: in the same rounds, interleaved with it, the chain run stage by stage with each stage
  timed on its own, summed (what the profiler measures, side by side with the whole forward, so a
  change of load on this shared machine hits both alike);
- shipped: the sum of the per-stage `client_ms` in the shipped profile (measured earlier, under
  whatever load the machine had then), and `profiling.pass_ms`, the whole-chain time of the
  profiler's own timed passes.

Target: within 10 %. Prints a markdown table.

    .venv/bin/python benchmarks/calibrate.py                       # all four, default lengths
    .venv/bin/python benchmarks/calibrate.py gpt2-like:512,2048    # one model, chosen lengths
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from splittui.profiler.chain import run_chain
from splittui.profiler.zoo import build
from splittui.profiles import load_profile

DEFAULTS = {"gpt2-like": (512, 2048), "bert-base": (512, 2048), "transformer": (512, 2048), "cmt-s": (224, 672)}


def _staged_s(chain, inputs) -> float:
    state, total = inputs, 0.0
    for stage in chain.stages:
        t0 = time.perf_counter()
        state = stage.module(*state)
        total += time.perf_counter() - t0
    return total


@torch.no_grad()
def side_by_side(chain, seq: int) -> tuple[float, float, int]:
    """(whole forward ms, summed stage ms, rounds): medians over interleaved rounds."""
    inputs = chain.make_input(seq)
    t0 = time.perf_counter()
    chain.reference(*inputs)  # warm-up of both
    first = time.perf_counter() - t0
    run_chain(chain, inputs)
    rounds = 5 if first < 2.0 else 3 if first < 20 else 1
    whole, staged = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        chain.reference(*inputs)
        whole.append(time.perf_counter() - t0)
        staged.append(_staged_s(chain, inputs))
    return statistics.median(whole) * 1e3, statistics.median(staged) * 1e3, rounds


def _pct(a: float, b: float) -> str:
    return f"{100 * (a - b) / b:+.1f} %"


def main(argv: list[str]) -> int:
    plan = dict(DEFAULTS)
    if argv:
        plan = {a.split(":")[0]: tuple(int(s) for s in a.split(":")[1].split(",")) for a in argv}
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    print("| model | seq | whole forward ms (rounds) | Σ stages, same rounds | diff | shipped Σ client_ms | diff | profiler's passes ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, seqs in plan.items():
        prof, chain = load_profile(name), build(name)
        for seq in seqs:
            k = prof.seq_lens.index(seq)
            shipped = sum(layer.client_ms[k] for layer in prof.layers)
            passes = prof.extra.get("profiling", {}).get("pass_ms", [[]] * len(prof.seq_lens))[k]
            whole, staged, n = side_by_side(chain, seq)
            print(f"| {name} | {seq} | {whole:,.1f} ({n}) | {staged:,.1f} | {_pct(staged, whole)} | {shipped:,.1f} "
                  f"| {_pct(shipped, whole)} | {statistics.median(passes) if passes else float('nan'):,.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
