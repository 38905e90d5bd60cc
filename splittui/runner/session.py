"""Two real processes on one machine: a server and a 1-thread client, forked from one process holding
torch (``profiler/procs.py``: forkserver, else spawned).

``Session`` starts the server process (it builds the chain with the given seed, binds, reports its
port and weight fingerprint), then the client process (torch.set_num_threads(1), same chain, same
seed; it refuses to go on if the fingerprints differ). ``Session.run(job)`` hands the client one
measurement job and returns its plain-dict result. Both children ignore SIGINT: Ctrl-C reaches the
parent, which stops them (a message on their pipe, then terminate, then kill) so none outlives it;
each child also exits by itself when its parent disappears.

The parent/child pipes carry plain dicts between our own processes; nothing received from the
network is ever unpickled.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from dataclasses import asdict

from ..errors import SplittuiError
from ..profiler.procs import torch_context
from .chains import ChainSpec
from .memory_probe import peak_bytes, reset_peak, rss_bytes
from .scoped import Scoped

__all__ = ["Session", "default_server_threads", "summarise"]

_START_TIMEOUT_S = 600.0


def default_server_threads() -> int:
    """Every core of this machine: the server computes while the 1-thread client waits for it."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, n)


def _child_setup(threads: int, netns: str | None = None) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if netns:  # first thing: before torch starts threads or any socket is opened
        from .kernel_link import enter_netns

        enter_netns(netns)
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as the profiler measures: denormals would skew timings
    return os.getppid()


def _server_main(spec: ChainSpec, threads: int, host: str, port: int, max_bytes: int, pipe,
                 netns: str | None = None) -> None:
    try:
        parent = _child_setup(threads, netns)
        from .chains import build_chain, fingerprint
        from .server import Server, bind

        before = rss_bytes()
        chain = build_chain(spec)
        memory = _built_memory(chain, before)
        server = Server(chain, fingerprint(chain), threads=threads, max_bytes=max_bytes)
        listener = bind(host, port)
    except Exception as exc:  # reported to the parent as one line
        pipe.send({"error": f"server failed to start: {type(exc).__name__}: {exc}"})
        return
    pipe.send({"port": listener.getsockname()[1], "fingerprint": server.fingerprint, "memory": memory})
    with listener:
        # anything on the pipe (the parent's stop, or EOF when it died) ends the server
        server.serve(listener, lambda: pipe.poll() or os.getppid() != parent)


def _client_main(spec: ChainSpec, host: str, port: int, expected: str, pipe, netns: str | None = None) -> None:
    try:
        _child_setup(1, netns)
        from .chains import build_chain, fingerprint
        from .client import Connection

        before = rss_bytes()
        chain = build_chain(spec)
        memory = _built_memory(chain, before)
        conn = Connection(host, port)
        ready = conn.hello(chain.model)
        mine = fingerprint(chain)
        if mine != expected or ready["fingerprint"] != mine:
            raise SplittuiError(f"client and server weights differ (fingerprints {mine} vs {ready['fingerprint']})")
    except Exception as exc:
        pipe.send({"error": f"client failed to start: {exc}"})
        return
    import torch

    # the torch threads each side computes with, as the processes themselves report them
    pipe.send({"ready": True, "stages": len(chain.stages), "memory": memory,
               "threads": {"client": torch.get_num_threads(), "server": ready.get("threads")}})
    _client_loop(chain, conn, pipe)


def _built_memory(chain, before: int | None) -> dict:
    """What building the chain cost this process: RSS before and after, and the tensors' own bytes (both
    sides build every stage, so each can check its output against the unsplit model)."""
    from .memory_probe import param_bytes

    return {"rss_before": before, "rss_built": rss_bytes(),
            "param_bytes": param_bytes(stage.module for stage in chain.stages)}


def _client_loop(chain, conn, pipe) -> None:
    refs: dict[int, tuple] = {}
    while True:
        try:
            job = pipe.recv()
        except EOFError:
            break  # the parent is gone
        if job is None:
            break
        try:
            if job.get("op") == "stage_times":
                result = _stage_times(chain, conn, job)
            elif job.get("op") == "generate":
                result = _generate(chain, conn, job, refs)
            else:
                result = _measure(chain, conn, job, refs)
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            pipe.send(result)
        except OSError:
            break  # the parent is gone
    conn.close()


