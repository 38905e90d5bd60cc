"""The split-inference server: runs the stages a client asks for and ships the state back.

Messages (see wire.py): ``hello`` {model, fingerprint?} → ``ready`` {model, fingerprint, threads};
``run`` {start, stop, down_mbps, delay_ms, per_stage?, kv?, pos?} + state → ``result`` {compute_ms,
stage_ms?} + state, paced over the emulated download link (``per_stage`` also times every stage;
``kv`` = ``prefill`` or ``decode`` at position ``pos`` runs the stages as decoding.py says, with the
KV caches of this connection's attention cores kept here between requests); ``bye`` ends the
connection. Anything malformed (bad frame, unknown op, stage range out of bounds, a state
the stages reject) gets one unpaced ``error`` reply, then that connection is closed and logged;
the server goes on serving every other connection.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

import torch

from ..profiler.chain import Chain, run_chain
from .link import Link, send_paced
from .wire import DEFAULT_MAX_BYTES, ProtocolError, encode_frame, recv_frame

__all__ = ["Server", "bind", "timed_stages"]


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.create_server((host, port), reuse_port=False)
    sock.settimeout(0.2)
    return sock


class Server:
    """Serves one chain to any number of connections, one thread each."""

    def __init__(self, chain: Chain, fingerprint: str, *, threads: int = 1, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_connections: int = 16, idle_s: float = 3600.0, log=None) -> None:
        self.chain, self.fingerprint, self.threads, self.max_bytes = chain, fingerprint, threads, max_bytes
        self.idle_s = idle_s
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.errors: list[str] = []
        self._slots = threading.BoundedSemaphore(max_connections)

    def serve(self, listener: socket.socket, should_stop) -> None:
        """Accept until ``should_stop()`` is true; every connection gets its own daemon thread, up to
        ``max_connections`` at once (more are refused with an error reply)."""
        while not should_stop():
            try:
                conn, peer = listener.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                break
            if not self._slots.acquire(blocking=False):
                with conn:
                    self._refuse(conn, peer, "server busy: too many connections")
                continue
            threading.Thread(target=self._connection, args=(conn, peer), daemon=True).start()

    def _connection(self, conn: socket.socket, peer) -> None:
        try:
            self._handle(conn, peer)
        finally:
            self._slots.release()  # before the close: a peer that sees EOF may reconnect at once
            conn.close()

    def _handle(self, conn: socket.socket, peer) -> None:
        torch.set_num_threads(self.threads)  # per thread: OpenMP settings do not cross threads
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(self.idle_s)  # a silent peer cannot hold a thread forever
        cache: dict = {}  # this connection's KV caches (generation), by stage index
        try:
            while self._one(conn, cache):
                pass
        except ProtocolError as exc:
            self._refuse(conn, peer, f"protocol error: {exc}")
        except (ConnectionError, OSError) as exc:
            self.log(f"splittui server: connection from {peer[0]}:{peer[1]} lost ({exc})")
        except Exception as exc:  # a stage rejected the state: that client's fault, not ours
            self._refuse(conn, peer, f"cannot run the request: {type(exc).__name__}: {exc}")

    def _refuse(self, conn: socket.socket, peer, message: str) -> None:
        self.errors.append(message)
        self.log(f"splittui server: closing connection from {peer[0]}:{peer[1]}: {message}")
        try:
            conn.settimeout(1.0)
            for part in encode_frame({"op": "error", "message": message}):
                conn.sendall(part)
            conn.shutdown(socket.SHUT_WR)
            _drain(conn)
        except OSError:
            pass

    def _one(self, conn: socket.socket, cache: dict) -> bool:
        frame = recv_frame(conn, max_bytes=self.max_bytes)
        if frame is None:
            return False
        meta, tensors = frame
        op = meta["op"]
        if op == "bye":
            return False
        if op == "hello":
            self._hello(conn, meta)
        elif op == "run":
            self._run(conn, meta, tensors, cache)
        else:
            raise ProtocolError(f"unknown op {op!r}")
        return True

    def _hello(self, conn: socket.socket, meta: dict) -> None:
        if meta.get("model") != self.chain.model:
            raise ProtocolError(f"client wants model {meta.get('model')!r}, this server runs {self.chain.model!r}")
        reply = {"op": "ready", "model": self.chain.model, "fingerprint": self.fingerprint,
                 "threads": torch.get_num_threads(),  # in effect in the thread that runs this client's stages
                 "stages": len(self.chain.stages)}
        for part in encode_frame(reply):
            conn.sendall(part)

    def _run(self, conn: socket.socket, meta: dict, state: tuple, cache: dict) -> None:
        start, stop = _stage_range(meta, len(self.chain.stages))
        link = _down_link(meta)
        kv, pos = _kv_mode(meta)
        reply: dict[str, object] = {"op": "result"}
        t0 = time.perf_counter()
        if kv is not None:
            from .decoding import run_stages

            out = run_stages(self.chain, state, start, stop, cache, pos)
        elif meta.get("per_stage"):
            out, reply["stage_ms"] = timed_stages(self.chain, state, start, stop)
        else:
            out = run_chain(self.chain, state, start, stop)
        reply["compute_ms"] = (time.perf_counter() - t0) * 1e3
        send_paced(conn, encode_frame(reply, out), link)


def timed_stages(chain: Chain, state: tuple, start: int, stop: int) -> tuple[tuple, list[float]]:
    """Run stages [start, stop) in order, timing each one (ms)."""
    times = []
    for i in range(start, stop):
        t0 = time.perf_counter()
        state = run_chain(chain, state, i, i + 1)
        times.append((time.perf_counter() - t0) * 1e3)
    return state, times


def _drain(conn: socket.socket, limit: int = 1 << 20, seconds: float = 0.5) -> None:
    """Read and drop what the peer already sent (bounded), so closing does not reset the
    connection before the peer has read our error reply."""
    conn.settimeout(seconds)
    end, got = time.monotonic() + seconds, 0
    while got < limit and time.monotonic() < end:
        chunk = conn.recv(65536)
        if not chunk:
            break
        got += len(chunk)


def _stage_range(meta: dict, n: int) -> tuple[int, int]:
    start, stop = meta.get("start"), meta.get("stop")
    if not (isinstance(start, int) and not isinstance(start, bool) and isinstance(stop, int)
            and not isinstance(stop, bool) and 0 <= start <= stop <= n):
        raise ProtocolError(f"stage range {start!r}..{stop!r} is not within 0..{n}")
    return start, stop


def _kv_mode(meta: dict) -> tuple[str | None, int | None]:
    """(None, None) for a plain run; ("prefill", None) or ("decode", pos) for generation."""
    kv, pos = meta.get("kv"), meta.get("pos")
    if kv is None:
        return None, None
    if kv == "prefill":
        return kv, None
    if kv != "decode":
        raise ProtocolError(f"kv {kv!r} is not 'prefill' or 'decode'")
    if not (isinstance(pos, int) and not isinstance(pos, bool) and 0 < pos <= 1_000_000):
        raise ProtocolError(f"pos {pos!r} is not a position within 1..1000000")
    return kv, pos


def _down_link(meta: dict) -> Link:
    mbps, delay = meta.get("down_mbps"), meta.get("delay_ms", 0.0)
    if mbps is not None and not (isinstance(mbps, (int, float)) and 0 < mbps < 1e7):
        raise ProtocolError(f"down_mbps {mbps!r} is not a positive number")
    if not (isinstance(delay, (int, float)) and 0 <= delay <= 60_000):
        raise ProtocolError(f"delay_ms {delay!r} is not within 0..60000")
    return Link(None if mbps is None else float(mbps), float(delay))
