"""How long a split-run session takes to open and answer one request: children spawned (each imports torch)
vs forked from one server process that imported torch once (`splittui.profiler.procs.torch_context`).

    .venv/bin/python benchmarks/bench_session_start.py [--sessions 4]

Each row opens a `runner.session.Session` on the runner-toy chain (1 server thread), runs one request
(a 16-token input, alternating placement, 2 repeats) and closes it. Wall ms per session, and the CPU of
the child processes this process reaped (spawned children only: forked ones are the fork server's
children, so their CPU is not counted here; the wall time is the comparison). The forkserver's first
session includes starting that server (importing torch once).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time


def _children_cpu() -> float:
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return c.ru_utime + c.ru_stime


def _one(ctx) -> tuple[float, float, bool]:
    from splittui.runner.chains import ChainSpec
    from splittui.runner.session import Session

    t0, c0 = time.perf_counter(), _children_cpu()
    s = Session(ChainSpec("runner-toy"), server_threads=1)
    s._ctx = ctx
    with s:
        n = s.stages
        out = s.run({"seq": 16, "policy": [1, 0] * (n // 2) + [1] * (n % 2), "up_mbps": 500.0,
                     "down_mbps": 500.0, "delay_ms": 1.0, "repeats": 2})
    return (time.perf_counter() - t0) * 1e3, _children_cpu() - c0, bool(out["match"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=4)
    args = ap.parse_args()
    from splittui.profiler.procs import torch_context

    print("| children | session | wall ms | children CPU ms (reaped) | outputs match |")
    print("|---|---:|---:|---:|---|")
    med = {}
    for label, ctx in (("spawned", mp.get_context("spawn")), ("forked (torch_context)", torch_context())):
        walls = []
        for k in range(args.sessions):
            wall, cpu, ok = _one(ctx)
            walls.append(wall)
            print(f"| {label} | {k + 1} | {wall:,.0f} | {cpu * 1e3:,.0f} | {'yes' if ok else 'NO'} |")
        med[label] = statistics.median(walls[1:] if len(walls) > 1 else walls)
    print(f"\nmedian wall of sessions 2..{args.sessions}: spawned {med['spawned']:,.0f} ms, forked "
          f"{med['forked (torch_context)']:,.0f} ms")


if __name__ == "__main__":
    main()
