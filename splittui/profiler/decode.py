"""Decode-step costs of a causal chain (SPEC §8): one-token steps over a KV cache, timed in order.

A decode step runs every stage on the state of one new token; an attention core appends the token's
key and value to its cache and attends over the ``c + 1`` keys and values (``c`` cached plus its
own). The profile times real steps, in order, with the code a run executes (``profiler/kv.py``):
at each context ``c`` of ``seq_lens`` every attention core gets a KV cache of about ``c`` positions
(random values: the cost does not depend on them), then one warm-up step and ``repeats`` timed steps
run the whole chain on one token, each stage timed where it runs, so every stage meets the caches
the stages before it leave and an attention core pays for appending to its cache, as in a run.
A stage's time is the median over the steps (stages other than the cores cost the same at any
context: their samples from every context are pooled). Timing each stage over and over on a fixed
input instead (an earlier method) leaves out the cache append and keeps weights warm.

The cache stays with the core, so what crosses a cut in a decode step is the one-token state
(``dec_in_bytes``), and each core holds ``kv_bytes`` = its key and value of one token per token of
context. Server times come from the roofline preset (bytes moved = state in + out + weights + the
cache read + 2 x scores), or, for a server measured on this CPU (``--server cpu:N``), from the same
steps with N torch threads, alternating step by step with the client's, so that a burst of load from
another process hits both sides alike (a CUDA server is not measured here).
"""

from __future__ import annotations

import statistics
import time

import torch

from . import DECODE_TIMING
from .chain import Chain, state_bytes
from .counting import count_kernels
from .kv import random_cache, stage_step
from .layers import AttnCore
from .servers import Measured, Roofline

__all__ = ["decode_fields", "is_causal_lm", "step_times", "DECODE_TIMING"]


def is_causal_lm(chain: Chain) -> bool:
    """A chain whose attention cores are all causal (a decoder that generates tokens)."""
    cores = [s.module for s in chain.stages if isinstance(s.module, AttnCore)]
    return bool(cores) and all(c.causal for c in cores)


def _weights(module: torch.nn.Module) -> int:
    seen = {id(p): p for p in module.parameters()}
    return int(sum(p.numel() * p.element_size() for p in seen.values()))


def _cache_state(state: tuple, c: int) -> tuple:
    """The core's decode input at context c, for FLOPs and bytes only: the new token's q, and k, v over
    c + 1 positions as shapes without storage (the meta device)."""
    *carry, q, k, v = state
    shape = (k.shape[0], k.shape[1], c + 1, k.shape[3])
    return (*carry, q, *(torch.empty(shape, dtype=t.dtype, device="meta") for t in (k, v)))


@torch.no_grad()
def _one_token_states(chain: Chain) -> tuple[list[tuple], tuple]:
    """The state entering every stage for a one-token input, and the output."""
    state = chain.make_input(1)
    states = []
    for stage in chain.stages:
        states.append(state)
        out = stage.module(*state)
        state = out if isinstance(out, tuple) else (out,)
    return states, state


def _inputs(chain: Chain, states: list[tuple], seq_lens: list[int]) -> dict:
    """{(stage, context or None): the stage's decode input} for FLOPs and bytes (a core at every context)."""
    out: dict[tuple[int, int | None], tuple] = {}
    for i, (stage, st) in enumerate(zip(chain.stages, states)):
        if isinstance(stage.module, AttnCore):
            out.update({(i, c): _cache_state(st, c) for c in seq_lens})
        else:
            out[(i, None)] = st
    return out


def _max_positions(chain: Chain) -> int | None:
    """How many positions the chain's embedding knows (None: no limit found)."""
    emb = chain.stages[0].module
    pos = getattr(emb, "pos", None)
    if isinstance(pos, torch.nn.Embedding):
        return int(pos.num_embeddings)
    table = getattr(pos, "table", None)
    return int(table.shape[0]) if isinstance(table, torch.Tensor) else None


