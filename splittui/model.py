"""Frozen value types shared by every part of splittui: layers, profiles, scenarios, results."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import SplittuiError

__all__ = ["Layer", "Profile", "Scenario", "Breakdown", "Result", "SIDES", "OBJECTIVES", "RETURNS", "parse_returns",
           "returned_bytes", "resolve_returns",
           "decode_steps", "kv_tokens", "RADIO_KINDS"]

SIDES = ("client", "server")
OBJECTIVES = ("flops", "mem_bytes", "server_ms", "server_mem", "client_energy")
RADIO_KINDS = ("none", "wifi", "lte", "5g")   # the client's radio (docs/energy.md; models in energy.RADIOS)
ROUNDINGS = ("ceil", "round")


@dataclass(frozen=True, slots=True)
class Layer:
    """One link of the chain; every cost is a tuple with one entry per profile sequence length."""

    name: str
    kind: str
    flops: tuple[float, ...]
    client_ms: tuple[float, ...]
    server_ms: tuple[float, ...]
    in_bytes: tuple[float, ...]
    mem_bytes: tuple[float, ...] | None = None
    # Generation (SPEC §8), all optional: one decode step at context c = each seq_lens value.
    dec_flops: tuple[float, ...] | None = None
    dec_client_ms: tuple[float, ...] | None = None
    dec_server_ms: tuple[float, ...] | None = None
    dec_in_bytes: tuple[float, ...] | None = None
    weight_bytes: tuple[float, ...] | None = None
    kv_bytes: tuple[float, ...] | None = None   # KV-cache bytes per token held by the layer (0: none)


@dataclass(frozen=True, slots=True, eq=False)
class Profile:
    """A validated `splittui.profile/1` document (see SPEC §6)."""

    model: str
    description: str
    source: dict[str, Any]
    seq_lens: tuple[int, ...]
    output_bytes: tuple[float, ...]
    layers: tuple[Layer, ...]
    sha256: str = ""
    origin: str = ""  # shipped name or file path it was loaded from
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    dec_output_bytes: tuple[float, ...] | None = None

    @property
    def has_decode(self) -> bool:
        """Every layer has the four decode fields and the model has dec_output_bytes (SPEC §8)."""
        return self.dec_output_bytes is not None and all(
            None not in (layer.dec_flops, layer.dec_client_ms, layer.dec_server_ms, layer.dec_in_bytes)
            for layer in self.layers)

    @property
    def has_server_mem(self) -> bool:
        return all(layer.weight_bytes is not None and layer.kv_bytes is not None for layer in self.layers)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def is_llm(self) -> bool:
        """Built from an LLM config (its answer is next-token logits over a vocabulary)."""
        return "arch" in self.extra

    @property
    def has_mem(self) -> bool:
        return all(layer.mem_bytes is not None for layer in self.layers)

    @property
    def seq_range(self) -> tuple[int, int]:
        return self.seq_lens[0], self.seq_lens[-1]

    @property
    def default_seq(self) -> int:
        """512 when the profile covers it, else its measured length nearest to 512."""
        lo, hi = self.seq_range
        if lo <= 512 <= hi:
            return 512
        return min(self.seq_lens, key=lambda s: abs(s - 512))


@dataclass(frozen=True, slots=True)
class Scenario:
    """The conditions one placement is solved for (SPEC §2); validated on construction."""

    deadline_ms: float = 1500.0
    up_mbps: float = 100.0
    down_mbps: float | None = None  # None: same as up_mbps
    delay_ms: float = 10.0
    seq_len: int = 512
    unit_ms: float = 1.0
    start: str = "client"
    end: str = "client"
    objective: str = "flops"
    rounding: str = "ceil"
    gen_tokens: int = 0              # output tokens N (SPEC §8: the prefill's, then N − 1 steps); 0: prefill only
    ttft_ms: float | None = None     # optional limit on the time to first token
    tpot_ms: float | None = None     # optional limit on the mean time per output token
    returns: str = "auto"            # what the answer's last transfer carries (SPEC §8, docs/maths): see RETURNS
    client_mem_gb: float | None = None   # memory limit of the client, GB = 1e9 bytes (SPEC §10); None: no limit
    server_mem_gb: float | None = None   # memory limit of the server, GB; None: no limit
    pin_client: tuple[int, ...] = ()     # layer indices that must run on the client (SPEC §10)
    pin_server: tuple[int, ...] = ()     # layer indices that must run on the server
    radio: str = "wifi"                  # the client's radio, for its energy (docs/energy.md): see RADIO_KINDS
    client_energy_j: float | None = None   # limit on the client's joules per request (estimate); None: no limit

    def __post_init__(self) -> None:
        if self.down_mbps is None:
            object.__setattr__(self, "down_mbps", self.up_mbps)
        for name in ("pin_client", "pin_server"):
            object.__setattr__(self, name, _pins(name, getattr(self, name)))
        _scenario_iv(self)

    def replace(self, **changes: Any) -> "Scenario":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field; the generation fields only when set, so prefill-only documents are unchanged."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in _GEN_FIELDS:
            if out[name] in (0, None):
                del out[name]
        if out["returns"] == "auto":
            del out["returns"]
        if out["radio"] == "wifi":
            del out["radio"]
        if out["client_energy_j"] is None:
            del out["client_energy_j"]
        for name in _LIMIT_FIELDS:
            if out[name] in (None, ()):
                del out[name]
            elif name.startswith("pin_"):
                out[name] = list(out[name])
        return out

    @property
    def has_memory_limits(self) -> bool:
        return self.client_mem_gb is not None or self.server_mem_gb is not None

    @property
    def has_pins(self) -> bool:
        return bool(self.pin_client or self.pin_server)


_GEN_FIELDS = ("gen_tokens", "ttft_ms", "tpot_ms")
_LIMIT_FIELDS = ("client_mem_gb", "server_mem_gb", "pin_client", "pin_server")


def _pins(name: str, value: Any) -> tuple[int, ...]:
    """A pin set as a sorted tuple of distinct layer indices (lists, e.g. from JSON, are accepted)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise SplittuiError(f"scenario: {name} must be a list of layer indices, got {value!r}")
    items = list(value)
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in items):
        raise SplittuiError(f"scenario: {name} must hold layer indices (integers >= 0), got {items!r}")
    return tuple(sorted(set(items)))

