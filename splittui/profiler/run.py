"""Live profiling: run a chain stage by stage and build a measured `splittui.profile/1` document.

Per stage and sequence length: analytic FLOPs (the stage's own formula; 2 x fvcore when a user
stage has none), fvcore's multiply-adds as a cross-check (its tracing run doubles as a warm-up),
`client_ms` = median of timed runs with ``torch.set_num_threads(threads)`` after a warm-up,
`server_ms` from a roofline preset or measured (CUDA / this CPU), `in_bytes` = the measured size of
the state entering the stage, `mem_bytes` = weights + state in + state out + attention scores.

Timing is in order, as a request runs: a first pass over the chain warms every stage up, then up
to `repeats - 1` timed passes run the whole chain again (as many as fit in PASS_BUDGET_S per
length, at least one), each stage timed where it runs in the pass, and a stage's time is the
median of its samples (repeats=1: the first pass's time). So every stage meets the caches the
stages before it leave, not the warm caches of timing one stage over and over, and a burst of load
from another process on this shared CPU spoils one sample of many stages instead of every sample of
a few. A server measured on this CPU (``cpu:N``) runs its passes in the same loop, alternating pass
by pass with the client's: a server using every core is slowed far more by another process than the
1-thread client, so both sides must see the same load. Its passes run in a process of its own with
N threads (server_proc.py), as `splittui run`'s server does, wherever the chain can be rebuilt there.
The biggest lengths get one sample, so that a model stays within minutes on one core. Each timed
pass's whole-chain total is kept in `profiling.pass_ms` (the server's in `server_pass_ms`).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..attention import FULL, Attention, parse_attention, variant_name
from ..profiles import profile_from_doc
from . import PREFILL_TIMING, ProfilingCancelled
from .busy import OthersCpu
from .chain import Chain, state_bytes
from .counting import count_kernels, fvcore_count
from .prepare import KINDS, _build, _chain_iv, _profile_iv, _server_process, load_factory
from .server_proc import ServerProcess
from .servers import Measured, Roofline
from .speed import probe_ms, probe_record

__all__ = ["profile_model", "load_factory", "KINDS", "PREFILL_TIMING"]

PASS_BUDGET_S = 60.0  # timed passes per length: as many as fit in this (at least one)


@dataclass
class StageRecord:
    flops: float
    mac_flops: float | None
    fv_macs: float | None
    unsupported: dict
    client_ms: float
    runs: int
    in_bytes: int
    out_bytes: int
    weight_bytes: int
    scratch_bytes: int
    kernels: int = 1
    server_ms: float | None = None


@dataclass
class _Run:
    chain: Chain
    seq_lens: list[int]
    repeats: int
    progress: Callable | None
    should_stop: Callable | None
    total: int
    done: int = 0
    kernels: dict = field(default_factory=dict)
    pass_ms: list = field(default_factory=list)  # per length: whole-chain time of each timed client pass
    server_pass_ms: list = field(default_factory=list)  # the same for a server measured here
    load: list = field(default_factory=list)     # 1-minute load average at start and end (shared machines)
    others: float | None = None  # cores other processes kept busy meanwhile (busy.py)
    server_process: bool = False  # a cpu:N server timed in its own process (server_proc.py)
    probe: list = field(default_factory=list)    # the reference workload's ms before and after (speed.py)

    def tick(self, label: str, steps: int = 1) -> None:
        self.done += steps
        if self.progress is not None:
            self.progress(self.done, self.total, label)

    def skip(self, steps: int) -> None:
        """Passes the budget left out: progress jumps over them."""
        if steps:
            self.tick("skipping passes over the time budget", steps)

    def check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise ProfilingCancelled("profiling cancelled")


def profile_model(model: str | Chain, seq_lens: list[int], *, repeats: int = 5, threads: int = 1,
                  server: str = "rtx3090", progress: Callable[[int, int, str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, fvcore: bool = True,
                  attention: Attention = FULL, with_server: Callable[[ServerProcess], None] | None = None) -> dict:
    """Profile a zoo model (by name, at `attention`) or a Chain at `seq_lens`; returns a validated
    profile doc. A chain built with a variant (``chain.meta["attention"]``) is named and marked by it.
    `with_server(proc)` is called once the passes are timed, while a ``cpu:N`` server's own process still
    lives (not at all without one): a caller's further measurement against that process.

    Raises ProfilingCancelled as soon as `should_stop()` returns True (checked before each stage).
    """
    seq_lens, srv = _profile_iv(seq_lens, repeats, threads, server)
    if not isinstance(model, Chain):
        attention.check_seq(seq_lens)
    chain = model if isinstance(model, Chain) else _build(model, attention)
    _chain_iv(chain)
    sides = 2 if srv.measured else 1
    run = _Run(chain, seq_lens, repeats, progress, should_stop, sides * repeats * len(seq_lens) * len(chain.stages))
    started = time.perf_counter()
    ours = [os.getpid()]                       # and the server process while it lives: not "others"
    others = OthersCpu(lambda: ours)
    run.load.append(_load_avg())
    run.probe.append(probe_ms())
    old_threads = torch.get_num_threads()
    try:
        torch.set_flush_denormal(True)
        torch.set_num_threads(threads)
        here = srv.threads if isinstance(srv, Measured) and srv.device == "cpu" else None
        with _server_process(chain, here) as proc:
            run.server_process = proc is not None
            ours += [proc.pid] if proc is not None else []
            table = [_passes_at(run, s, fvcore, threads, here, proc) for s in seq_lens]
            if isinstance(srv, Roofline):
                _roofline_server(srv, table)
            elif here is None:
                _measured_server(run, srv, table)
            run.others = others.cores()           # before the server process ends and its CPU time with it
            if proc is not None and with_server is not None:
                with_server(proc)
    finally:  # leave the process as it was: threads and denormal handling (off by default)
        torch.set_num_threads(old_threads)
        torch.set_flush_denormal(False)
    run.load.append(_load_avg())
    run.probe.append(probe_ms())
    doc = _document(run, table, srv, threads, time.perf_counter() - started)
    profile_from_doc(doc, source=f"profile of {chain.model}")
    return doc


def _as_tuple(out) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def _timed(fn, sync=None) -> tuple[float, tuple]:
    if sync:
        sync()
    t0 = time.perf_counter()
    out = fn()
    if sync:
        sync()
    return time.perf_counter() - t0, out


def _n_extra(first_pass_s: float, repeats: int) -> int:
    """Timed passes after the warm-up pass: as many as fit the budget, at least 1, at most repeats - 1."""
    return min(repeats - 1, max(1, int(PASS_BUDGET_S // max(first_pass_s, 1e-9))))


@dataclass(frozen=True)
class _Side:
    """One side timed in a length's passes: its label, torch threads (None: leave as set), device,
    sync (CUDA) and an untimed hook ``before(i, stage, state)`` for the first pass."""

    label: str
    threads: int | None = None
    device: str = "cpu"
    sync: Callable | None = None
    before: Callable | None = None
    remote: Callable[[bool], list[float]] | None = None  # a pass in the server process: first -> seconds


def _pass(run: _Run, state: tuple, side: _Side, first: bool) -> tuple[list[float], tuple]:
    """Run the chain once in order, timing every stage where it runs; `side.before` runs untimed
    before each stage of the first pass."""
    if side.remote is not None:
        run.check()
        remote_times = side.remote(first)
        run.tick(f"{side.label} · whole pass", len(remote_times))
        return remote_times, state
    if side.threads is not None:
        torch.set_num_threads(side.threads)
    times = []
    for i, stage in enumerate(run.chain.stages):
        run.check()
        if first and side.before is not None:
            side.before(i, stage, state)
        dt, state = _timed(lambda stage=stage, state=state: _as_tuple(stage.module(*state)), side.sync)
        times.append(dt)
        run.tick(f"{side.label} · {stage.name}")
    return times, state


def _sampled(run: _Run, seq: int, sides: list[_Side]) -> list[tuple[list[float], list[float], int]]:
    """Per side: per-stage median seconds over in-order passes, each pass's whole-chain ms, and the
    size of the model's output. The sides' passes alternate (client, server, client, ...), so a drift
    in this shared machine's load reaches every side alike."""
    def fresh(side):
        if side.remote is not None:
            return ()                                  # the server process makes its own input
        return tuple(t.to(side.device) for t in run.chain.make_input(seq))

    firsts = [_pass(run, fresh(side), side, True) for side in sides]
    extra = _n_extra(sum(sum(f[0]) for f in firsts), run.repeats)
    run.skip((run.repeats - 1 - extra) * len(run.chain.stages) * len(sides))
    passes: list[list[list[float]]] = [[] for _ in sides]
    for _ in range(extra):
        for k, side in enumerate(sides):
            passes[k].append(_pass(run, fresh(side), side, False)[0])
    out = []
    for (first, state), got in zip(firsts, passes, strict=True):
        got = got or [first]  # the first pass only warms up when later passes exist (it runs cold)
        out.append(([statistics.median(row) for row in zip(*got, strict=False)],
                    [round(sum(p) * 1e3, 3) for p in got], state_bytes(state)))
    return out


