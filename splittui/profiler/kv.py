"""Running a causal chain over a KV cache: prefill, and one-token decode steps (SPEC §8).

``run_stages`` runs stages [start, stop) of a causal chain in one of two modes. *Prefill*
(``pos=None``) runs them as the plain chain does and keeps every attention core's keys and values in
``cache`` (by stage index). *Decode* (``pos=p``) runs them on the state of the one token at position
``p``: the embedding adds the position ``p``, and an attention core appends the token's key and value
to its cache (which must hold exactly ``p`` positions) and attends over all of them; every other
stage acts per token and runs unchanged.

One code path for everyone who decodes: the run's client and server (runner/decoding.py,
runner/server.py) and the profiler, which times decode steps with exactly this code (decode.py),
so the cache append a real step pays is in the profile too.
"""

from __future__ import annotations

import torch

from .chain import Chain
from .layers import AttnCore, Embed

__all__ = ["run_stages", "stage_step", "next_token", "random_cache"]


def _embed_at(m: Embed, state: tuple, pos: int) -> tuple:
    """Embed's forward for tokens that start at position ``pos`` (the plain forward starts at 0)."""
    rest = list(state)
    ids = rest.pop(m.ids_index if m.ids_index >= 0 else len(rest) + m.ids_index)
    x = m.wte(ids)
    if m.scale != 1.0:
        x = x * m.scale
    x = x + m.pos(torch.arange(pos, pos + ids.shape[-1], device=ids.device))
    if m.type_row is not None:
        x = x + m.type_row.weight[0]
    return (*rest, x)


def _core(m: AttnCore, state: tuple, i: int, cache: dict, pos: int | None) -> tuple:
    *carry, q, k, v = state
    if pos is not None:
        if i not in cache:
            raise ValueError(f"decode step at stage {i}: no KV cache here (no prefill ran this stage on this side)")
        ck, cv = cache[i]
        if ck.shape[2] != pos:
            raise ValueError(f"decode step at position {pos}: stage {i}'s KV cache holds {ck.shape[2]} positions")
        k, v = torch.cat((ck, k), dim=2), torch.cat((cv, v), dim=2)
    cache[i] = (k, v)
    out = m(*carry, q, k, v)  # a causal mask over one query row masks nothing: the new token sees all
    return out if isinstance(out, tuple) else (out,)


def stage_step(chain: Chain, i: int, state: tuple, cache: dict, pos: int | None) -> tuple:
    """Stage ``i`` alone, in prefill (``pos=None``) or decode (``pos``) mode."""
    m = chain.stages[i].module
    if isinstance(m, AttnCore):
        return _core(m, state, i, cache, pos)
    if isinstance(m, Embed) and pos is not None:
        return _embed_at(m, state, pos)
    out = m(*state)
    return out if isinstance(out, tuple) else (out,)


@torch.no_grad()
def run_stages(chain: Chain, state: tuple, start: int, stop: int, cache: dict, pos: int | None) -> tuple:
    """Stages [start, stop) in prefill (``pos=None``) or decode (``pos``) mode, keeping KV caches."""
    for i in range(start, stop):
        state = stage_step(chain, i, state, cache, pos)
    return state


def next_token(state: tuple) -> torch.Tensor:
    """Greedy: the arg-max of the last-token logits, as the next step's (1, 1) input ids."""
    return state[-1].argmax(dim=-1).reshape(1, 1).to(torch.int64)


def random_cache(core_states: dict[int, tuple], c: int, gen: torch.Generator) -> dict:
    """A KV cache of ``c`` positions for every attention core (by stage index), random values: what a
    decode step costs does not depend on them. ``core_states[i]`` is the state entering core ``i``
    in a one-token step (its k and v give the shape)."""
    cache = {}
    for i, st in core_states.items():
        k = st[-2]
        shape = (k.shape[0], k.shape[1], c, k.shape[3])
        cache[i] = (torch.randn(shape, generator=gen, dtype=k.dtype), torch.randn(shape, generator=gen, dtype=k.dtype))
    return cache
