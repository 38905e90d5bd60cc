"""The server of many split clients (docs/capacity.md): batched decode steps and per-class request parts.

A *client class* is a device with its own link and its own placement ``x``. Its request splits into an
off-server part (client layers, transfers, the first token's return) and a server part; the server part
of a decode step is batched with every other request whose server range holds the same layer.

Per server layer ``l`` the batched decode step of a batch with ``b_l`` requests and context sum ``S_l``
takes (the roofline of `devices.Device.time_ms`, weights read once, FLOPs and KV reads per request)::

    t_l = max(α · (f0_l·b_l + f1_l·S_l),  β · (W_l·min(1, b_l) + kv_l·S_l + a_l·b_l)) + o_l·min(1, b_l)

with ``α``, ``β`` the device's ms per FLOP and per byte, ``f0 + f1·c`` the layer's decode FLOPs at context
``c``, ``W`` its weights (an embedding lookup reads one row per request, counted in ``a``), ``kv`` its
KV bytes per token, ``a`` its activation in and out, and ``o`` what
the profile's batch-1 time holds beyond the roofline (kernel overheads, a runtime's calibration).
``min(1, b)`` lets a fluid (fractional) batch read the weights only as often as the layer runs.
Pure numpy; no UI import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..costs import breakdown
from ..devices import Device
from ..errors import SplittuiError
from ..generation import _at, phase_costs
from ..memory import memory_rows, reserve_bytes
from ..model import Profile, Scenario, decode_steps, kv_tokens
from .kernel import Row, TermsFn, ViewsFn, compile_terms, compile_views

__all__ = ["ClientClass", "ServerModel", "client_class", "server_model"]

_F = NDArray[np.float64]
_Row = Row


@dataclass(frozen=True, slots=True, eq=False)
class ClientClass:
    """One device class: its placement and the parts of a request that do not batch (ms, bytes)."""

    name: str
    weight: float                 # share of the arrivals
    policy: tuple[int, ...]       # x_l: 1 client, 0 server
    seq_knots: _F                 # prompt lengths at which the prefill parts are sampled
    pre_before_ms: _F             # off-server prefill time before the server part (client prefix + upload)
    pre_after_ms: _F              # off-server prefill time after it (the rest, first token delivered)
    pre_server_ms: _F             # the server part of the prefill, alone on the server
    step_off_ms: float            # off-server time of one decode step (client layers + transfers)
    step_server_ms: float         # the server part of one decode step, alone (batch 1)
    kv_per_token: float           # server KV bytes per token of this class's request
    server_weights: float         # weights of its server layers, bytes
    prompt: int
    output: int

    @property
    def on_server(self) -> bool:
        return 0 in self.policy

    def prefill_parts(self, prompt: NDArray[np.float64]) -> tuple[_F, _F, _F]:
        """(before, server, after) ms for each prompt length (linear between the knots)."""
        k = self.seq_knots
        return (np.interp(prompt, k, self.pre_before_ms), np.interp(prompt, k, self.pre_server_ms),
                np.interp(prompt, k, self.pre_after_ms))

    def latency_ms(self) -> tuple[float, float]:
        """(TTFT, TPOT) of one request alone on the server at the nominal lengths."""
        b, s, a = (float(v[0]) for v in self.prefill_parts(np.array([float(self.prompt)])))
        return b + s + a, self.step_off_ms + self.step_server_ms


@dataclass(frozen=True, slots=True, eq=False)
class ServerModel:
    """The server's batched decode step over layer rows (identical layers merged), and its memory."""

    device: str
    ms_per_flop: float
    ms_per_byte: float
    f0: _F
    f1: _F
    weights: _F
    kv: _F
    act: _F
    over: _F
    count: _F           # layers merged into each row
    mask: _F            # (classes, rows): 1 where the class runs the row's layers on the server
    resident_bytes: float   # weights of every layer any class runs on the server, held once
    budget_bytes: float     # memory for KV caches: limit − reserve − resident weights

    table: tuple[_Row, ...] = ()
    _kernels: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def classes(self) -> int:
        return int(self.mask.shape[0])

    def terms_fn(self) -> TermsFn:
        """`step_terms` compiled for this model (`kernel`): the same numbers, several times faster."""
        return self._compiled("terms", compile_terms, self.step_terms)  # type: ignore[return-value]

    def views_fn(self) -> ViewsFn:
        """`step_views` compiled for this model (`kernel`): the same numbers, several times faster."""
        return self._compiled("views", compile_views, self.step_views)  # type: ignore[return-value]

    def _compiled(self, name: str, compile_fn: Callable[..., object], fallback: object) -> object:
        """The kernel `name`, compiled once per model; the interpreted method where it cannot be."""
        fn = self._kernels.get(name)
        if fn is None:
            fn = self._kernels[name] = compile_fn(self.ms_per_flop, self.ms_per_byte, self.table,
                                                  self.classes) or fallback
        return fn

    def step_terms(self, b: Sequence[float], s: Sequence[float]) -> tuple[float, float, float]:
        """(time, compute-bound part, memory-bound part) ms of one batched step; `b`, `s` per class:
        requests in the batch and the sum of their contexts (fluid: fractional). Pure Python over the
        merged rows (a few dozen): the event loop calls it twice an event, where numpy's call overhead
        would dominate."""
        alpha, beta = self.ms_per_flop, self.ms_per_byte
        total = comp_part = mem_part = 0.0
        for f0, f1, w, kv, act, over, cnt, ks in self.table:
            bl = sl = 0.0
            for k in ks:
                bl += b[k]
                sl += s[k]
            if bl <= 0.0:
                continue
            run = bl if bl < 1.0 else 1.0
            comp = alpha * (f0 * bl + f1 * sl)
            mem = beta * (w * run + kv * sl + act * bl)
            if comp >= mem:
                comp_part += cnt * comp
                total += cnt * (comp + over * run)
            else:
                mem_part += cnt * mem
                total += cnt * (mem + over * run)
        return total, comp_part, mem_part

    def step_views(self, b: Sequence[float], s: Sequence[float], own_b: Sequence[float],
                   own_s: Sequence[float]) -> tuple[list[float], list[float]]:
        """Per class k: (time, compute-bound part) of the step of the batch `b`, `s` with `own_b[k]`,
        `own_s[k]` added to class k (the iteration that holds one of its requests for sure): every row
        timed once at the shared batch, then again with class k's own share where class k runs it."""
        alpha, beta = self.ms_per_flop, self.ms_per_byte
        K = len(b)
        d_t, d_c = [0.0] * K, [0.0] * K
        base_t = base_c = 0.0
        for f0, f1, w, kv, act, over, cnt, ks in self.table:
            bl = sl = 0.0
            for k in ks:
                bl += b[k]
                sl += s[k]
            t0 = c0 = 0.0
            if bl > 0.0:
                run = bl if bl < 1.0 else 1.0
                c = alpha * (f0 * bl + f1 * sl)
                m = beta * (w * run + kv * sl + act * bl)
                t0, c0 = (cnt * (c + over * run), cnt * c) if c >= m else (cnt * (m + over * run), 0.0)
                base_t += t0
                base_c += c0
            for k in ks:
                x, y = bl + own_b[k], sl + own_s[k]
                if x <= 0.0:
                    continue
                run = x if x < 1.0 else 1.0
                c = alpha * (f0 * x + f1 * y)
                m = beta * (w * run + kv * y + act * x)
                if c >= m:
                    d_t[k] += cnt * (c + over * run) - t0
                    d_c[k] += cnt * c - c0
                else:
                    d_t[k] += cnt * (m + over * run) - t0
                    d_c[k] -= c0
        return [base_t + v for v in d_t], [base_c + v for v in d_c]

    def step_ms(self, b: Sequence[float], s: Sequence[float]) -> float:
        return self.step_terms(b, s)[0]


