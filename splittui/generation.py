"""Generation (SPEC §8): prefill plus N decode steps over a KV cache, as one composite chain.

A request with ``N = gen_tokens`` output tokens is a prefill over ``s`` prompt tokens, which yields the
first, then ``N − 1`` decode steps at contexts ``c = s, s+1, …, s+N−2`` (SPEC §8's counting, Hugging
Face's ``max_new_tokens``; ``model.decode_steps``). One placement serves every phase (a layer's KV
cache stays where it ran), so the request's latency is a chain latency whose per-layer costs are the
sums over phases; every solver runs on that composite chain unchanged.

Decode costs at a context c: the profile samples each decode field at its ``seq_lens``; SPEC §8
says they are linear in c (attention) or constant, so between samples they are interpolated
*linearly* (on linear data this equals costs.py's quadratic rule). The sum over the N contexts is
exact per linear piece (arithmetic series: count × mean of the end values), so it costs
O(pieces × L) whatever N is. Contexts outside the sampled range are an error, as in costs.py:
nothing is extrapolated, so ``s + N − 2`` must not exceed the profile's largest length.

Server memory (objective ``server_mem``): weights of server layers plus their KV cache at ``s+N−1``
tokens (the last token is never fed back), using ``weight_bytes`` and ``kv_bytes`` (bytes per token)
at the last context.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .costs import Costs, breakdown, costs_for
from .energy import RequestEnergy, request_energy
from .errors import SplittuiError
from .memory import MemRows, memory_rows, pin_array
from .model import Profile, Scenario, decode_steps, kv_tokens, resolve_returns, returned_bytes

__all__ = ["Phases", "RequestTimes", "DECODE_FIELDS", "check_contexts", "last_context", "decode_sum", "phase_costs",
           "request_costs", "server_mem_bytes", "predict_request", "request_times", "is_plain"]

DECODE_FIELDS = ("dec_flops", "dec_client_ms", "dec_server_ms", "dec_in_bytes")


def is_plain(sc: Scenario) -> bool:
    """True when the request's chain is exactly the paper's prefill chain (SPEC §3: costs_for)."""
    return sc.gen_tokens == 0 and sc.objective != "server_mem" and not (sc.has_memory_limits or sc.has_pins)


def last_context(s: int, n: int) -> int:
    """The largest context a request with n output tokens reaches: s + n − 2 (s without decode steps)."""
    return s + max(decode_steps(n), 1) - 1


def check_contexts(profile: Profile, s: int, n: int) -> None:
    """Contexts s..s+n−2 must lie in the profile's sampled range (no extrapolation, as costs.py)."""
    lo, hi = profile.seq_range
    last = last_context(s, n)
    if s < lo or last > hi:
        raise SplittuiError(
            f"seq_len {s} + gen_tokens {n} reaches context {last}, outside the profile's range {lo}..{hi} "
            f"({profile.origin or profile.model}): decode costs are not extrapolated")


def decode_sum(seq_lens: tuple[int, ...], values: np.ndarray, first: int, count: int) -> np.ndarray:
    """Σ_{c=first}^{first+count−1} f(c), f linear between the samples values[..., i] at seq_lens[i].

    Exact per piece: the integers of piece i are [k_i, k_{i+1}) (the last piece also holds its end).
    """
    k = seq_lens
    total = np.zeros(values.shape[:-1])
    if count <= 0:
        return total
    last = first + count - 1
    if len(k) == 1:
        return values[..., 0] * count
    for i in range(len(k) - 1):
        p = max(first, k[i])
        q = min(last, k[i + 1] - 1 if i < len(k) - 2 else k[i + 1])
        if p > q:
            continue
        slope = (values[..., i + 1] - values[..., i]) / (k[i + 1] - k[i])
        fp = values[..., i] + slope * (p - k[i])
        fq = values[..., i] + slope * (q - k[i])
        total = total + (q - p + 1) * (fp + fq) / 2.0
    return total


