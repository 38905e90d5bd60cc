"""One process per tier on this machine, joined in a line by TCP: a real run of a tier policy (SPEC §11).

Tier 0 is the client: it makes the input, runs its layers, and receives the answer. Tier ``k ≥ 1``
listens for tier ``k − 1`` and, unless it is the last, holds a connection to tier ``k + 1``. Every
process builds the whole chain with the same seed (the parent checks their weight fingerprints agree).

A request is one ``step`` message that travels with the state (wire.py framing, no pickle):
``{op: step, policy, pos, links, log, sent_at}`` + state. A tier runs the layers from ``pos`` on while
the policy puts them on it; then, if the next layer (or, after the last, the answer on tier 0) lies above
it, it sends the state up and waits for it to come back, else it returns the state down. A tier between
just forwards what crosses it. So an activation from tier i to tier j crosses every hop between.

The ``log`` carries the request's measurements to tier 0: compute ms per tier, and per hop and direction
the transfer ms (the receiver's clock when the frame is complete minus the sender's ``sent_at``, taken
right before it waits the hop's delay and sends: ``time.perf_counter`` is CLOCK_MONOTONIC, one clock for
every process of this machine), the tensor bytes and the number of crossings.

Children ignore SIGINT; the parent stops them (a message on their pipe, then terminate, then kill), and a
tier also exits by itself when its pipe closes or its parent disappears.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import threading
import time

from ..errors import SplittuiError
from .chains import ChainSpec
from .scoped import Scoped
from .session import stop_processes

__all__ = ["TierSession", "new_log", "LOG_FIELDS"]

_START_TIMEOUT_S = 600.0
LOG_FIELDS = ("compute_ms", "up_ms", "down_ms", "up_bytes", "down_bytes", "up_n", "down_n")


def new_log(k: int) -> dict[str, list[float]]:
    """An empty request log for ``k`` tiers: compute per tier; the rest per hop (k − 1)."""
    return {f: [0.0] * (k if f == "compute_ms" else k - 1) for f in LOG_FIELDS}


class _Refused(Exception):
    """A tier above refused the request; its message goes down unchanged."""


# ------------------------------------------------------------------ the request, on every tier


def _check_step(meta: dict, n: int, k: int) -> tuple[list[int], int, list, dict]:
    """The fields of a ``step`` message, checked (a malformed one is a ProtocolError)."""
    from .wire import ProtocolError

    policy, pos, links, log = meta.get("policy"), meta.get("pos"), meta.get("links"), meta.get("log")
    if not (isinstance(policy, list) and len(policy) == n
            and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < k for t in policy)):
        raise ProtocolError(f"policy must list a tier in 0..{k - 1} for each of the {n} stages")
    if not (isinstance(pos, int) and not isinstance(pos, bool) and 0 <= pos <= n):
        raise ProtocolError(f"pos {pos!r} is not within 0..{n}")
    if not (isinstance(links, list) and len(links) == k - 1 and all(
            isinstance(hop, list) and len(hop) == 3 and all(v is None or isinstance(v, (int, float)) for v in hop[:2])
            and isinstance(hop[2], (int, float)) and 0 <= hop[2] <= 60_000 for hop in links)):
        raise ProtocolError(f"links must be {k - 1} [up Mbit/s|null, down Mbit/s|null, delay ms]")
    if not (isinstance(log, dict) and all(isinstance(log.get(f), list) and len(log[f]) == len(new_log(k)[f])
                                          and all(isinstance(v, (int, float)) for v in log[f]) for f in LOG_FIELDS)):
        raise ProtocolError("log is not a request log")
    if not isinstance(meta.get("sent_at"), (int, float)):
        raise ProtocolError("sent_at is not a time")
    return policy, pos, links, log


def _send(sock: socket.socket, meta: dict, state: tuple, mbps: float | None, delay_ms: float) -> None:
    from .link import Link, send_paced
    from .wire import encode_frame

    meta = {**meta, "sent_at": time.perf_counter()}
    send_paced(sock, encode_frame(meta, state), Link(mbps, delay_ms))


def _arrived(log: dict, direction: str, hop: int, sent_at: float, now: float, state: tuple) -> None:
    from ..profiler.chain import state_bytes

    log[f"{direction}_ms"][hop] += (now - sent_at) * 1e3
    log[f"{direction}_bytes"][hop] += state_bytes(state)
    log[f"{direction}_n"][hop] += 1


def _advance(chain, k: int, policy: list[int], pos: int, state: tuple, links: list, log: dict,
             up: socket.socket | None, max_bytes: int) -> tuple[tuple, int, dict]:
    """Run this tier's layers from ``pos``; send the state up (and wait for it back) while the next layer
    lies above; return when it lies below (or, on tier 0, when the answer is here)."""
    from ..profiler.chain import run_chain
    from .wire import recv_frame

    n = len(policy)
    while True:
        stop = pos
        while stop < n and policy[stop] == k:
            stop += 1
        if stop > pos:
            t0 = time.perf_counter()
            state = run_chain(chain, state, pos, stop)
            log["compute_ms"][k] += (time.perf_counter() - t0) * 1e3
            pos = stop
        target = policy[pos] if pos < n else 0
        if target < k or (pos == n and k == 0):
            return state, pos, log
        if up is None:
            raise SplittuiError(f"stage {pos} is placed above the last tier ({k + 1})")
        _send(up, {"op": "step", "policy": policy, "pos": pos, "links": links, "log": log}, state,
              links[k][0], links[k][2])
        frame = recv_frame(up, max_bytes=max_bytes)
        now = time.perf_counter()
        if frame is None:
            raise SplittuiError(f"tier {k + 2} closed the connection")
        meta, state = frame
        if meta.get("op") == "error":
            raise _Refused(str(meta.get("message")))
        policy2, pos, _, log = _check_step(meta, n, len(links) + 1)
        if policy2 != policy:
            raise SplittuiError(f"tier {k + 2} answered for another policy")
        _arrived(log, "down", k, float(meta["sent_at"]), now, state)


# ------------------------------------------------------------------ tiers 1..K-1 (servers)


def _watch(pipe, parent: int) -> None:
    """Exit this process when the parent says stop, closes the pipe or disappears."""
    def loop() -> None:
        while True:
            try:
                if pipe.poll(0.2):
                    os._exit(0)
            except (EOFError, OSError):
                os._exit(0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=loop, daemon=True).start()


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=30)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock



def _join_up(pipe, failing: str):
    """Wait for the next tier's address from the parent and connect to it; None when the parent gave up or
    the connection failed (then said on the pipe, after `failing`)."""
    msg = pipe.recv()
    if msg is None:
        return None
    try:
        up = _connect(*msg["up"])
    except OSError as exc:
        pipe.send({"error": f"{failing}: {exc}"})
        return None
    pipe.send({"connected": True})
    return up

def _tier_main(spec: ChainSpec, k: int, n_tiers: int, threads: int, host: str, netns: str | None, max_bytes: int,
               pipe) -> None:
    from .session import _child_setup

    try:
        parent = _child_setup(threads, netns)
        import torch

        from .chains import build_chain, fingerprint
        from .server import bind

        torch.set_grad_enabled(False)
        chain = build_chain(spec)
        listener = bind(host, 0)
    except Exception as exc:  # reported to the parent as one line
        pipe.send({"error": f"tier {k + 1} failed to start: {type(exc).__name__}: {exc}"})
        return
    pipe.send({"port": listener.getsockname()[1], "fingerprint": fingerprint(chain), "stages": len(chain.stages),
               "threads": torch.get_num_threads()})
    up = None
    if k < n_tiers - 1 and (up := _join_up(pipe, f"tier {k + 1} cannot reach tier {k + 2}")) is None:
        return
    _watch(pipe, parent)
    with listener:
        while True:
            try:
                conn, _ = listener.accept()
            except (socket.timeout, TimeoutError):
                continue
            with conn:
                conn.settimeout(None)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _serve(chain, k, n_tiers, conn, up, max_bytes)


def _serve(chain, k: int, n_tiers: int, conn: socket.socket, up: socket.socket | None, max_bytes: int) -> None:
    """Requests from tier k − 1 on one connection, until it closes; an error ends the connection."""
    from .wire import ProtocolError, encode_frame, recv_frame

    while True:
        try:
            frame = recv_frame(conn, max_bytes=max_bytes)
        except (ProtocolError, OSError):
            return
        now = time.perf_counter()
        if frame is None or frame[0].get("op") == "bye":
            return
        meta, state = frame
        try:
            if meta.get("op") != "step":
                raise ProtocolError(f"unknown op {meta.get('op')!r}")
            policy, pos, links, log = _check_step(meta, len(chain.stages), n_tiers)
            _arrived(log, "up", k - 1, float(meta["sent_at"]), now, state)
            state, pos, log = _advance(chain, k, policy, pos, state, links, log, up, max_bytes)
            _send(conn, {"op": "step", "policy": policy, "pos": pos, "links": links, "log": log}, state,
                  links[k - 1][1], links[k - 1][2])
        except _Refused as exc:
            _reply_error(conn, str(exc), encode_frame)
            return
        except Exception as exc:  # a bad request or a stage that rejects its state: said below, then closed
            _reply_error(conn, f"tier {k + 1}: {type(exc).__name__}: {exc}", encode_frame)
            return


def _reply_error(conn: socket.socket, message: str, encode_frame) -> None:
    try:
        for part in encode_frame({"op": "error", "message": message[:2000]}):
            conn.sendall(part)
    except OSError:
        pass


# ------------------------------------------------------------------ tier 0 (the client)


def _client_main(spec: ChainSpec, n_tiers: int, netns: str | None, max_bytes: int, pipe) -> None:
    from .session import _child_setup

    try:
        _child_setup(1, netns)
        import torch

        from .chains import build_chain, fingerprint

        torch.set_grad_enabled(False)
        chain = build_chain(spec)
    except Exception as exc:
        pipe.send({"error": f"tier 1 (client) failed to start: {type(exc).__name__}: {exc}"})
        return
    pipe.send({"fingerprint": fingerprint(chain), "stages": len(chain.stages), "threads": torch.get_num_threads()})
    if (up := _join_up(pipe, "the client cannot reach tier 2")) is None:
        return
    while True:
        try:
            job = pipe.recv()
        except EOFError:
            break
        if job is None:
            break
        try:
            result = _measure(chain, up, n_tiers, job, max_bytes)
        except _Refused as exc:
            result = {"error": str(exc)}
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            pipe.send(result)
        except OSError:
            break
    up.close()


def _measure(chain, up: socket.socket, n_tiers: int, job: dict, max_bytes: int) -> dict:
    """One warm-up, then ``repeats`` timed requests, each checked against the unsplit forward."""
    import torch

    from ..profiler.chain import run_chain
    from .chains import outputs_match

    seq, policy, links = int(job["seq"]), [int(t) for t in job["policy"]], job["links"]
    if len(policy) != len(chain.stages):
        raise SplittuiError(f"policy has {len(policy)} entries, the chain has {len(chain.stages)} stages")
    inputs = chain.make_input(seq)
    ref = run_chain(chain, inputs)
    _advance(chain, 0, policy, 0, inputs, links, new_log(n_tiers), up, max_bytes)  # warm-up, untimed
    runs, match, worst, same_tokens = [], True, 0.0, True
    for _ in range(int(job.get("repeats", 5))):
        t0 = time.perf_counter()
        out, _, log = _advance(chain, 0, policy, 0, inputs, links, new_log(n_tiers), up, max_bytes)
        total = (time.perf_counter() - t0) * 1e3
        ok, diff = outputs_match(out, ref)
        match, worst = match and ok, max(worst, diff)
        if ok and out and out[0].is_floating_point() and out[0].dim() >= 1:   # the answer's tokens, exactly
            same_tokens = same_tokens and torch.equal(out[0].argmax(-1), ref[0].argmax(-1))
        runs.append({"total_ms": total, **log})
    return {"runs": runs, "match": match, "max_abs_diff": worst, "same_tokens": match and same_tokens}


# ------------------------------------------------------------------ the parent


def _wait(pipe, proc, who: str, timeout: float) -> dict:
    """The child's next message (``Session._wait``), a closed pipe said as the child's death."""
    from .session import Session

    try:
        return Session._wait(pipe, proc, who, timeout)
    except EOFError:
        proc.join(1.0)
        raise SplittuiError(f"the {who} process died (exit code {proc.exitcode})") from None


class TierSession(Scoped):
    """Context manager owning one process per tier of ``link`` (a TierLink or PacedTiers)."""

    def __init__(self, spec: ChainSpec, link, *, server_threads: int, max_bytes: int | None = None) -> None:
        from .wire import DEFAULT_MAX_BYTES

        self.spec, self.link, self.k = spec, link, link.k
        self.server_threads = server_threads
        self.max_bytes = max_bytes or DEFAULT_MAX_BYTES
        self._ctx = mp.get_context("spawn")
        self._procs: list = []
        self._pipes: list = []
        self.stages = 0
        self.threads: list[int] = []   # torch threads per tier, as each process reports
        self.omp_wait_policy = ""      # what the tiers' OpenMP threads do when idle (set in _open)

    def _open(self) -> None:
        ctx, link = self._ctx, self.link
        # OpenMP threads that spin after their work would take the cores from the tier computing next (on a
        # 2-core machine, 100-fold slower stages): every tier's threads sleep when idle. Read by libgomp when
        # torch loads in the child, so it is set in the environment the children are spawned with.
        saved = os.environ.get("OMP_WAIT_POLICY")
        self.omp_wait_policy = os.environ["OMP_WAIT_POLICY"] = saved or "PASSIVE"
        try:
            self._spawn(ctx, link)
        finally:
            if saved is None:
                del os.environ["OMP_WAIT_POLICY"]
        ready = [_wait(pipe, proc, f"tier {k + 1}", _START_TIMEOUT_S)
                 for k, (pipe, proc) in enumerate(zip(self._pipes, self._procs, strict=True))]
        prints = {r["fingerprint"] for r in ready}
        if len(prints) != 1:
            raise SplittuiError(f"the tiers' weights differ (fingerprints {', '.join(sorted(prints))})")
        self.stages, self.threads = int(ready[0]["stages"]), [int(r["threads"]) for r in ready]
        for k in range(self.k - 1):
            self._pipes[k].send({"up": [link.listen_host(k + 1), ready[k + 1]["port"]]})
            _wait(self._pipes[k], self._procs[k], f"tier {k + 1}", 60.0)

    def _spawn(self, ctx, link) -> None:
        for k in range(self.k):   # every tier builds its chain at once; they are joined in _open
            mine, theirs = ctx.Pipe()
            if k == 0:
                proc = ctx.Process(target=_client_main, name="splittui-tier1", daemon=True,
                                   args=(self.spec, self.k, link.namespace(0), self.max_bytes, theirs))
            else:
                proc = ctx.Process(target=_tier_main, name=f"splittui-tier{k + 1}", daemon=True,
                                   args=(self.spec, k, self.k, self.server_threads, link.listen_host(k),
                                         link.namespace(k), self.max_bytes, theirs))
            proc.start()
            self._procs.append(proc)
            self._pipes.append(mine)

    def run(self, job: dict, timeout: float = 3600.0) -> dict:
        """One measuring job on tier 0; raises SplittuiError on failure."""
        self._pipes[0].send(job)
        return _wait(self._pipes[0], self._procs[0], "client", timeout)

    def close(self) -> None:
        """Stop every tier: ask, wait a little, then terminate and finally kill."""
        for pipe in self._pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        stop_processes(self._procs)
        self._pipes.clear()

