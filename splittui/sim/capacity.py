"""Discrete-event simulation of one server holding many split clients (docs/capacity.md).

Requests arrive (Poisson, or a trace of (arrival, prompt, output) rows), each of a client class with
its own device, link and placement (`server.ClientClass`). A request's path:

1. off-server prefill part before the server (client prefix, upload), then the *admission* FIFO: it
   enters the server when its KV cache (server layers, ``s + N − 1`` tokens, reserved whole) fits
   the memory beside the resident weights and fewer than ``max_batch`` requests are in (0: no cap);
2. the prefill FIFO: one prefill at a time, alone on the server (``prefill-first``: decoding stalls
   while a prefill runs, as vLLM's default scheduler; ``chunked``: a chunk of ``chunk_tokens`` of the
   head prefill rides beside every decode iteration, Sarathi-style, so both proceed);
3. the rest of the prefill off the server: the first token is out (TTFT);
4. decode: each step is the class's off-server time ``r`` plus one pass through the server, where
   every decoding request whose server range holds a layer shares that layer's batch
   (`ServerModel.step_ms`). Between events the batch is a fluid: request of class k runs one step
   per period ``p_k = r_k + T_k + w_k`` and joins a fraction ``u_k = T_k / p_k`` of the iterations;
   T_k is the step of a batch holding it and the others at their u_j. ``phase`` aligned (default):
   the server starts an iteration as the requests due return (w = 0); random: they return at random
   phases and wait ``w_k = T_k/2 · P(the others keep the server busy)``. Class k's requests share one
   virtual step clock ``V_k`` (as in processor sharing), so an event costs O(classes), not O(requests).

Every arrival either completes or is counted as dropped (its KV cache can never fit, or the
admission queue is full). Pure numpy + heapq; no UI import.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from ..errors import SplittuiError
from .capacity_run import METRICS, CapacityRun
from .server import ClientClass, ServerModel
from .workload import Workload, parse_trace, poisson_workload, trace_workload

__all__ = ["Workload", "SimOptions", "CapacityRun", "PREFILL_POLICIES", "PHASES", "poisson_workload", "trace_workload",
           "parse_trace", "simulate_server", "METRICS"]

PREFILL_POLICIES = ("prefill-first", "chunked")
PHASES = ("aligned", "random")
_F = NDArray[np.float64]
_I = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SimOptions:
    prefill: str = "prefill-first"
    chunk_tokens: int = 512
    max_batch: int = 0          # requests in the server at once (admitted, not finished); 0: no cap
    max_queue: int = 0          # admission queue length beyond which arrivals are dropped; 0: no cap
    phase: str = "aligned"      # aligned: an iteration starts as the requests due return; random: they
                                # return at random phases and wait out half an iteration the others keep busy

    def __post_init__(self) -> None:
        if self.prefill not in PREFILL_POLICIES:
            raise SplittuiError(f"prefill policy {self.prefill!r}: choose from {', '.join(PREFILL_POLICIES)}")
        if self.phase not in PHASES:
            raise SplittuiError(f"decode phase {self.phase!r}: choose from {', '.join(PHASES)}")
        if self.chunk_tokens < 1 or self.max_batch < 0 or self.max_queue < 0:
            raise SplittuiError("chunk_tokens must be >= 1, max_batch and max_queue >= 0")


@dataclass(slots=True)
class _Decode:
    """Class k's decoding requests: a heap of (target virtual step, id) on the shared clock V."""

    r: float
    heap: list[tuple[float, int]] = field(default_factory=list)
    v: float = 0.0
    base: float = 0.0      # Σ (prompt_i − V at start_i): context_i = prompt_i + V − V_start_i
    tsum: float = 0.0      # Σ target_i
    period: float = math.inf