# What the end of the prefill and of every decode step sends back when the last layer runs away from the
# end side: "logits" = the profile's own output_bytes / dec_output_bytes; "token" = one int32 token id;
# "topk:K" = K int32 ids + K fp32 probabilities; "auto" = token for LLM configs (profiles with an "arch") and
# whenever the request generates (SPEC §8), the profile's own output for a measured profile's single forward
# pass (the paper's setting).
RETURNS = ("auto", "logits", "token", "topk:K")
TOKEN_BYTES = 4.0
TOPK_BYTES_PER = 8.0


def decode_steps(gen_tokens: int) -> int:
    """Decode steps of a request with N output tokens (SPEC §8, as Hugging Face's max_new_tokens): the
    prefill yields the first token, then N − 1 steps at contexts s … s+N−2."""
    return max(gen_tokens - 1, 0)


def kv_tokens(seq_len: int, gen_tokens: int) -> int:
    """Tokens in the KV cache at the end of a request: s + N − 1 (the last token is never fed back)."""
    return seq_len + decode_steps(gen_tokens)


def parse_returns(text: str) -> tuple[str, int]:
    """'auto' | 'logits' | 'token' | 'topk:K' -> (kind, K); K is 0 but for topk."""
    if text in ("auto", "logits", "token"):
        return text, 0
    kind, _, k = str(text).partition(":")
    if kind == "topk" and k.isdigit() and 0 < int(k) <= 10**7:
        return "topk", int(k)
    raise SplittuiError(f"scenario: returns must be auto, logits, token or topk:K (K a positive integer), "
                        f"got {text!r}")


def resolve_returns(returns: str, is_llm: bool, gen_tokens: int = 0) -> str:
    """'auto' made concrete: the sampled token's id when the request generates (SPEC §8) or the profile is an
    LLM config; the profile's own output otherwise (the paper's one forward pass, SPEC §3)."""
    if returns == "auto":
        return "token" if is_llm or gen_tokens > 0 else "logits"
    parse_returns(returns)
    return returns


def returned_bytes(returns: str, is_llm: bool, logits_bytes: float, gen_tokens: int = 0) -> float:
    """Bytes of the answer's last transfer under `returns` (see RETURNS)."""
    kind, k = parse_returns(resolve_returns(returns, is_llm, gen_tokens))
    if kind == "token":
        return TOKEN_BYTES
    if kind == "topk":
        return TOPK_BYTES_PER * k
    return logits_bytes


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise SplittuiError(f"scenario: {name} must be {need}, got {value!r}")


