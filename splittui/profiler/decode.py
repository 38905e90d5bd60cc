"""Decode-step costs of a causal chain (SPEC §8): one-token steps over a KV cache, per stage.

A decode step runs every stage on the state of one new token. Stages that act per token
(embedding, norms, linears, activations, the last-token head) cost the same at any context, so
they are timed once on the one-token state that running the chain on a one-token input gives. An
attention core attends the new token's query over a KV cache of ``c + 1`` keys and values (``c``
cached plus its own); it is timed at every context ``c`` in ``seq_lens`` with the cache built from
random values (the cost does not depend on them). The cache stays with the core, so what crosses
a cut in a decode step is the one-token state (``dec_in_bytes``), and each core holds
``kv_bytes`` = its key and value of one token per token of context.

Server times come from the roofline preset (bytes moved = state in + out + weights + the cache
read + 2 x scores), or, for a server measured on this CPU (``--server cpu:N``), from the same
one-token steps timed again with N torch threads (a CUDA server is not measured here). Times:
per stage, the median over ``repeats`` passes through every stage (and context) after a warm-up
pass, so a burst of load from another process hits one sample of many stages.
"""

from __future__ import annotations

import statistics
import time
from functools import partial
from typing import Callable

import torch

from .chain import Chain, state_bytes
from .counting import count_kernels
from .layers import AttnCore
from .servers import Measured, Roofline

__all__ = ["decode_fields", "is_causal_lm"]


def is_causal_lm(chain: Chain) -> bool:
    """A chain whose attention cores are all causal (a decoder that generates tokens)."""
    cores = [s.module for s in chain.stages if isinstance(s.module, AttnCore)]
    return bool(cores) and all(c.causal for c in cores)


def _weights(module: torch.nn.Module) -> int:
    seen = {id(p): p for p in module.parameters()}
    return int(sum(p.numel() * p.element_size() for p in seen.values()))


def _cache_state(state: tuple, c: int, gen: torch.Generator) -> tuple:
    """The core's decode input at context c: the new token's q, and k, v over c + 1 positions."""
    *carry, q, k, v = state
    shape = (k.shape[0], k.shape[1], c + 1, k.shape[3])
    return (*carry, q, torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))


def _once_ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def _interleaved_ms(jobs: list, repeats: int) -> list[float]:
    """Median ms of every job over `repeats` passes through all of them, after one warm-up pass:
    a burst of load from another process then spoils one sample of many jobs, not all of one."""
    for fn in jobs:
        fn()
    samples = [[_once_ms(fn) for fn in jobs] for _ in range(repeats)]
    return [statistics.median(col) for col in zip(*samples)]


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


def _jobs(chain: Chain, states: list[tuple], seq_lens: list[int]) -> list[tuple]:
    """(stage index, context or None, input state, callable) for every timing to take."""
    gen = torch.Generator().manual_seed(0)
    plain = AttnCore(causal=False)  # one query over the whole cache: nothing to mask
    jobs: list[tuple[int, int | None, tuple, Callable[[], object]]] = []
    for i, (stage, st) in enumerate(zip(chain.stages, states)):
        if isinstance(stage.module, AttnCore):
            for c in seq_lens:
                s_in = _cache_state(st, c, gen)
                jobs.append((i, c, s_in, partial(plain, *s_in)))
        else:
            jobs.append((i, None, st, partial(stage.module, *st)))
    return jobs


def _cpu_times_ms(jobs: list, repeats: int, threads: int) -> list[float]:
    """``_interleaved_ms`` with ``threads`` torch threads (the measured CPU server's)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _interleaved_ms(jobs, repeats)
    finally:
        torch.set_num_threads(old)


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
def decode_fields(chain: Chain, seq_lens: list[int], *, server: Roofline | Measured, repeats: int = 5) -> dict:
    """Per stage (by name) the decode fields at each context of seq_lens, plus dec_output_bytes."""
    check_decode_server(server)
    states, out = _one_token_states(chain)
    jobs = _jobs(chain, states, seq_lens)
    keys = [(i, c) for i, c, _, _ in jobs]
    times = dict(zip(keys, _interleaved_ms([j[3] for j in jobs], repeats)))
    srv_times = (dict(zip(keys, _cpu_times_ms([j[3] for j in jobs], repeats, server.threads)))
                 if isinstance(server, Measured) else {})
    inputs = {(i, c): s_in for i, c, s_in, _ in jobs}
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
        return f"measured the same way on this CPU with {server.threads} torch thread(s)"
    return f"from the roofline preset '{server.name}' (cache read counted)"


def add_decode_fields(doc: dict, chain: Chain, *, server: Roofline | Measured, repeats: int = 5, threads: int = 1,
                      how: str = "with the profile") -> dict:
    """A copy of a profile document with the decode fields measured for its seq_lens, `source` noting how."""
    import datetime as _dt

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        got = decode_fields(chain, list(doc["seq_lens"]), server=server, repeats=repeats)
    finally:
        torch.set_num_threads(old)
    new = dict(doc, layers=[dict(layer, **got["layers"][layer["name"]]) for layer in doc["layers"]],
               dec_output_bytes=got["dec_output_bytes"])
    new["source"] = dict(doc.get("source", {}), decode=(
        f"decode fields measured {how} on "
        f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}: one-token steps, client "
        f"{threads} thread(s), median of {repeats} passes interleaved over all stages after a warm-up "
        f"pass, attention over a random KV cache of c+1 tokens; server {_server_note(server)}; "
        f"{time.perf_counter() - t0:.1f} s"))
    return new
