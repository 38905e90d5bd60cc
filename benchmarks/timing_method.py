"""Does `splittui profile` time stages the way `splittui run` executes them? (a report, not a test)

Two comparisons, each in alternating rounds so that a drift of load on this shared machine reaches
both sides alike; prints a markdown table with the cores other processes kept busy meanwhile.

- server: one in-order pass of the whole chain with N torch threads in this process (how the
  profile measures a ``cpu:N`` server) against the same pass in the run's own server process (a
  spawned ``Session`` server, timed per stage as the composition check does). Wall clock, ms.
- decode: the sum of the profile's per-stage decode times at context c (``decode_fields``: in-order
  one-token steps over a KV cache) against the run's own all-client decode steps after a prefill
  of c tokens (``runner.decoding.run_stages``, which is what a TPOT measures). Wall clock and this
  thread's CPU time (which a busy machine disturbs far less), ms.

    .venv/bin/python benchmarks/timing_method.py                       # bert-base 128 (server), gpt2-like 128 (decode)
    .venv/bin/python benchmarks/timing_method.py --server-model gpt2-like --seq 256 --threads 2 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

import torch


def _server_rounds(model: str, seq: int, threads: int, rounds: int) -> dict:
    from splittui.profiler.busy import OthersCpu
    from splittui.runner.chains import ChainSpec, build_chain
    from splittui.runner.client import Connection
    from splittui.runner.link import Link
    from splittui.runner.server import timed_stages
    from splittui.runner.session import Session

    spec = ChainSpec(model)
    chain, fast = build_chain(spec), Link(None, 0.0)
    n, inputs = len(chain.stages), chain.make_input(seq)
    here, there = [], []
    with Session(spec, server_threads=threads) as session:
        conn = Connection(session.host, session.port)
        conn.hello(chain.model)
        torch.set_num_threads(threads)
        timed_stages(chain, inputs, 0, n)
        conn.run(0, n, inputs, fast, fast, per_stage=True)  # both warm
        watch = OthersCpu(session.pids)
        for _ in range(rounds):
            here.append(sum(timed_stages(chain, inputs, 0, n)[1]))
            there.append(sum(conn.run(0, n, inputs, fast, fast, per_stage=True)[1]["stage_ms"]))
        others = watch.cores()
        conn.close()
    return {"here": here, "there": there, "others": others}


def _decode_rounds(model: str, seq: int, rounds: int, steps: int = 6) -> dict:
    import splittui.profiler.decode as dec
    from splittui.profiler.busy import OthersCpu
    from splittui.profiler.servers import PRESETS
    from splittui.runner.chains import ChainSpec, build_chain
    from splittui.runner.decoding import next_token, run_stages

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    chain = build_chain(ChainSpec(model))
    n, ids = len(chain.stages), chain.make_input(seq)[0]
    out: dict[str, list[float]] = {"profile_wall": [], "profile_cpu": [], "run_wall": [], "run_cpu": []}
    watch = OthersCpu()
    for _ in range(rounds):
        for clock, key in ((time.perf_counter, "profile_wall"), (time.thread_time, "profile_cpu")):
            dec.time = types.SimpleNamespace(perf_counter=clock)  # the profiler's own per-stage stamps
            try:
                got = dec.decode_fields(chain, [seq], server=PRESETS["rtx3090"], repeats=5)
            finally:
                dec.time = time
            out[key].append(sum(v["dec_client_ms"][0] for v in got["layers"].values()))
        cache: dict = {}
        with torch.no_grad():
            tok = next_token(run_stages(chain, (ids,), 0, n, cache, None))
            walls, cpus = [], []
            for t in range(steps):
                w0, c0 = time.perf_counter(), time.thread_time()
                tok = next_token(run_stages(chain, (tok,), 0, n, cache, seq + t))
                walls.append((time.perf_counter() - w0) * 1e3)
                cpus.append((time.thread_time() - c0) * 1e3)
        out["run_wall"].append(statistics.median(walls[1:]))
        out["run_cpu"].append(statistics.median(cpus[1:]))
    torch.set_flush_denormal(False)
    return {**out, "others": watch.cores()}


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} (min {min(values):.1f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server-model", default="bert-base")
    p.add_argument("--decode-model", default="gpt2-like")
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="the server's torch threads")
    p.add_argument("--rounds", type=int, default=4)
    a = p.parse_args()
    s = _server_rounds(a.server_model, a.seq, a.threads, a.rounds)
    d = _decode_rounds(a.decode_model, a.seq, a.rounds)
    print("| comparison | profile's way, ms: median (min) | run's way, ms: median (min) | other processes, cores |")
    print("|---|---|---|---|")
    print(f"| {a.server_model} seq {a.seq}, server pass, {a.threads} threads, wall | in this process: "
          f"{_ms(s['here'])} | server process: {_ms(s['there'])} | {s['others']} |")
    print(f"| {a.decode_model} context {a.seq}, client decode step, wall | {_ms(d['profile_wall'])} | "
          f"{_ms(d['run_wall'])} | {d['others']} |")
    print(f"| {a.decode_model} context {a.seq}, client decode step, thread CPU | {_ms(d['profile_cpu'])} | "
          f"{_ms(d['run_cpu'])} | |")


if __name__ == "__main__":
    main()