def _contexts(s: int, n: int) -> tuple[int, int]:
    lo = s
    return lo, lo + max(decode_steps(n) - 1, 1)


def _layer_rows(profile: Profile, sc: Scenario, dev: Device, fp32: bool) -> _F:
    """Per layer: f0, f1, weights, kv per token, activation bytes, overhead (ms) — shape (6, L)."""
    k = profile.seq_lens
    a, b = _contexts(sc.seq_len, sc.gen_tokens)
    table = {f: np.array([getattr(layer, f) for layer in profile.layers], dtype=np.float64)
             for f in ("dec_flops", "weight_bytes", "kv_bytes", "dec_in_bytes", "dec_server_ms")}
    fa, fb = _at(k, table["dec_flops"], a), _at(k, table["dec_flops"], b)
    f1 = (fb - fa) / (b - a)
    f0 = fa - f1 * a
    w, kv = _at(k, table["weight_bytes"], a), _at(k, table["kv_bytes"], a)
    din = _at(k, table["dec_in_bytes"], a)
    act = din + np.append(din[1:], 0.0)
    lookup = np.array([layer.kind == "embedding" for layer in profile.layers])
    w = np.where(lookup, 0.0, w)      # a lookup reads one row per request (its output), not the whole table
    roof = np.array([dev.time_ms(float(f), float(m), 0, fp32=fp32) for f, m in zip(fa, w + kv * a + act)])
    over = np.maximum(_at(k, table["dec_server_ms"], a) - roof, 0.0)
    return np.vstack((f0, f1, w, kv, act, over))