def _stage_weights(module: torch.nn.Module, state: tuple) -> int:
    """Weight bytes a stage reads at this state: its own ``weight_bytes(*state)`` when it has one
    (a Linformer projection reads only the rows the sequence uses), else all its parameters."""
    own = getattr(module, "weight_bytes", None)
    return int(own(*state)) if callable(own) else _weights(module)


def _weights(module: torch.nn.Module) -> int:
    seen = {id(p): p for p in module.parameters()}
    return int(sum(p.numel() * p.element_size() for p in seen.values()))


@torch.no_grad()
def _passes_at(run: _Run, seq: int, fvcore: bool, threads: int, server_threads: int | None,
               proc: ServerProcess | None = None) -> list[StageRecord]:
    """The client's in-order passes at ``seq`` (and, with ``server_threads``, a CPU server's, alternating;
    in `proc` where the chain has one)."""
    records: list[StageRecord] = []

    def before(i, stage, state):
        records.append(_describe_stage(run, i, stage, state, fvcore))

    sides = [_Side(f"seq {seq}", threads, before=before)]
    if proc is not None:
        sides.append(_Side(f"server seq {seq}", server_threads, remote=lambda first: proc.pass_times(seq, first)))
    elif server_threads is not None:
        sides.append(_Side(f"server seq {seq}", server_threads, before=_warm))
    got = _sampled(run, seq, sides)
    (medians, totals, out_bytes) = got[0]
    run.pass_ms.append(totals)
    outs = [r.in_bytes for r in records[1:]] + [out_bytes]
    for rec, med, out in zip(records, medians, outs, strict=False):
        rec.client_ms, rec.runs, rec.out_bytes = med * 1e3, len(totals), out
    if server_threads is not None:
        run.server_pass_ms.append(got[1][1])
        for rec, med in zip(records, got[1][0], strict=True):
            rec.server_ms = med * 1e3
    return records