class _Sim:
    """The event loop's state (one run)."""

    def __init__(self, wl: Workload, classes: list[ClientClass], server: ServerModel, opt: SimOptions) -> None:
        self.wl, self.server, self.opt = wl, server, opt
        self.views, self.terms = server.views_fn(), server.terms_fn()   # the batched step, compiled (kernel)
        n = wl.n
        self.before, self.pre, self.after = (np.empty(n) for _ in range(3))
        for k, c in enumerate(classes):
            m = wl.cls == k
            self.before[m], self.pre[m], self.after[m] = c.prefill_parts(wl.prompt[m].astype(np.float64))
        self.kv = np.array([c.kv_per_token for c in classes])[wl.cls] * (wl.prompt + np.maximum(wl.output - 1, 0))
        self.on_server = np.array([c.on_server for c in classes])[wl.cls]
        # plain lists for the loop: indexing and arithmetic on numpy scalars cost several times more
        self.kv_l, self.pre_l, self.after_l = self.kv.tolist(), self.pre.tolist(), self.after.tolist()
        self.prompt_l, self.output_l, self.cls_l = wl.prompt.tolist(), wl.output.tolist(), wl.cls.tolist()
        self.first_l: list[float] = [math.nan] * n
        self.out_l: list[float] = [math.nan] * n
        self.in_l: list[float] = [math.nan] * n
        self.dec = [_Decode(r=c.step_off_ms) for c in classes]
        self.step_off = np.array([c.step_off_ms for c in classes])
        self.first_ms = np.full(n, math.nan)
        self.done_ms = np.full(n, math.nan)
        self.out_ms = np.full(n, math.nan)
        self.srv_in_ms = np.full(n, math.nan)
        self.t, self.T = 0.0, 0.0
        self.phase = 0.5 if opt.phase == "random" else 0.0
        self.u: list[float] = []
        self.mem = 0.0
        self.active = 0
        self.admit: deque[int] = deque()
        self.prefill: deque[int] = deque()
        self.pre_left = 0.0
        self.starting: list[tuple[float, int]] = []
        self.dropped = 0
        self.busy = self.comp = self.dec_busy = self.in_srv = self.batch = self.dec_time = 0.0
        self.bsum = 0.0
        self.comp_frac = 0.0
        self.rho = 0.0
        self.mem_log: list[tuple[float, float]] = [(0.0, server.resident_bytes)]
        self.peak = server.resident_bytes

    # --- rates -------------------------------------------------------------------------------
    def rates(self) -> None:
        """Periods of the decoding classes from the current batch (one fixed-point pass from the last u).

        The iteration that holds a class-k request holds it for sure and every other request with the
        probability u_j that it is at the server: batch ``n_j u_j + [j = k](1 − u_k)``; its time is T_k,
        ``u_k = T_k / p_k``, and the wait for an iteration the others keep busy is T_k/2 times the chance
        that one of them is in. One pass from the last event's u (u lags one event: the batch changes by
        one request an event); the loop calls this twice a request, so it builds its lists in plain
        loops."""
        dec = self.dec
        K = len(dec)
        if K == 1:
            self._rates_one(dec[0])
            return
        u = self.u if len(self.u) == K else [1.0] * K
        n: list[float] = []
        bs: list[float] = []        # the step's inputs: n_j u_j, ctx_j u_j, and each class's own share
        ss: list[float] = []
        ob: list[float] = []
        os_: list[float] = []
        for d, x in zip(dec, u):
            m = len(d.heap)
            c = d.base + 0.5 * (d.tsum + m * d.v)      # mid-remaining contexts
            y = 1.0 - x
            n.append(float(m))
            bs.append(m * x)
            ss.append(c * x)
            ob.append(y)
            os_.append(y * (c / m if m else 0.0))
        if not any(n):
            self.T = self.rho = self.bsum = 0.0
            return
        T, comp = self.views(bs, ss, ob, os_)
        u, idle = [], []
        for k, d in enumerate(dec):
            t = T[k]
            if t < 1e-9:                # a server part of no time still ends (the loop moves on)
                t = T[k] = 1e-9
            x = t / (d.r + t) if d.r > 0 else 1.0
            u.append(x)
            idle.append((1.0 - x) ** n[k])
        all_idle = math.prod(idle)
        phase = self.phase
        big = 0
        for k, d in enumerate(dec):
            t, x = T[k], u[k]
            others_idle = all_idle / (1.0 - x) if x < 1.0 else math.prod(idle[:k] + idle[k + 1:])
            d.period = d.r + t + phase * t * (1.0 - others_idle) if d.r > 0 else t
            if n[k] > n[big]:
                big = k
        self.u = u
        self.comp_frac = comp[big] / T[big] if T[big] > 0 else 0.0
        self.T = max(T)
        self.rho = 1.0 - all_idle
        self.bsum = sum([a * b for a, b in zip(n, u)])

    def _rates_one(self, d: _Decode) -> None:
        """`rates` for one class (the common case), without the per-class lists."""
        n = len(d.heap)
        if not n:
            self.T = self.rho = self.bsum = 0.0
            return
        ctx = d.base + 0.5 * (d.tsum + n * d.v)
        u = self.u[0] if self.u else 1.0
        T, comp, _m = self.terms((n * u + 1.0 - u,), (ctx * u + (1.0 - u) * ctx / n,))
        T = 1e-9 if T < 1e-9 else T
        u = T / (d.r + T) if d.r > 0 else 1.0
        d.period = d.r + T + self.phase * T * (1.0 - (1.0 - u) ** (n - 1)) if d.r > 0 else T
        self.u = [u]
        self.comp_frac = comp / T
        self.T, self.rho, self.bsum = T, 1.0 - (1.0 - u) ** n, n * u

    # --- bookkeeping -------------------------------------------------------------------------
    def log_mem(self) -> None:
        m = self.server.resident_bytes + self.mem
        self.mem_log.append((self.t, m))
        self.peak = max(self.peak, m)

    def try_admit(self) -> None:
        cap = self.opt.max_batch
        kv, budget = self.kv_l, self.server.budget_bytes
        while self.admit and (cap == 0 or self.active < cap) and self.mem + kv[self.admit[0]] <= budget:
            i = self.admit.popleft()
            self.mem += kv[i]
            self.active += 1
            if not self.prefill:
                self.pre_left = self.pre_l[i]
            self.prefill.append(i)
            self.log_mem()

    def arrive(self, i: int) -> None:
        self.in_l[i] = self.t
        if self.kv_l[i] > self.server.budget_bytes or (self.opt.max_queue and len(self.admit) >= self.opt.max_queue):
            self.dropped += 1
            return
        self.admit.append(i)
        self.try_admit()

    def release(self, i: int) -> None:
        self.out_l[i] = self.t
        self.mem -= self.kv_l[i]
        self.active -= 1
        self.log_mem()
        self.try_admit()

    def prefill_done(self) -> None:
        i = self.prefill.popleft()
        if self.prefill:
            self.pre_left = self.pre_l[self.prefill[0]]
        first = self.first_l[i] = self.t + self.after_l[i]
        if self.output_l[i] <= 1:
            self.release(i)
        else:
            heapq.heappush(self.starting, (first, i))

    def start_decode(self, i: int) -> None:
        d = self.dec[self.cls_l[i]]
        target = d.v + (self.output_l[i] - 1)
        heapq.heappush(d.heap, (target, i))
        d.base += self.prompt_l[i] - d.v
        d.tsum += target
        self.rates()

    def finish_decode(self, d: _Decode) -> None:
        target, i = heapq.heappop(d.heap)
        d.base -= self.prompt_l[i] - (target - (self.output_l[i] - 1))
        d.tsum -= target
        self.release(i)
        self.rates()