def server_model(profile: Profile, sc: Scenario, dev: Device, classes: list[ClientClass], *,
                 mem_gb: float | None = None) -> ServerModel:
    """The server that `classes` share; memory limit `mem_gb` (default the device's)."""
    if not (profile.has_decode and profile.has_server_mem):
        raise SplittuiError(f"{profile.origin or profile.model}: capacity needs decode costs and weight_bytes/kv_bytes "
                            "per layer (an LLM config such as llama-3.1-8b, or --hf-config)")
    fp32 = str(profile.extra.get("dtype") or profile.source.get("dtype") or "fp32") == "fp32"
    rows = _layer_rows(profile, sc, dev, fp32)
    mask = np.array([[1.0 if v == 0 else 0.0 for v in c.policy] for c in classes])
    key = np.vstack((rows, mask)).T
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    count = np.bincount(inverse.ravel(), minlength=len(uniq)).astype(np.float64)
    union = mask.max(axis=0) > 0
    mr = memory_rows(profile, sc)
    resident = float(mr.weights[union].sum()) if mr is not None else float(rows[2][union].sum())
    limit = (mem_gb if mem_gb is not None else dev.mem_gb) * 1e9
    budget = limit - reserve_bytes(limit) - resident if limit > 0 else math.inf
    return ServerModel(device=dev.name, ms_per_flop=dev.time_ms(1e12, 0.0, 0, fp32=fp32) / 1e12,
                       ms_per_byte=dev.time_ms(0.0, 1e12, 0, fp32=fp32) / 1e12,
                       f0=uniq[:, 0].copy(), f1=uniq[:, 1].copy(), weights=uniq[:, 2].copy(), kv=uniq[:, 3].copy(),
                       act=uniq[:, 4].copy(), over=uniq[:, 5].copy(), count=count, mask=uniq[:, 6:].T.copy(),
                       resident_bytes=resident, budget_bytes=budget, table=_table(uniq, count, len(classes)))


def _table(uniq: _F, count: _F, k: int) -> tuple[_Row, ...]:
    out = []
    for row, n in zip(uniq, count):
        f0, f1, w, kv, act, over = (float(v) for v in row[:6])
        out.append((f0, f1, w, kv, act, over, float(n), tuple(j for j in range(k) if row[6 + j] > 0)))
    return tuple(out)


def _split_prefill(profile: Profile, sc: Scenario, x: NDArray[np.int8]) -> tuple[float, float, float]:
    """(before, server, after) ms of the prefill under x: the server's layers run as one block."""
    pre = phase_costs(profile, sc.replace(gen_tokens=min(sc.gen_tokens, 1))).prefill
    total = breakdown(pre, x).total_ms
    on = x == 0
    server = float(pre.server_ms[on].sum())
    if not on.any():
        return total, 0.0, 0.0
    first = int(np.flatnonzero(on)[0])
    before = float(pre.client_ms[:first].sum()) + (float(pre.up_ms[first]) if (first > 0 or pre.start_client) else 0.0)
    return before, server, total - server - before


def client_class(profile: Profile, sc: Scenario, policy: tuple[int, ...], *, name: str,
                 weight: float = 1.0) -> ClientClass:
    """A class from its profile (timed on its client device), scenario (its link) and placement."""
    x = np.asarray(policy, dtype=np.int8)
    knots = sorted({*profile.seq_lens, sc.seq_len})
    parts = np.array([_split_prefill(profile, sc.replace(seq_len=k), x) for k in knots]).T
    ph = phase_costs(profile, sc)
    steps = decode_steps(sc.gen_tokens)
    step_total = breakdown(ph.decode, x).total_ms / steps if ph.decode is not None and steps else 0.0
    step_server = float(ph.decode.server_ms[x == 0].sum()) / steps if ph.decode is not None and steps else 0.0
    mr = memory_rows(profile, sc)
    kv = float(mr.kv[x == 0].sum()) / kv_tokens(sc.seq_len, sc.gen_tokens) if mr is not None else 0.0
    weights = float(mr.weights[x == 0].sum()) if mr is not None else 0.0
    return ClientClass(name=name, weight=weight, policy=tuple(int(v) for v in x), seq_knots=np.array(knots, float),
                       pre_before_ms=parts[0], pre_server_ms=parts[1], pre_after_ms=parts[2],
                       step_off_ms=step_total - step_server, step_server_ms=step_server, kv_per_token=kv,
                       server_weights=weights, prompt=sc.seq_len, output=sc.gen_tokens)