def _at(seq_lens: tuple[int, ...], values: np.ndarray, c: int) -> np.ndarray:
    """The same linear interpolation at one context c (a one-term decode_sum)."""
    return decode_sum(seq_lens, values, c, 1)


@lru_cache(maxsize=64)
def _dec_table(profile: Profile, field: str) -> np.ndarray:
    where = profile.origin or profile.model
    if field in DECODE_FIELDS and not profile.has_decode:
        raise SplittuiError(f"{where}: gen_tokens > 1 needs decode costs ({', '.join(DECODE_FIELDS)} per layer, "
                            "dec_output_bytes per model; SPEC §8), and this profile lacks them")
    if field in ("weight_bytes", "kv_bytes") and not profile.has_server_mem:
        raise SplittuiError(f"{where}: objective server_mem needs weight_bytes and kv_bytes for every layer, "
                            "and this profile lacks them")
    return np.array([getattr(layer, field) for layer in profile.layers], dtype=np.float64)


def server_mem_bytes(profile: Profile, sc: Scenario) -> NDArray[np.float64]:
    """Per layer: weights + KV cache at s+N−1 tokens (what the server holds if the layer runs there)."""
    s, n = sc.seq_len, sc.gen_tokens
    check_contexts(profile, s, n)
    c = last_context(s, n)
    weights = _at(profile.seq_lens, _dec_table(profile, "weight_bytes"), c)
    kv = _at(profile.seq_lens, _dec_table(profile, "kv_bytes"), c)
    out: NDArray[np.float64] = weights + kv * kv_tokens(s, n)
    return out


@dataclass(frozen=True, slots=True)
class Phases:
    """The prefill chain and the decode chain summed over the N − 1 steps (None without a step)."""

    prefill: Costs
    decode: Costs | None
    gen_tokens: int
    mem: np.ndarray | None     # per-layer server memory, when the profile has the fields
    memory: MemRows | None = None   # per-layer memory and limits of both sides (SPEC §10), when known
    energy: RequestEnergy | None = None   # the client's joules per layer and crossing (docs/energy.md)

    @property
    def steps(self) -> int:
        return decode_steps(self.gen_tokens)

    def composite(self) -> Costs:
        """The request as one chain: every per-layer cost summed over the phases (SPEC §8)."""
        p, d = self.prefill, self.decode
        if d is None:
            return p
        return replace(p, client_ms=p.client_ms + d.client_ms, server_ms=p.server_ms + d.server_ms,
                       up_ms=p.up_ms + d.up_ms, down_ms=p.down_ms + d.down_ms, reward=p.reward + d.reward,
                       up_out_ms=p.up_out_ms + d.up_out_ms, down_out_ms=p.down_out_ms + d.down_out_ms)


def _prefill(profile: Profile, sc: Scenario, mem: np.ndarray | None) -> Costs:
    if sc.objective != "server_mem":
        return costs_for(profile, sc)
    if mem is None:
        _dec_table(profile, "weight_bytes")  # raises the error naming the missing fields
        raise AssertionError("unreachable")
    return replace(costs_for(profile, sc.replace(objective="flops")), reward=mem)


def _decode(profile: Profile, sc: Scenario) -> Costs:
    n, s = decode_steps(sc.gen_tokens), sc.seq_len
    k = profile.seq_lens
    tot = {f: decode_sum(k, _dec_table(profile, f), s, n) for f in DECODE_FIELDS}
    if resolve_returns(sc.returns, profile.is_llm, sc.gen_tokens) == "logits":
        out = float(decode_sum(k, np.array(profile.dec_output_bytes, dtype=np.float64), s, n))
    else:   # a fixed size every step
        out = n * returned_bytes(sc.returns, profile.is_llm, 0.0, sc.gen_tokens)
    up_b, down_b = 8.0 / (sc.up_mbps * 1e3), 8.0 / (float(sc.down_mbps or sc.up_mbps) * 1e3)
    delays = n * sc.delay_ms                      # δ at every switch, once per step
    reward = {"flops": tot["dec_flops"], "server_ms": tot["dec_server_ms"], "client_energy": tot["dec_flops"]}.get(
        sc.objective, np.zeros(profile.n_layers))  # memory objectives: held, not summed over steps
    return Costs(client_ms=tot["dec_client_ms"], server_ms=tot["dec_server_ms"],
                 up_ms=delays + tot["dec_in_bytes"] * up_b, down_ms=delays + tot["dec_in_bytes"] * down_b,
                 reward=reward, up_out_ms=delays + out * up_b, down_out_ms=delays + out * down_b,
                 start_client=sc.start == "client", end_client=sc.end == "client",
                 deadline_ms=float(sc.deadline_ms))


