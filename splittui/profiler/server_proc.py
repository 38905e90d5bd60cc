"""A ``cpu:N`` server timed in its own process, the way `splittui run` executes it.

Timing the server's passes in the profiling process itself (switching torch between the client's
1 thread and the server's N, on the caches and thread pool the client's passes left) read 10-60 %
slower on this machine than the same passes in the run's own server process
(`benchmarks/timing_method.py`), and made a planning profile pessimistic. So a chain that can be
rebuilt elsewhere (a zoo model, or a user's ``--module`` factory: ``chain.meta["rebuild"]``) is
rebuilt in its own process (`procs.torch_context`) with N torch threads set once, which runs one
in-order pass whenever the profiler asks for it; the profiler still alternates its passes with the
client's, so both see the same load. A chain without a recipe is timed in the profiling process, as before.
"""

from __future__ import annotations

import signal
import time
from typing import Any, NoReturn

from ..errors import SplittuiError
from .procs import torch_context

__all__ = ["ServerProcess", "rebuild_recipe", "zoo_recipe", "factory_recipe"]

_START_TIMEOUT_S = 300.0   # importing torch and building a large model, on a busy machine
_PASS_TIMEOUT_S = 3600.0


def zoo_recipe(name: str, tiny: bool, attention: Any) -> tuple:
    return ("zoo", name, tiny, attention)


def factory_recipe(spec: str) -> tuple:
    return ("factory", spec)


def rebuild_recipe(chain: Any) -> tuple | None:
    """The recipe that rebuilds `chain` in another process, or None (the chain is timed here)."""
    recipe = chain.meta.get("rebuild")
    return recipe if isinstance(recipe, tuple) else None


def _rebuild(recipe: tuple):
    if recipe[0] == "zoo":
        from .zoo import build

        return build(recipe[1], tiny=recipe[2], attention=recipe[3])
    from .prepare import load_factory

    return load_factory(recipe[1])


class ServerProcess:
    """One process of its own holding the chain with `threads` torch threads; ``pass_times(seq, first)``
    runs one in-order pass over a fresh input and returns each stage's seconds."""

    def __init__(self, recipe: tuple, threads: int) -> None:
        ctx = torch_context()
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_main, args=(recipe, threads, child), daemon=True,
                                 name="splittui-profile-server")
        self._proc.start()
        child.close()
        self.pid = int(self._proc.pid or 0)
        self._recv(_START_TIMEOUT_S)

    def pass_times(self, seq: int, first: bool) -> list[float]:
        self._conn.send(("pass", seq, first))
        times: list[float] = self._recv(_PASS_TIMEOUT_S)["times"]
        return times

    def call(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` run in the server process (a module-level function, pickled by name): what a caller
        above this layer measures against a process that already holds torch (the transfer overhead's
        echo server, `runner.overhead`) instead of spawning another one."""
        self._conn.send(("call", fn, args))
        return self._recv(_START_TIMEOUT_S)["result"]

    def _recv(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.2):
            if not self._proc.is_alive() or time.monotonic() > deadline:
                self._fail()
        try:
            msg: dict = self._conn.recv()
        except EOFError:  # the process ended while we polled
            self._fail()
        if "error" in msg:
            self.close()
            raise SplittuiError(msg["error"])
        return msg

    def _fail(self) -> NoReturn:
        self.close()
        raise SplittuiError(f"the profiling server process stopped without answering (exit code {self._proc.exitcode})")

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(5.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5.0)
        self._conn.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _main(recipe: tuple, threads: int, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent handles Ctrl-C and stops us
    try:
        import torch

        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)             # as the client's side and the run's server
        chain = _rebuild(recipe)
    except Exception as exc:  # reported to the parent as one line
        conn.send({"error": f"the profiling server process could not build the model: {type(exc).__name__}: {exc}"})
        return
    conn.send({"ready": len(chain.stages)})
    with torch.no_grad():
        while True:
            try:
                msg = conn.recv()
            except EOFError:
                return
            if msg[0] == "call":
                try:
                    conn.send({"result": msg[1](*msg[2])})
                except Exception as exc:  # reported to the parent as one line
                    conn.send({"error": f"the profiling server process failed: {type(exc).__name__}: {exc}"})
                continue
            if msg[0] != "pass":
                return
            conn.send({"times": _one_pass(chain, msg[1], msg[2])})


def _one_pass(chain, seq: int, first: bool) -> list[float]:
    """One in-order pass timed stage by stage, as the run's server times its stages (`run_chain` per stage)."""
    from .chain import run_chain

    state = chain.make_input(seq)
    times = []
    for i in range(len(chain.stages)):
        if first:
            run_chain(chain, state, i, i + 1)       # warm-up, untimed (as the in-process side's `_warm`)
        t0 = time.perf_counter()
        state = run_chain(chain, state, i, i + 1)
        times.append(time.perf_counter() - t0)
    return times