def _first_pos(chain: Chain, c: int, repeats: int) -> int:
    """Cache length before the warm-up step: the timed steps then attend over about c + 1 keys (the
    median step exactly, for odd ``repeats``), within the embedding's positions."""
    first = max(0, c - 1 - repeats // 2)
    limit = _max_positions(chain)
    return first if limit is None else max(0, min(first, limit - repeats - 1))


def _decode_step(chain: Chain, cache: dict, pos: int, state: tuple) -> list[float]:
    """One in-order decode step at position ``pos``: every stage's time (ms), taken where it runs."""
    times = []
    for i in range(len(chain.stages)):
        t0 = time.perf_counter()
        state = stage_step(chain, i, state, cache, pos)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


@torch.no_grad()
def step_times(chain: Chain, states: list[tuple], seq_lens: list[int], repeats: int,
               sides: list[int]) -> list[dict]:
    """Per side (its torch threads): {(stage, context or None): median ms} over ``repeats`` in-order
    decode steps at each context after a warm-up step; the sides' steps alternate."""
    gen = torch.Generator().manual_seed(0)
    cores = {i: st for i, st in enumerate(states) if isinstance(chain.stages[i].module, AttnCore)}
    token = chain.make_input(1)
    samples: list[dict] = [{} for _ in sides]
    old = torch.get_num_threads()
    torch.set_flush_denormal(True)  # as the run's processes compute
    try:
        for c in seq_lens:
            first = _first_pos(chain, c, repeats)
            caches = [random_cache(cores, first, gen) for _ in sides]
            for r in range(repeats + 1):  # r = 0 warms up
                for side, threads, cache in zip(samples, sides, caches):
                    torch.set_num_threads(threads)
                    ms = _decode_step(chain, cache, first + r, token)
                    for i, v in enumerate(ms if r else []):
                        side.setdefault((i, c if i in cores else None), []).append(v)
    finally:
        torch.set_num_threads(old)
        torch.set_flush_denormal(False)
    return [{k: statistics.median(v) for k, v in side.items()} for side in samples]


def _server_ms(server: Roofline | Measured, flops: float, moved: float, kernels: int, measured: float | None) -> float:
    if isinstance(server, Measured):
        if measured is None:
            raise ValueError("a measured server needs its own decode timings")
        return measured
    return server.time_ms(flops, moved, kernels)


def check_decode_server(server) -> None:
    """Decode fields come from a roofline preset or this CPU; a CUDA server is not measured here."""
    if isinstance(server, Measured) and server.device != "cpu":
        raise ValueError(f"decode fields: server {server.name!r} is not measured here (roofline or cpu:N only)")


@torch.no_grad()
def decode_fields(chain: Chain, seq_lens: list[int], *, server: Roofline | Measured, repeats: int = 5,
                  threads: int = 1) -> dict:
    """Per stage (by name) the decode fields at each context of seq_lens, plus dec_output_bytes;
    times from in-order decode steps (``step_times``) on ``threads`` client threads (and the server's)."""
    check_decode_server(server)
    states, out = _one_token_states(chain)
    sides = [threads] + ([server.threads] if isinstance(server, Measured) else [])
    timed = step_times(chain, states, seq_lens, repeats, sides)
    times, srv_times = timed[0], (timed[1] if len(timed) > 1 else {})
    inputs = _inputs(chain, states, seq_lens)
    fields: dict[str, dict] = {}
    for i, (stage, st) in enumerate(zip(chain.stages, states)):
        outs = stage.module(*st)
        out_b = state_bytes(outs if isinstance(outs, tuple) else (outs,))
        w, kernels = _weights(stage.module), count_kernels(stage.module, st)
        is_core = isinstance(stage.module, AttnCore)
        rec: dict[str, list] = {k: [] for k in ("dec_flops", "dec_client_ms", "dec_server_ms", "dec_in_bytes",
                                                "weight_bytes", "kv_bytes")}
        for c in seq_lens:
            key = (i, c if is_core else None)
            s_in = inputs[key]
            flops = stage.flops(s_in) if stage.flops else 0.0
            cache = 2 * state_bytes(s_in[-1:]) if is_core else 0      # k and v read from the cache
            scratch = s_in[-3].shape[2] * s_in[-2].shape[2] * s_in[-3].shape[1] * 4 if is_core else 0
            moved = state_bytes(st) + out_b + w + cache + 2 * scratch
            rec["dec_flops"].append(float(flops))
            rec["dec_client_ms"].append(round(times[key], 6))
            rec["dec_server_ms"].append(round(_server_ms(server, flops, moved, kernels, srv_times.get(key)), 6))
            rec["dec_in_bytes"].append(float(state_bytes(st)))
            rec["weight_bytes"].append(float(w))
            rec["kv_bytes"].append(float(2 * st[-2].shape[1] * st[-2].shape[3] * st[-2].element_size())
                                   if is_core else 0.0)
        fields[stage.name] = rec
    return {"layers": fields, "dec_output_bytes": [float(state_bytes(out))] * len(seq_lens)}


def _server_note(server: Roofline | Measured) -> str:
    if isinstance(server, Measured):
        return (f"measured the same way on this CPU with {server.threads} torch thread(s), its steps alternating "
                "with the client's")
    return f"from the roofline preset '{server.name}' (cache read counted)"


def add_decode_fields(doc: dict, chain: Chain, *, server: Roofline | Measured, repeats: int = 5, threads: int = 1,
                      how: str = "with the profile") -> dict:
    """A copy of a profile document with the decode fields measured for its seq_lens, `source` noting how."""
    import datetime as _dt

    t0 = time.perf_counter()
    got = decode_fields(chain, list(doc["seq_lens"]), server=server, repeats=repeats, threads=threads)
    new = dict(doc, layers=[dict(layer, **got["layers"][layer["name"]]) for layer in doc["layers"]],
               dec_output_bytes=got["dec_output_bytes"])
    new["source"] = dict(doc.get("source", {}), decode=(
        f"decode fields measured {how} on "
        f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}: {DECODE_TIMING}, client "
        f"{threads} thread(s): at each context c a KV cache of about c random positions per attention core, "
        f"1 warm-up step, then per stage the median over {repeats} one-token steps through the whole chain "
        f"(the run's own code, cache append included; stages other than the cores pooled over contexts); "
        f"server {_server_note(server)}; {time.perf_counter() - t0:.1f} s"))
    profiling = doc.get("profiling")
    if isinstance(profiling, dict):
        new["profiling"] = dict(profiling, timing=dict(profiling.get("timing") or {}, decode=DECODE_TIMING))
    tied = tied_stages(chain)
    new["tied_stages"] = None if tied is None else list(tied)   # null: looked for, none (the run's cache checks it)
    return new


def tied_stages(chain: Chain) -> tuple[int, int, float] | None:
    """(first stage, later stage, bytes) when the first stage shares a weight tensor with a later one (a tied
    embedding and LM head): memory holds it once per side (SPEC §10), while each stage's ``weight_bytes``
    counts it, as each reads it."""
    first = {t.data_ptr(): t.numel() * t.element_size() for t in chain.stages[0].module.parameters()}
    for j in range(len(chain.stages) - 1, 0, -1):
        shared = {t.data_ptr() for t in chain.stages[j].module.parameters()} & first.keys()
        if shared:
            return 0, j, float(sum(first[k] for k in shared))
    return None
