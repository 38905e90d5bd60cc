"""The capacity simulation's event loop as it was before it was made fast (issue 27), kept as an oracle.

`splittui.sim.capacity.simulate_server` must give bit-for-bit the same per-request times and server
figures as this copy (tests/core/test_capacity_speed.py). It is the loop of commit 3145d13 verbatim,
timing each batched step with the interpreted `ServerModel.step_views` / `step_terms` (not the compiled
kernels of `splittui.sim.kernel`). Do not optimise it: its worth is that it is the old code.
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

from splittui.sim.capacity import CapacityRun, SimOptions
from splittui.sim.server import ClientClass, ServerModel
from splittui.sim.workload import Workload

__all__ = ["simulate_server_reference"]

_F = NDArray[np.float64]
_I = NDArray[np.int64]


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
        self.passes = 1   # u lags by one event: the batch changes by one request per event
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
        """Periods of the decoding classes from the current batch (fixed-point passes from the last u).

        The iteration that holds a class-k request holds it for sure and every other request with the
        probability u_j that it is at the server: batch ``n_j u_j + [j = k](1 − u_k)``; its time is T_k,
        ``u_k = T_k / p_k``, and the wait for an iteration the others keep busy is T_k/2 times the chance
        that one of them is in."""
        dec = self.dec
        if len(dec) == 1:
            self._rates_one(dec[0])
            return
        n = [float(len(d.heap)) for d in dec]
        if not any(n):
            self.T = self.rho = self.bsum = 0.0
            return
        ctx = [d.base + 0.5 * (d.tsum + len(d.heap) * d.v) for d in dec]   # mid-remaining contexts
        mean = [c / m if m else 0.0 for c, m in zip(ctx, n)]
        u = self.u if len(self.u) == len(dec) else [1.0] * len(dec)
        T: list[float] = []
        comp: list[float] = []
        for _ in range(self.passes):
            T, comp = self.server.step_views([a * b for a, b in zip(n, u)], [a * b for a, b in zip(ctx, u)],
                                             [1.0 - x for x in u], [(1.0 - x) * m for x, m in zip(u, mean)])
            T = [max(t, 1e-9) for t in T]   # a server part of no time still ends (and keeps the loop moving)
            u = [T[k] / (dec[k].r + T[k]) if dec[k].r > 0 else 1.0 for k in range(len(dec))]
        idle = [(1.0 - u[k]) ** n[k] for k in range(len(dec))]
        all_idle = math.prod(idle)
        for k, d in enumerate(dec):
            others_idle = all_idle / (1.0 - u[k]) if u[k] < 1.0 else math.prod(idle[:k] + idle[k + 1:])
            d.period = d.r + T[k] + self.phase * T[k] * (1.0 - others_idle) if d.r > 0 else T[k]
        big = max(range(len(dec)), key=lambda k: n[k])
        self.u = u
        self.comp_frac = comp[big] / T[big] if T[big] > 0 else 0.0
        self.T = max(T)
        self.rho = 1.0 - all_idle
        self.bsum = sum(a * b for a, b in zip(n, u))

    def _rates_one(self, d: _Decode) -> None:
        """`rates` for one class (the common case), without the per-class lists."""
        n = len(d.heap)
        if not n:
            self.T = self.rho = self.bsum = 0.0
            return
        ctx = d.base + 0.5 * (d.tsum + n * d.v)
        u = self.u[0] if self.u else 1.0
        T, comp, _m = self.server.step_terms((n * u + 1.0 - u,), (ctx * u + (1.0 - u) * ctx / n,))
        T = max(T, 1e-9)
        u = T / (d.r + T) if d.r > 0 else 1.0
        d.period = d.r + T + self.phase * T * (1.0 - (1.0 - u) ** (n - 1)) if d.r > 0 else T
        self.u = [u]
        self.comp_frac = comp / T
        self.T, self.rho, self.bsum = T, 1.0 - (1.0 - u) ** n, n * u

    def split(self) -> tuple[float, float]:
        """(prefill progress rate, decode rate) of server time now."""
        decoding = self.T > 0
        if not self.prefill:
            return 0.0, 1.0
        if self.opt.prefill == "prefill-first" or not decoding:
            return 1.0, 0.0
        i = self.prefill[0]
        chunk = min(self.pre_left, self.pre_l[i] * self.opt.chunk_tokens / max(self.prompt_l[i], 1))
        frac = chunk / (chunk + self.T)
        return frac, 1.0 - frac

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

    def advance(self, dt: float, pre_rate: float, dec_rate: float) -> None:
        if dt <= 0:
            return
        self.in_srv += dt * (self.active + len(self.admit))
        if self.prefill:
            self.pre_left -= dt * pre_rate
        if self.T > 0 and dec_rate > 0:
            for d in self.dec:
                if d.heap:
                    d.v += dt * dec_rate / d.period
            self.batch += dt * dec_rate * self.bsum
            self.dec_time += dt * dec_rate * self.rho
            part = dt * dec_rate * self.rho
            self.dec_busy += part
            self.comp += part * self.comp_frac
        self.busy += dt * (pre_rate + (dec_rate * self.rho if self.T > 0 else 0.0))
        self.t += dt


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


def simulate_server_reference(wl: Workload, classes: list[ClientClass], server: ServerModel, opt: SimOptions, *,
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
    Over 40 lines: one loop keeps the hot path free of calls."""
    ptr, n, inf = 0, len(order), math.inf
    order_l, at_l = order.tolist(), at.tolist()
    tick = max(n // 100, 1)
    while True:
        pre_rate, dec_rate = sim.split()
        t_arr = at_l[ptr] if ptr < n else inf
        t_pre = sim.t + sim.pre_left / pre_rate if sim.prefill and pre_rate > 0 else inf
        t_start = sim.starting[0][0] if sim.starting else inf
        t_dec, k_dec = inf, -1
        if sim.T > 0 and dec_rate > 0:
            for k, d in enumerate(sim.dec):
                if d.heap:
                    tk = sim.t + max(d.heap[0][0] - d.v, 0.0) * d.period / dec_rate
                    if tk < t_dec:
                        t_dec, k_dec = tk, k
        t_next = min(t_arr, t_pre, t_start, t_dec)
        if t_next == inf:
            break
        sim.advance(t_next - sim.t, pre_rate, dec_rate)
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
            _, i = heapq.heappop(sim.starting)
            sim.start_decode(i)
        else:
            d = sim.dec[k_dec]
            d.v = max(d.v, d.heap[0][0])
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
