"""The per-transfer overhead of this machine's split runs, measured for `splittui profile`.

A transfer in `splittui run` costs the cost model's ``delay + bytes / bandwidth`` plus what the
software adds: framing (wire.py), JSON, the syscalls, waking the other process and Python around it.
``measure_transfer_overhead`` measures that addition once, at profiling time: it starts a server
process (its own, started by `profiler.procs`; 1 torch thread, the runner's own ``Server`` holding
an empty chain) and echoes small frames to it over loopback with the runner's ``Connection``, the code
path of a real run, with the link unpaced (so the model's part is 0). Half the median round trip, less
the server's own compute, is the overhead of one transfer. ``splittui profile`` stores it as
``transfer.overhead_ms``; the runner adds it once per transfer to every prediction made from that
profile (predict.py), and nothing from the run being predicted ever replaces it.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from typing import Any

from ..errors import SplittuiError
from ..profiler.procs import torch_context

__all__ = ["measure_transfer_overhead", "FRAME_BYTES", "ROUNDS"]

FRAME_BYTES = 4096   # a small state: what is left is the per-transfer cost, not bytes / bandwidth
ROUNDS = 30


def _empty_chain():
    import torch

    from ..profiler.chain import Chain

    return Chain(model="splittui-echo", description="no stages: echoes the state", stages=[],
                 make_input=lambda n: (torch.zeros(n),))


def _echo_main(pipe) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import torch

        torch.set_num_threads(1)
        from .server import Server, bind

        parent = os.getppid()
        server = Server(_empty_chain(), "echo", threads=1)
        listener = bind("127.0.0.1", 0)
    except Exception as exc:
        pipe.send({"error": f"{type(exc).__name__}: {exc}"})
        return
    pipe.send({"port": listener.getsockname()[1]})
    with listener:
        server.serve(listener, lambda: pipe.poll() or os.getppid() != parent)


_ECHO: dict = {}   # in the process hosting an echo server by `_echo_start`: what `_echo_stop` ends


def _echo_start() -> int:
    """In a process that already holds torch (the profile's server process, `ServerProcess.call`): the
    runner's ``Server`` of an empty chain served from a thread (1 torch thread, as `_echo_main`'s); its port."""
    import threading

    from .server import Server, bind

    server = Server(_empty_chain(), "echo", threads=1)
    listener = bind("127.0.0.1", 0)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(listener, stop.is_set), daemon=True,
                              name="splittui-echo")
    thread.start()
    _ECHO.update(stop=stop, thread=thread, listener=listener)
    return int(listener.getsockname()[1])


def _echo_stop() -> None:
    """End `_echo_start`'s server (its thread ends within the listener's 0.2 s accept timeout)."""
    if _ECHO:
        _ECHO["stop"].set()
        _ECHO["thread"].join(5.0)
        _ECHO["listener"].close()
        _ECHO.clear()


def _round_trips(port: int, nbytes: int, rounds: int) -> list[float]:
    """Per-transfer overhead of each echo (ms): half the round trip less the server's compute."""
    import torch

    from .client import Connection
    from .link import Link

    fast = Link(None, 0.0)
    conn = Connection("127.0.0.1", port, timeout=60.0)
    try:
        conn.hello("splittui-echo")
        state = (torch.zeros(max(1, nbytes // 4), dtype=torch.float32),)
        out = []
        for _ in range(rounds + 2):  # the first two warm the path up
            _, t = conn.run(0, 0, state, fast, fast)
            out.append(max(0.0, (t["total"] - t["server"]) / 2.0))
        return out[2:]
    finally:
        conn.close()


def measure_transfer_overhead(*, nbytes: int = FRAME_BYTES, rounds: int = ROUNDS, timeout_s: float = 120.0,
                              via: Any = None) -> dict:
    """``{"overhead_ms", "samples_ms", ...}``: the median per-transfer overhead, measured between this
    process and a separate server process over loopback (the ``transfer`` field of a profile). `via`: a
    live ``profiler.server_proc.ServerProcess`` to host the echo server (the profile's own server process:
    no second process importing torch, ~2-3 s of CPU less per profile); else one is started (`profiler.procs`)."""
    if via is not None:
        port = via.call(_echo_start)
        try:
            t0 = time.perf_counter()
            samples = _round_trips(port, nbytes, rounds)
            wall = time.perf_counter() - t0
        finally:
            via.call(_echo_stop)
        return _record(samples, rounds, nbytes, wall, "the profile's own server process")
    ctx = torch_context()
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=_echo_main, args=(theirs,), name="splittui-echo", daemon=True)
    proc.start()
    try:
        if not mine.poll(timeout_s):
            raise SplittuiError(f"transfer overhead: the echo server did not start within {timeout_s:.0f} s")
        msg = mine.recv()
        if "error" in msg:
            raise SplittuiError(f"transfer overhead: the echo server failed: {msg['error']}")
        t0 = time.perf_counter()
        samples = _round_trips(msg["port"], nbytes, rounds)
        wall = time.perf_counter() - t0
    finally:
        try:
            mine.send(None)
        except OSError:
            pass
        proc.join(3.0)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
    return _record(samples, rounds, nbytes, wall, "a server process of its own (profiler/procs.py)")


def _record(samples: list[float], rounds: int, nbytes: int, wall: float, where: str) -> dict:
    return {"overhead_ms": round(statistics.median(samples), 4),
            "samples_ms": [round(v, 4) for v in samples],
            "method": (f"half the median round trip of {rounds} {nbytes}-byte frames (after 2 warm-up) between "
                       f"this process and {where} over loopback TCP, through the runner's wire "
                       "code, link unpaced, less the server's compute"),
            "wall_s": round(wall, 2)}