def phase_costs(profile: Profile, sc: Scenario) -> Phases:
    """Prefill and summed decode costs of the request, and the per-layer server memory if known."""
    check_contexts(profile, sc.seq_len, sc.gen_tokens)
    mem = server_mem_bytes(profile, sc) if profile.has_server_mem else None
    dec = _decode(profile, sc) if decode_steps(sc.gen_tokens) > 0 else None
    pre = _prefill(profile, sc, mem)
    rows = memory_rows(profile, sc)
    pin = pin_array(profile.n_layers, sc)
    if pin is not None or sc.has_memory_limits:   # SPEC §10 constraints ride on the costs every solver gets
        active = rows if sc.has_memory_limits else None
        pre = replace(pre, pin=pin, mem=active)
        dec = None if dec is None else replace(dec, pin=pin, mem=active)
    energy = request_energy(pre, dec, decode_steps(sc.gen_tokens), radio=sc.radio, up_mbps=sc.up_mbps,
                            down_mbps=float(sc.down_mbps or sc.up_mbps), delay_ms=sc.delay_ms,
                            client_device=profile.source.get("client_device"),
                            server_device=profile.source.get("server_device"))
    return Phases(prefill=pre, decode=dec, gen_tokens=sc.gen_tokens, mem=mem, memory=rows, energy=energy)


def request_costs(profile: Profile, sc: Scenario) -> Costs:
    """The composite chain of the whole request (costs_for itself for a prefill-only scenario)."""
    if is_plain(sc):
        return costs_for(profile, sc)
    return phase_costs(profile, sc).composite()


@dataclass(frozen=True, slots=True)
class RequestTimes:
    """Predicted times of one request under one policy, ms."""

    ttft_ms: float           # prefill, with the first token delivered to the end side
    tpot_ms: float | None    # mean decode-step latency; None without a decode step (N < 2)
    decode_ms: float         # all decode steps
    latency_ms: float        # the whole request = ttft + decode
    server_mem_bytes: float | None


def request_times(ph: Phases, policy: ArrayLike) -> RequestTimes:
    """Exact float TTFT / TPOT / request latency of a policy from its phase costs (SPEC §8)."""
    x = np.asarray(policy, dtype=np.int8)
    ttft = breakdown(ph.prefill, x).total_ms
    dec = 0.0 if ph.decode is None else breakdown(ph.decode, x).total_ms
    mem = None if ph.mem is None else float(ph.mem[x == 0].sum())
    return RequestTimes(ttft_ms=ttft, tpot_ms=dec / ph.steps if ph.steps else None, decode_ms=dec,
                        latency_ms=ttft + dec, server_mem_bytes=mem)


def predict_request(profile: Profile, sc: Scenario, policy: ArrayLike) -> RequestTimes:
    """Predicted TTFT, TPOT and request latency of a policy (for the runner to print beside measurements)."""
    x = np.asarray(policy, dtype=np.int8)
    if x.shape != (profile.n_layers,) or not np.isin(x, (0, 1)).all():
        raise SplittuiError(f"policy must be {profile.n_layers} values of 0 or 1 (one per layer)")
    return request_times(phase_costs(profile, sc), x)