def _stage_times(chain, conn, job: dict) -> dict:
    from .client import stage_times

    client, server = stage_times(chain, conn, chain.make_input(int(job["seq"])), int(job.get("passes", 3)))
    return {"client_ms": client, "server_ms": server}


def _measure(chain, conn, job: dict, refs: dict) -> dict:
    """Warm up once, then ``repeats`` timed requests, each checked against the unsplit forward.

    Before each request, one in-order stage pass runs on each side the policy uses, so that the
    stage times the prediction is made from see the same machine load as the requests they predict
    (this machine is shared; its load drifts by tens of percent within a minute).
    """
    from ..profiler.chain import run_chain
    from .chains import outputs_match
    from .client import calibrate, medians, run_policy, stage_pass
    from .link import Link

    seq, policy = int(job["seq"]), list(job["policy"])
    if len(policy) != len(chain.stages):
        raise SplittuiError(f"policy has {len(policy)} entries, the chain has {len(chain.stages)} stages")
    inputs = chain.make_input(seq)
    if seq not in refs:
        refs[seq] = run_chain(chain, inputs)
    reset_peak()   # the request's peak, apart from the unsplit reference's (issue 25: run's peak RSS)
    up = Link(job["up_mbps"], job["delay_ms"])
    down = Link(job["down_mbps"], job["delay_ms"])
    overhead = calibrate(conn, up, down) if job.get("calibrate", True) and 0 in policy else 0.0
    run_policy(chain, conn, policy, inputs, up, down)  # warm-up, untimed
    times, passes, worst, all_match = [], [], 0.0, True
    for _ in range(int(job.get("repeats", 5))):
        if job.get("interleave", True):
            passes.append(stage_pass(chain, conn, inputs, client=1 in policy, server=0 in policy))
        out, timing = run_policy(chain, conn, policy, inputs, up, down)
        ok, diff = outputs_match(out, refs[seq])
        all_match, worst = all_match and ok, max(worst, diff)
        times.append(asdict(timing))
    result = {"times": times, "match": all_match, "max_abs_diff": worst, "overhead_ms": overhead,
              "client_peak": peak_bytes()}
    for side, k in (("client", 0), ("server", 1)):
        got = [t for p in passes if (t := p[k]) is not None]
        result[f"stage_{side}_ms"] = medians(got) if got else None
    return result


def _generate(chain, conn, job: dict, refs: dict) -> dict:
    """Warm up once, then ``repeats`` timed generation requests (prefill + ``gen_tokens`` greedy
    decode steps, KV caches on each side), every token checked against the unsplit model's."""
    from .decoding import check_generative, generate, reference_tokens
    from .link import Link

    check_generative(chain)
    seq, n, policy = int(job["seq"]), int(job["gen_tokens"]), list(job["policy"])
    if len(policy) != len(chain.stages):
        raise SplittuiError(f"policy has {len(policy)} entries, the chain has {len(chain.stages)} stages")
    ids = chain.make_input(seq)[0]
    key = ("gen", seq, n)
    if key not in refs:
        refs[key] = reference_tokens(chain, ids, n)
    reset_peak()   # the requests' peak, apart from the unsplit reference's
    up, down = Link(job["up_mbps"], job["delay_ms"]), Link(job["down_mbps"], job["delay_ms"])
    generate(chain, conn, policy, ids, n, up, down)  # warm-up, untimed
    runs, match, first_bad = [], True, None
    for _ in range(int(job.get("repeats", 3))):
        tokens, timing = generate(chain, conn, policy, ids, n, up, down)
        bad = next((i for i, (a, b) in enumerate(zip(tokens, refs[key], strict=True)) if a != b), None)
        match, first_bad = match and bad is None, first_bad if first_bad is not None else bad
        runs.append({"ttft_ms": timing.ttft_ms, "tpot_ms": timing.tpot_ms, "total_ms": timing.total_ms,
                     "transfers": timing.transfers})
    return {"runs": runs, "match": match, "first_mismatch": first_bad, "tokens": tokens, "reference": refs[key],
            "client_peak": peak_bytes()}


