"""Where the processes that hold torch come from: one server process that imported torch once, forking each.

A split run starts two processes per session (a server and a client), a figure one session per row and
variant, and a profile its own server process. Started with ``spawn``, each imported torch afresh: ~1.4 s
of CPU per child, and a session took 3.7 s to open, answer one request and close. With ``forkserver`` the
first child starts a server process that imports torch once (``set_forkserver_preload``), and every child
after it is a fork of that server: 0.32 s (median of sessions 2-4, `python benchmarks/bench_session_start.py`,
2026-12-06 21:14 UTC, this 2-core VM). The children are what they were: a fresh interpreter's state
(the server never ran torch, so no thread pool is forked), the process's own torch threads set first
thing, signals and namespaces entered as before. Where forkserver is not available (not POSIX), children
are spawned as before.

The forkserver reads its environment when it starts (the first child of this process): children that
need a setting torch's libraries read at load time (the tiers' ``OMP_WAIT_POLICY``) are spawned instead.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

__all__ = ["torch_context", "warm", "PRELOAD"]

PRELOAD = ("torch",)   # the runner's own modules import in ~30 ms: not worth holding in the server


def torch_context() -> Any:   # a ForkServerContext or a SpawnContext (typeshed names them per platform)
    """The start method for a child that imports torch: forkserver preloading torch, else spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))   # read when the server starts (this process's first child)
    return ctx


def warm() -> None:
    """Start the fork server now, before this process imports torch itself: its import of torch then runs
    beside the caller's (which builds its chain meanwhile) instead of after it, when the first child is
    asked for. Nothing happens where children are spawned."""
    if torch_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
