"""The split-inference client: runs its own stages, ships the state to the server at each switch.

``run_policy`` executes one request under a placement (1 = client, 0 = server, per stage) and
times it: client compute, server compute (as the server reports it), upload (the paced send, delay
included) and download (waiting for the answer minus the server's compute). ``calibrate`` measures
what a transfer costs beyond the cost model's ``delay + bytes/bandwidth`` on this machine, and
``stage_times`` what every stage costs on each side when the chain runs in order.
"""

from __future__ import annotations

import socket
import statistics
import time
from dataclasses import dataclass

import torch

from ..errors import SplittuiError
from ..profiler.chain import Chain, run_chain, state_bytes
from .link import Link, send_paced
from .server import timed_stages
from .wire import DEFAULT_MAX_BYTES, encode_frame, recv_frame

__all__ = ["Connection", "Timing", "segments", "run_policy", "calibrate", "stage_times", "stage_pass", "medians"]


@dataclass(frozen=True, slots=True)
class Timing:
    """One request, in ms; the four parts add up to ``total_ms`` up to the client's own bookkeeping."""

    total_ms: float
    client_ms: float
    server_ms: float
    upload_ms: float
    download_ms: float
    transfers: int
    bytes_up: int
    bytes_down: int


class Connection:
    """A client's connection to a server holding the same chain."""

    def __init__(self, host: str, port: int, *, timeout: float = 600.0, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.max_bytes = max_bytes

    def close(self) -> None:
        try:
            for part in encode_frame({"op": "bye"}):
                self.sock.sendall(part)
        except OSError:
            pass
        self.sock.close()

    def _reply(self, want: str) -> tuple[dict, tuple]:
        frame = recv_frame(self.sock, max_bytes=self.max_bytes)
        if frame is None:
            raise SplittuiError("the server closed the connection")
        meta, tensors = frame
        if meta["op"] == "error":
            raise SplittuiError(f"server refused: {meta.get('message')}")
        if meta["op"] != want:
            raise SplittuiError(f"server answered {meta['op']!r}, expected {want!r}")
        return meta, tensors

    def hello(self, model: str) -> dict:
        for part in encode_frame({"op": "hello", "model": model}):
            self.sock.sendall(part)
        return self._reply("ready")[0]

    def run(self, start: int, stop: int, state: tuple, up: Link, down: Link, *,
            per_stage: bool = False, extra: dict | None = None) -> tuple[tuple, dict]:
        """Upload ``state``, have stages [start, stop) run remotely; returns (state, times in ms).
        ``extra``: more fields of the message (``kv``/``pos`` for generation, see decoding.py)."""
        parts = encode_frame({"op": "run", "start": start, "stop": stop, "down_mbps": down.mbps,
                              "delay_ms": down.delay_ms, "per_stage": per_stage, **(extra or {})}, state)
        t0 = time.perf_counter()
        upload_ms = send_paced(self.sock, parts, up)
        t1 = time.perf_counter()
        meta, out = self._reply("result")
        wait_ms = (time.perf_counter() - t1) * 1e3
        server_ms = float(meta["compute_ms"])
        return out, {"upload": upload_ms, "server": server_ms, "download": wait_ms - server_ms,
                     "total": (time.perf_counter() - t0) * 1e3, "stage_ms": meta.get("stage_ms")}


def segments(policy) -> list[tuple[int, int, int]]:
    """Runs of equal side in a policy: [(side, start, stop)], side 1 = client."""
    out, start = [], 0
    for i in range(1, len(policy) + 1):
        if i == len(policy) or policy[i] != policy[start]:
            out.append((int(policy[start]), start, i))
            start = i
    return out


@torch.no_grad()
def run_policy(chain: Chain, conn: Connection, policy, inputs: tuple, up: Link, down: Link) -> tuple[tuple, Timing]:
    """One request from the client's input to the answer back on the client."""
    parts = {"client": 0.0, "server": 0.0, "upload": 0.0, "download": 0.0}
    transfers = bytes_up = bytes_down = 0
    state = inputs
    t0 = time.perf_counter()
    for side, start, stop in segments(policy):
        if side == 1:
            tc = time.perf_counter()
            state = run_chain(chain, state, start, stop)
            parts["client"] += (time.perf_counter() - tc) * 1e3
            continue
        bytes_up += state_bytes(state)
        state, t = conn.run(start, stop, state, up, down)
        bytes_down += state_bytes(state)
        transfers += 2
        for key in ("server", "upload", "download"):
            parts[key] += t[key]
    total = (time.perf_counter() - t0) * 1e3
    return state, Timing(total_ms=total, client_ms=parts["client"], server_ms=parts["server"],
                         upload_ms=parts["upload"], download_ms=parts["download"], transfers=transfers,
                         bytes_up=bytes_up, bytes_down=bytes_down)


def calibrate(conn: Connection, up: Link, down: Link, *, nbytes: int = 4096, rounds: int = 5) -> float:
    """Median overhead of one transfer beyond the cost model, in ms, from echo round trips."""
    state = (torch.zeros(max(1, nbytes // 4), dtype=torch.float32),)
    size = state_bytes(state)
    extra = []
    for _ in range(rounds + 1):
        _, t = conn.run(0, 0, state, up, down)
        extra.append((t["total"] - t["server"] - up.model_ms(size) - down.model_ms(size)) / 2)
    return max(0.0, statistics.median(extra[1:]))


def stage_pass(chain: Chain, conn: Connection, inputs: tuple, *, client: bool = True,
               server: bool = True) -> tuple[list[float] | None, list[float] | None]:
    """One in-order pass of the whole chain on each chosen side, timing every stage (ms)."""
    fast, n = Link(None, 0.0), len(chain.stages)
    c = timed_stages(chain, inputs, 0, n)[1] if client else None
    s = conn.run(0, n, inputs, fast, fast, per_stage=True)[1]["stage_ms"] if server else None
    return c, s


def medians(passes: list[list[float]]) -> list[float]:
    return [statistics.median(col) for col in zip(*passes)]


@torch.no_grad()
def stage_times(chain: Chain, conn: Connection, inputs: tuple, passes: int = 3) -> tuple[list[float], list[float]]:
    """Per-stage medians (ms) when the whole chain runs in order, as in a request: (client, server).

    Each pass runs every stage once, so a stage meets the caches a real request leaves it, not the
    warm caches of timing one stage over and over.
    """
    fast = Link(None, 0.0)
    run_chain(chain, inputs)
    conn.run(0, len(chain.stages), inputs, fast, fast)  # warm-up on both sides
    client, server = zip(*(stage_pass(chain, conn, inputs) for _ in range(max(1, passes))))
    return medians(list(client)), medians(list(server))