def _scenario_iv(sc: Scenario) -> None:
    _positive("deadline_ms", sc.deadline_ms)
    _positive("up_mbps", sc.up_mbps)
    _positive("down_mbps", sc.down_mbps)
    _positive("delay_ms", sc.delay_ms, allow_zero=True)
    _positive("unit_ms", sc.unit_ms)
    if isinstance(sc.seq_len, bool) or not isinstance(sc.seq_len, int) or sc.seq_len <= 0:
        raise SplittuiError(f"scenario: seq_len must be a positive integer, got {sc.seq_len!r}")
    for name in ("start", "end"):
        if getattr(sc, name) not in SIDES:
            raise SplittuiError(f"scenario: {name} must be client or server, got {getattr(sc, name)!r}")
    if sc.objective not in OBJECTIVES:
        raise SplittuiError(f"scenario: objective must be one of {', '.join(OBJECTIVES)}, got {sc.objective!r}")
    if sc.rounding not in ROUNDINGS:
        raise SplittuiError(f"scenario: rounding must be ceil or round, got {sc.rounding!r}")
    if not isinstance(sc.returns, str):
        raise SplittuiError(f"scenario: returns must be a string, got {sc.returns!r}")
    parse_returns(sc.returns)
    _generation_iv(sc)
    for name in ("client_mem_gb", "server_mem_gb"):
        if getattr(sc, name) is not None:
            _positive(name, getattr(sc, name))
    if sc.radio not in RADIO_KINDS:
        raise SplittuiError(f"scenario: radio must be one of {', '.join(RADIO_KINDS)}, got {sc.radio!r}")
    if sc.client_energy_j is not None:
        _positive("client_energy_j", sc.client_energy_j)
    both = sorted(set(sc.pin_client) & set(sc.pin_server))
    if both:
        raise SplittuiError(f"scenario: layer {both[0]} is pinned to both the client and the server")


def _generation_iv(sc: Scenario) -> None:
    n = sc.gen_tokens
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise SplittuiError(f"scenario: gen_tokens must be an integer >= 0, got {n!r}")
    for name in ("ttft_ms", "tpot_ms"):
        if getattr(sc, name) is not None:
            _positive(name, getattr(sc, name))
    if sc.ttft_ms is not None and sc.ttft_ms > sc.deadline_ms:
        raise SplittuiError(f"scenario: ttft_ms {sc.ttft_ms:g} is above the deadline {sc.deadline_ms:g} ms "
                            "(the first token is part of the request)")


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Where a policy's latency goes, in ms; the parts add up to the latency."""

    client_ms: float
    server_ms: float
    upload_ms: float
    download_ms: float

    @property
    def total_ms(self) -> float:
        return self.client_ms + self.server_ms + self.upload_ms + self.download_ms


@dataclass(frozen=True, slots=True)
class Result:
    """What a solver (or `evaluate`) returns. policy: 1 = client, 0 = server, per layer (paper's x_l).

    When infeasible, policy/latency/breakdown are None and min_latency_ms says what is achievable.
    """

    solver: str
    feasible: bool
    policy: tuple[int, ...] | None
    latency_ms: float | None
    breakdown: Breakdown | None
    server_load: float | None
    total_load: float
    server_share: float | None
    switches: int | None
    min_latency_ms: float
    deadline_ms: float
    solve_ms: float = 0.0
    # Generation (SPEC §8). latency_ms above is the whole request; these split it up.
    ttft_ms: float | None = None          # prefill + first token back
    tpot_ms: float | None = None          # mean decode-step latency (None when gen_tokens < 2)
    server_mem_bytes: float | None = None  # weights + KV cache of server layers at s+N tokens
    violations: tuple[str, ...] = ()      # limits the policy breaks (why feasible is False)
    # Memory (SPEC §10): what each side holds under the policy (weights + KV + activation peak, reserve not
    # included); None without a policy or when the profile lacks weight_bytes/kv_bytes.
    client_mem_need_bytes: float | None = None
    server_mem_need_bytes: float | None = None
    # Energy (docs/energy.md), estimates: the client's joules per request (compute, waiting, radio), its joules
    # per decode step, and the server's joules; None without a policy.
    client_energy_j: float | None = None
    client_energy_parts: tuple[float, float, float] | None = None   # compute, wait, radio (J)
    client_j_per_token: float | None = None
    server_energy_j: float | None = None
    # What the solver could not do, said beside its answer (e.g. a search stopped before it proved optimality).
    notes: tuple[str, ...] = ()

    @property
    def client_share(self) -> float | None:
        return None if self.server_share is None else 1.0 - self.server_share