def _thin(log: list[tuple[float, float]], most: int = 2000) -> tuple[_F, _F]:
    a = np.array(log, dtype=np.float64)
    if len(a) > most:
        a = a[np.linspace(0, len(a) - 1, most).astype(np.int64)]
    return a[:, 0].copy(), a[:, 1].copy()


def _client_only(sim: _Sim, wl: Workload) -> None:
    """Requests of classes with no server layer never meet the server: their times are closed forms."""
    m = ~sim.on_server
    sim.first_ms[m] = wl.arrival_ms[m] + sim.before[m]
    sim.done_ms[m] = sim.first_ms[m] + np.maximum(wl.output[m] - 1, 0) * sim.step_off[wl.cls[m]]


def simulate_server(wl: Workload, classes: list[ClientClass], server: ServerModel, opt: SimOptions = SimOptions(), *,
                    progress: Callable[[int, int], None] | None = None) -> CapacityRun:
    """Run the event loop to the last completion. O(events · classes · rows); ~4 events a request."""
    t0 = time.perf_counter()
    sim = _Sim(wl, classes, server, opt)
    _client_only(sim, wl)
    srv = np.flatnonzero(sim.on_server)
    at = wl.arrival_ms[srv] + sim.before[srv]
    order = srv[np.argsort(at, kind="stable")]
    at_sorted = np.sort(at, kind="stable")
    _loop(sim, order, at_sorted, progress)
    on = sim.on_server
    sim.first_ms[on] = np.array(sim.first_l)[on]
    sim.out_ms[:] = sim.srv_in_ms[:] = math.nan
    sim.out_ms[on] = np.array(sim.out_l)[on]
    sim.srv_in_ms[on] = np.array(sim.in_l)[on]
    late = on & (wl.output <= 1)
    sim.done_ms[on] = sim.out_ms[on]
    sim.done_ms[late] = sim.first_ms[late]
    return _result(sim, wl, server, time.perf_counter() - t0)