class Session(Scoped):
    """Context manager owning the two child processes."""

    def __init__(self, spec: ChainSpec, *, server_threads: int | None = None, host: str = "127.0.0.1",
                 port: int = 0, max_bytes: int | None = None, kernel_link=None) -> None:
        from .wire import DEFAULT_MAX_BYTES

        self.kernel_link = kernel_link  # a live KernelLink: each child enters its own namespace
        if kernel_link is not None:
            host = kernel_link.server_ip
        self.spec, self.host, self.port = spec, host, port
        self.server_threads = server_threads or default_server_threads()
        self.max_bytes = max_bytes or DEFAULT_MAX_BYTES
        self._ctx = torch_context()   # children forked from one process holding torch (profiler/procs.py)
        self._procs: list = []
        self.stages = 0
        self.threads: dict = {}  # {"client": n, "server": n}: torch threads each process reports once started
        self.memory: dict = {}   # per side: rss_before, rss_built, param_bytes (memory_probe), as each reports

    def _open(self) -> None:
        ctx = self._ctx
        self._stop, theirs = ctx.Pipe()
        server = ctx.Process(target=_server_main, name="splittui-server", daemon=True,
                             args=(self.spec, self.server_threads, self.host, self.port, self.max_bytes, theirs,
                                   self._ns("server")))
        self._start_proc(server)
        ready = self._wait(self._stop, server, "server")
        self.port, fp = ready["port"], ready["fingerprint"]
        self.memory["server"] = dict(ready.get("memory") or {})
        self._pipe, theirs = ctx.Pipe()
        client = ctx.Process(target=_client_main, name="splittui-client", daemon=True,
                             args=(self.spec, self.host, self.port, fp, theirs, self._ns("client")))
        self._start_proc(client)
        ready = self._wait(self._pipe, client, "client")
        self.stages, self.threads = ready["stages"], dict(ready.get("threads") or {})
        self.memory["client"] = dict(ready.get("memory") or {})
        self._client = client
        self._server = server

    def _ns(self, side: str) -> str | None:
        link = self.kernel_link
        return None if link is None else (link.client_ns if side == "client" else link.server_ns)

    def _start_proc(self, proc) -> None:
        proc.start()
        self._procs.append(proc)

    @staticmethod
    def _wait(pipe, proc, who: str, timeout: float = _START_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while not pipe.poll(0.1):
            if not proc.is_alive():
                raise SplittuiError(f"the {who} process died (exit code {proc.exitcode})")
            if time.monotonic() > deadline:
                raise SplittuiError(f"the {who} process did not answer within {timeout:.0f} s")
        msg = pipe.recv()
        if "error" in msg:
            raise SplittuiError(msg["error"])
        return msg

    def pids(self) -> list[int]:
        """This process and its live children: the CPU time that is the run's own."""
        return [os.getpid(), *(p.pid for p in self._procs if p.pid is not None and p.is_alive())]

    def run_watched(self, job: dict) -> dict:
        """``run`` that also says how many cores other processes kept busy meanwhile (``other_cpu_cores``)."""
        from ..profiler.busy import OthersCpu

        others = OthersCpu(self.pids)
        out = self.run(job)
        return {**out, "other_cpu_cores": others.cores()}

    def stage_times(self, seq: int, passes: int = 3) -> tuple[list[float], list[float]]:
        """Per-stage in-order medians (ms) on the client and on the server at ``seq``."""
        out = self.run({"op": "stage_times", "seq": seq, "passes": passes})
        return out["client_ms"], out["server_ms"]

    def run(self, job: dict, timeout: float = 3600.0) -> dict:
        """One measurement job on the client (see ``_measure``); raises SplittuiError on failure. A measuring
        job also reports both sides' peak RSS during it (``client_peak``, ``server_peak``: the client resets
        its own after the unsplit reference, the server's is reset here before the job)."""
        server = getattr(self, "_server", None)
        if server is not None and server.pid is not None:
            reset_peak(server.pid)
        self._pipe.send(job)
        out = self._wait(self._pipe, self._client, "client", timeout)
        if server is not None and server.pid is not None and "client_peak" in out:
            out["server_peak"] = peak_bytes(server.pid)
        return out

    def close(self) -> None:
        """Stop both children: ask, wait a little, then terminate and finally kill."""
        for pipe in (getattr(self, "_pipe", None), getattr(self, "_stop", None)):
            try:
                if pipe is not None:
                    pipe.send(None)
            except OSError:
                pass
        stop_processes(self._procs)


def stop_processes(procs: list) -> None:
    """Wait a little for each child asked to stop, then terminate it and finally kill it; empties `procs`."""
    for proc in procs:
        proc.join(3.0)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(2.0)
    procs.clear()


def summarise(times: list[dict]) -> dict:
    """Median of every timing field over the repeats."""
    return {k: statistics.median(t[k] for t in times) for k in times[0]} if times else {}