def _warm(i, stage, state) -> None:
    stage.module(*state)


def _describe_stage(run, i, stage, state, fvcore) -> StageRecord:
    """Everything but the time: FLOPs, fvcore's count, sizes, kernels; warms the stage up."""
    fv = fvcore_count(stage.module, state) if fvcore else None
    if i not in run.kernels:
        run.kernels[i] = count_kernels(stage.module, state)
    if fv is None:
        stage.module(*state)  # warm-up (fvcore's tracing run is one)
    flops = stage.flops(state) if stage.flops else (2.0 * fv.total if fv else 0.0)
    scratch = getattr(stage.module, "scratch_bytes", None)
    return StageRecord(
        flops=float(flops), mac_flops=stage.mac_flops(state) if stage.mac_flops else None,
        fv_macs=fv.total if fv else None, unsupported=fv.unsupported if fv else {},
        client_ms=0.0, runs=0, in_bytes=state_bytes(state), out_bytes=0,
        weight_bytes=_stage_weights(stage.module, state), scratch_bytes=int(scratch(*state)) if scratch else 0,
        kernels=run.kernels[i])


def _roofline_server(srv: Roofline, table) -> None:
    for records in table:
        for r in records:
            moved = r.in_bytes + r.out_bytes + r.weight_bytes + 2 * r.scratch_bytes
            r.server_ms = srv.time_ms(r.flops, moved, r.kernels)