def _loop(sim: _Sim, order: _I, at: _F, progress: Callable[[int, int], None] | None) -> None:
    """The event loop: the next of arrival, prefill end, decode start, decode end; ties in that order.

    Each pass splits the server between the head prefill and decoding (`prefill` policy), finds the
    next event, integrates the state up to it (prefill work, each class's step clock, busy time) and
    handles the event. Over 40 lines: one loop with the hot state in locals keeps the ~4 events a
    request free of calls (``a if a < b else b`` stands for ``min``: the same value, without the call)."""
    ptr, n, inf = 0, len(order), math.inf
    order_l, at_l = order.tolist(), at.tolist()
    tick = max(n // 100, 1)
    dec, prefill, admit, starting = sim.dec, sim.prefill, sim.admit, sim.starting
    chunked, chunk_tokens = sim.opt.prefill != "prefill-first", sim.opt.chunk_tokens
    pre_l, prompt_l = sim.pre_l, sim.prompt_l
    while True:
        t, T = sim.t, sim.T
        if not prefill:                               # the server's split: (prefill rate, decode rate)
            pre_rate, dec_rate = 0.0, 1.0
        elif not chunked or not T > 0:
            pre_rate, dec_rate = 1.0, 0.0
        else:
            i = prefill[0]
            c = pre_l[i] * chunk_tokens / max(prompt_l[i], 1)
            chunk = c if c < sim.pre_left else sim.pre_left
            pre_rate = chunk / (chunk + T)
            dec_rate = 1.0 - pre_rate
        t_next = t_arr = at_l[ptr] if ptr < n else inf
        t_pre = t + sim.pre_left / pre_rate if prefill and pre_rate > 0 else inf
        if t_pre < t_next:
            t_next = t_pre
        t_start = starting[0][0] if starting else inf
        if t_start < t_next:
            t_next = t_start
        t_dec, k_dec = inf, -1
        if T > 0 and dec_rate > 0:
            for k, d in enumerate(dec):
                if d.heap:
                    g = d.heap[0][0] - d.v
                    tk = t + (0.0 if 0.0 > g else g) * d.period / dec_rate
                    if tk < t_dec:
                        t_dec, k_dec = tk, k
        if t_dec < t_next:
            t_next = t_dec
        if t_next == inf:
            break
        dt = t_next - t
        if dt > 0:                                    # integrate the state over [t, t_next)
            sim.in_srv += dt * (sim.active + len(admit))
            if prefill:
                sim.pre_left -= dt * pre_rate
            if T > 0 and dec_rate > 0:
                x = dt * dec_rate
                for d in dec:
                    if d.heap:
                        d.v += x / d.period
                sim.batch += x * sim.bsum
                part = x * sim.rho
                sim.dec_time += part
                sim.dec_busy += part
                sim.comp += part * sim.comp_frac
            sim.busy += dt * (pre_rate + (dec_rate * sim.rho if T > 0 else 0.0))
        sim.t = t_next
        if t_next == t_arr:
            sim.arrive(order_l[ptr])
            ptr += 1
            if progress is not None and ptr % tick == 0:
                progress(ptr, n)
        elif t_next == t_pre:
            sim.pre_left = 0.0
            sim.prefill_done()
        elif t_next == t_start:
            _, i = heapq.heappop(starting)
            sim.start_decode(i)
        else:
            d = dec[k_dec]
            h = d.heap[0][0]
            d.v = h if h > d.v else d.v
            sim.finish_decode(d)
    if progress is not None:
        progress(n, n)


def _result(sim: _Sim, wl: Workload, server: ServerModel, elapsed: float) -> CapacityRun:
    ttft = sim.first_ms - wl.arrival_ms
    e2e = sim.done_ms - wl.arrival_ms
    steps = np.maximum(wl.output - 1, 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(steps > 0, (sim.done_ms - sim.first_ms) / np.where(steps > 0, steps, 1.0), math.nan)
    start = float(wl.arrival_ms[0]) if wl.n else 0.0
    end = float(np.nanmax(sim.done_ms)) if np.isfinite(sim.done_ms).any() else start
    horizon = max(end - start, 0.0)
    # the loop integrates from t = 0; the first arrival is at or after 0
    span = max(sim.t, 1e-12)
    mt, mb = _thin(sim.mem_log)
    return CapacityRun(ttft_ms=ttft, tpot_ms=tpot, e2e_ms=e2e, dropped=sim.dropped, horizon_ms=horizon,
                       busy_ms=sim.busy, compute_bound_ms=sim.comp, decode_ms=sim.dec_busy,
                       in_server_mean=sim.in_srv / span,
                       in_server_sojourn_ms=sim.out_ms - sim.srv_in_ms,
                       mean_batch=sim.batch / sim.dec_time if sim.dec_time > 0 else 0.0, mem_t_ms=mt, mem_bytes=mb,
                       peak_mem_bytes=sim.peak, mem_limit_bytes=server.resident_bytes + server.budget_bytes,
                       elapsed_s=elapsed)
