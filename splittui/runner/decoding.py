"""Generation over a split: prefill, then decode steps, each attention core's KV cache on its own side.

``run_stages`` (profiler/kv.py, the same code the profiler times decode steps with) runs stages
[start, stop) of a causal chain in prefill (``pos=None``) or decode (``pos=p``) mode, keeping every
attention core's keys and values in ``cache``. Client and server call it for the stages the policy
gives them, each with its own ``cache``, so a cache never crosses the link (SPEC §8: one placement
serves the request).

``generate`` is the client's side of one request: a prefill and ``n`` greedy decode steps under a
policy, timing the first token (TTFT) and every step. ``reference_tokens`` is the oracle: greedy
decoding with the unsplit model (``chain.reference``), recomputing the whole sequence at every step
with no cache at all.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from ..errors import SplittuiError
from ..profiler.chain import Chain
from ..profiler.kv import next_token, run_stages
from ..profiler.layers import AttnCore, Embed, LastTokenHead

__all__ = ["check_generative", "run_stages", "generate", "GenTiming", "reference_tokens", "next_token"]


def check_generative(chain: Chain) -> None:
    """A chain that can generate: an embedding first, causal attention cores, a last-token head."""
    mods = [s.module for s in chain.stages]
    cores = [m for m in mods if isinstance(m, AttnCore)]
    ok = (mods and isinstance(mods[0], Embed) and isinstance(mods[-1], LastTokenHead) and cores
          and all(c.causal for c in cores))
    if not ok:
        raise SplittuiError(f"--gen-tokens: {chain.model} is not a causal language model (an embedding, causal "
                            "attention cores and a last-token head); use gpt2-like")


@dataclass(frozen=True, slots=True)
class GenTiming:
    """One request, ms: the first token (prefill), then each decode step."""

    ttft_ms: float
    step_ms: tuple[float, ...]
    total_ms: float
    transfers: int          # per phase (prefill, and each decode step)

    @property
    def tpot_ms(self) -> float | None:
        return statistics.fmean(self.step_ms) if self.step_ms else None


def _phase(chain: Chain, conn, policy, state: tuple, up, down, cache: dict, pos: int | None) -> tuple:
    from .client import segments

    for side, start, stop in segments(policy):
        if side == 1:
            state = run_stages(chain, state, start, stop, cache, pos)
        else:
            kv = {"kv": "prefill"} if pos is None else {"kv": "decode", "pos": pos}
            state, _ = conn.run(start, stop, state, up, down, extra=kv)
    return state


@torch.no_grad()
def generate(chain: Chain, conn, policy, ids: torch.Tensor, n: int, up, down) -> tuple[list[int], GenTiming]:
    """Prefill ``ids`` (1, s) and ``n`` greedy decode steps under ``policy``; the n + 1 tokens and times."""
    from .client import segments

    cache: dict = {}
    s = ids.shape[-1]
    t0 = time.perf_counter()
    tok = next_token(_phase(chain, conn, policy, (ids,), up, down, cache, None))
    t1 = time.perf_counter()
    tokens, steps = [int(tok)], []
    for t in range(n):
        ts = time.perf_counter()
        tok = next_token(_phase(chain, conn, policy, (tok,), up, down, cache, s + t))
        steps.append((time.perf_counter() - ts) * 1e3)
        tokens.append(int(tok))
    total = (time.perf_counter() - t0) * 1e3
    transfers = 2 * sum(side == 0 for side, _, _ in segments(policy))
    return tokens, GenTiming(ttft_ms=(t1 - t0) * 1e3, step_ms=tuple(steps), total_ms=total, transfers=transfers)


@torch.no_grad()
def reference_tokens(chain: Chain, ids: torch.Tensor, n: int) -> list[int]:
    """Greedy decoding with the unsplit model, no cache: the whole sequence again at every step."""
    from ..profiler.chain import run_chain

    model = chain.reference
    seq, tokens = ids, []
    for _ in range(n + 1):
        out = model(seq) if model is not None else run_chain(chain, (seq,))[-1]
        tok = next_token(out if isinstance(out, tuple) else (out,))
        tokens.append(int(tok))
        seq = torch.cat((seq, tok), dim=1)
    return tokens