@torch.no_grad()
def _measured_server(run: _Run, srv: Measured, table) -> None:
    """A CUDA server: its own in-order passes after the client's (the chain moves to the device once)."""
    device = torch.device(srv.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    try:
        _to(run.chain, device)
        for seq, records in zip(run.seq_lens, table, strict=False):
            (medians, totals, _), = _sampled(run, seq, [_Side(f"server seq {seq}", None, srv.device, sync, _warm)])
            run.server_pass_ms.append(totals)
            for rec, med in zip(records, medians, strict=False):
                rec.server_ms = med * 1e3
    finally:
        _to(run.chain, torch.device("cpu"))


def _to(chain: Chain, device) -> None:
    for stage in chain.stages:
        stage.module.to(device)


def _load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _server_text(srv, own_process: bool = False) -> str:
    if isinstance(srv, Roofline):
        return srv.describe()
    if srv.device == "cuda":
        return (f"measured on CUDA: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {PREFILL_TIMING} "
                "after the client's: warm-up pass, then per stage the median")
    where = "in its own process, as `splittui run`'s server" if own_process else "in the profiling process"
    return (f"measured on this CPU ({_cpu_name()}) with {srv.threads} torch thread(s) {where}, {PREFILL_TIMING} "
            "alternating with the client's: warm-up pass, then per stage the median")


def _document(run, table, srv, threads, wall_s) -> dict:
    chain, seq_lens, repeats = run.chain, run.seq_lens, run.repeats
    names = [s.name for s in chain.stages]
    layers = []
    for i, stage in enumerate(chain.stages):
        rows = [records[i] for records in table]
        layers.append({
            "name": stage.name, "kind": stage.kind,
            "flops": [r.flops for r in rows],
            "client_ms": [round(r.client_ms, 6) for r in rows],
            "server_ms": [round(r.server_ms, 6) for r in rows],
            "in_bytes": [float(r.in_bytes) for r in rows],
            "mem_bytes": [float(r.weight_bytes + r.in_bytes + r.out_bytes + r.scratch_bytes) for r in rows],
        })
    client = (f"{_cpu_name()} ({platform.node()}), torch {torch.__version__}, {threads} thread(s); "
              f"{PREFILL_TIMING}: a warm-up pass over the chain, then per stage the median over up to "
              f"{repeats - 1} timed passes of the whole chain, each stage timed where it runs (as many as fit "
              f"in {PASS_BUDGET_S:g} s per length, at least 1)")
    variant = parse_attention(chain.meta.get("attention"))
    extra = {} if variant.is_full else {"attention": variant.label}
    return {
        "schema": "splittui.profile/1", "model": variant_name(chain.model, variant),
        "description": chain.description, **extra,
        "source": {"kind": "measured", "client": client, "server": _server_text(srv, run.server_process),
                   "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   "tool": "splittui profile", "wall_s": round(wall_s, 1),
                   "timing": f"{PREFILL_TIMING} (per-stage timestamps inside whole forward passes, median over "
                             "passes)",
                   "load_avg_1min": run.load, "other_cpu_cores": run.others, "cpus": os.cpu_count()},
        "seq_lens": list(seq_lens),
        "output_bytes": [float(records[-1].out_bytes) for records in table],
        "layers": layers,
        "fvcore": _fvcore_meta(names, table),
        "profiling": {"threads": threads, "repeats": repeats,
                      "passes": [records[0].runs for records in table],
                      "pass_ms": run.pass_ms,
                      **({"server_pass_ms": run.server_pass_ms} if run.server_pass_ms else {}),
                      **({"server_process": "own"} if run.server_process else {}),
                      "pass_budget_s": PASS_BUDGET_S, "timing": {"prefill": PREFILL_TIMING},
                      "speed_probe": probe_record(*run.probe),
                      "kernels": {n: table[0][i].kernels for i, n in enumerate(names)},
                      "config": chain.meta.get("config")},
    }


def _fvcore_meta(names, table) -> dict:
    macs = {n: [records[i].fv_macs for records in table] for i, n in enumerate(names)}
    unsupported = {n: table[0][i].unsupported for i, n in enumerate(names) if table[0][i].unsupported}
    mac_flops = {n: [records[i].mac_flops for records in table] for i, n in enumerate(names)}
    return {"unit": "multiply-adds (fvcore FlopCountAnalysis; FLOP = 2 x MAC)", "macs": macs,
            "analytic_matmul_flops": mac_flops, "unsupported_ops": unsupported}
