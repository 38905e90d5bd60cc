"""Flags shared by commands: where the profile comes from and the scenario (SPEC §2)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..errors import SplittuiError
from ..model import OBJECTIVES, RADIO_KINDS, Profile, Scenario

__all__ = ["add_profile_args", "add_scenario_args", "profile_from_args", "scenario_from_args",
           "positive_float", "positive_int", "nonneg_int", "add_generation_args", "generation_from_args",
           "add_attention_arg", "attention_from_args", "add_paper_grid_args", "deadline_arg", "with_deadline",
           "RelativeDeadline"]


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def add_generation_args(p: argparse.ArgumentParser, *, limits: bool = True) -> None:
    """--gen-tokens (and the TTFT/TPOT limits): plan the whole request, prefill + decode (SPEC §8)."""
    g = p.add_argument_group("generation (SPEC §8)")
    g.add_argument("--gen-tokens", type=nonneg_int, default=0, metavar="N",
                   help="output tokens N, counted as Hugging Face's max_new_tokens: the prefill yields the first, "
                        "then N - 1 decode steps over the KV cache; the deadline then covers the whole request "
                        "(default 0: prefill only, the paper's problem)")
    if limits:
        g.add_argument("--ttft-ms", type=positive_float, default=None, metavar="X",
                       help="limit on the time to first token, ms (at most the deadline; default none)")
        g.add_argument("--tpot-ms", type=positive_float, default=None, metavar="X",
                       help="limit on the mean time per output token after the first (the mean decode step), ms "
                            "(default none)")


def generation_from_args(args: argparse.Namespace) -> dict:
    """Scenario fields from add_generation_args' flags (those a parser lacks are left at their defaults)."""
    out = {"gen_tokens": getattr(args, "gen_tokens", 0) or 0}
    for name in ("ttft_ms", "tpot_ms"):
        if getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    deadline = getattr(args, "deadline_ms", None)
    if out.get("ttft_ms") is not None and isinstance(deadline, float) and out["ttft_ms"] > deadline:
        raise SplittuiError(f"--ttft-ms {out['ttft_ms']:g} is above --deadline-ms {args.deadline_ms:g} "
                            "(the first token is part of the request)")
    return out


def add_profile_args(p: argparse.ArgumentParser, required: bool = False) -> argparse._MutuallyExclusiveGroup:
    """--model | --profile; returns their mutually exclusive group (where --hf-config may join them)."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--model", help="shipped profile name (e.g. gpt2-like, bert-base)")
    g.add_argument("--profile", metavar="PATH", help="profile file (splittui.profile/1)")
    return g


def add_scenario_args(p: argparse.ArgumentParser, *, deadline_default: float | None = None) -> None:
    g = p.add_argument_group("scenario")
    g.add_argument("--seq", type=positive_int, metavar="N",
                   help="sequence length (default: 512, or the profile's nearest length)")
    g.add_argument("--deadline-ms", type=deadline_arg, default=deadline_default, metavar="MS|Fx",
                   help="latency deadline of the request: ms (1500), or a fraction of the planned all-client "
                        "latency of the request (0.7x), as in `run` (default: 1500 for one forward pass; with "
                        "--gen-tokens none: the TTFT/TPOT limits alone decide)")
    g.add_argument("--up-mbps", type=positive_float, default=100.0, metavar="U",
                   help="upload bandwidth, Mbit/s (default %(default)s)")
    g.add_argument("--down-mbps", type=positive_float, default=None, metavar="D",
                   help="download bandwidth, Mbit/s (default: same as --up-mbps)")
    g.add_argument("--delay-ms", type=nonneg_float, default=10.0, metavar="MS",
                   help="one-way network delay per transfer, ms (default %(default)s)")
    g.add_argument("--unit-ms", type=positive_float, default=1.0, metavar="T",
                   help="DP time unit T in ms (default %(default)s); smaller is closer to exact, slower")
    g.add_argument("--start", choices=("client", "server"), default="client",
                   help="where the input is (default %(default)s)")
    g.add_argument("--end", choices=("client", "server"), default="client",
                   help="where the answer must arrive (default %(default)s)")
    g.add_argument("--objective", choices=OBJECTIVES, default="flops",
                   help="what to minimise: a server resource, or client_energy (the client's joules per request, "
                        "an estimate: docs/energy.md) (default %(default)s)")
    g.add_argument("--radio", choices=RADIO_KINDS, default="wifi",
                   help="the client's radio, for its energy estimate (default %(default)s; none: no radio energy)")
    g.add_argument("--client-energy-j", type=positive_float, default=None, metavar="J",
                   help="limit on the client's joules per request (an estimate: docs/energy.md; default none)")
    g.add_argument("--rounding", choices=("ceil", "round"), default="ceil",
                   help="DP time rounding: ceil (never misses the deadline) or round (the paper's; may miss)")
    add_returns_arg(g)
    add_memory_args(p)


def mem_gb_arg(text: str) -> float | str:
    """``--client-mem-gb`` / ``--server-mem-gb``: GB (10^9 bytes), ``device`` or ``off``."""
    word = text.strip().lower()
    return word if word in ("off", "device") else positive_float(text)


def add_memory_args(p: argparse.ArgumentParser) -> None:
    """Memory limits and pins (SPEC §10), constraints of every solver."""
    g = p.add_argument_group("memory and pins (SPEC §10)")
    for side in ("client", "server"):
        g.add_argument(f"--{side}-mem-gb", type=mem_gb_arg, default=None, metavar="GB|device|off",
                       help=f"memory the {side} may use, GB = 1e9 bytes, a runtime reserve (1 GiB + 10 %%) included; "
                            f"'device': the {side} device preset's usable memory (LLM configs); default off (the "
                            "exact search under a binding memory limit does not yet scale to 8B-size chains)")
    for side in ("client", "server"):
        g.add_argument(f"--pin-{side}", default=None, metavar="LAYERS",
                       help=f"layers that must run on the {side}: indices, ranges A-B, embed, head, first:K, "
                            "last:K or block/layer names, comma-separated")


def memory_from_args(args: argparse.Namespace, profile: Profile) -> dict:
    """Scenario fields from add_memory_args' flags (limits off unless given; 'device': the preset's memory)."""
    from ..pins import parse_pins

    out: dict = {}
    for side in ("client", "server"):
        value = getattr(args, f"{side}_mem_gb", None)
        if value == "device":
            value = _device_gb(args, profile, side)
            if value is None:
                raise SplittuiError(f"--{side}-mem-gb device: the {side} device's memory is known only for LLM "
                                    "configs on a device preset; give GB")
        if isinstance(value, float):
            out[f"{side}_mem_gb"] = value
        pins = parse_pins(profile, getattr(args, f"pin_{side}", None), flag=f"--pin-{side}")
        if pins:
            out[f"pin_{side}"] = pins
    return out


def _device_gb(args: argparse.Namespace, profile: Profile, side: str) -> float | None:
    """The usable memory of the side's device for an LLM config, GB (None for measured profiles)."""
    from ..memory import GB, device_usable_bytes

    usable = device_usable_bytes(profile, side, getattr(args, f"{side}_device", None))
    return None if usable is None else usable / GB


def add_returns_arg(g) -> None:
    """``--returns token|logits|topk:K`` (default auto)."""
    g.add_argument("--returns", type=returns_arg, default="auto", metavar="token|logits|topk:K",
                   help="what the answer's last transfer carries, for the prefill and every decode step: a token "
                        "id (4 bytes), the full logits (the profile's output bytes) or the top K ids with "
                        "probabilities (8K bytes); default auto: token for LLM configs, logits for measured "
                        "profiles (the paper's setting)")


@dataclass(frozen=True, slots=True)
class RelativeDeadline:
    """A deadline given as a fraction of the request's planned all-client latency (``0.7x``)."""

    fraction: float

    def __str__(self) -> str:
        return f"{self.fraction:g}x"


_UNSET_MS = 1e15   # the deadline a scenario holds until a relative one is resolved on its profile


def deadline_arg(text: str) -> float | RelativeDeadline:
    """``--deadline-ms``: ms (``1500``) or a fraction of the all-client latency (``0.7x``), one meaning in
    every command (`run` reads the same form)."""
    relative = text.strip().lower().endswith("x")
    value = positive_float(text.strip()[:-1] if relative else text)
    return RelativeDeadline(value) if relative else value


def with_deadline(profile: Profile, sc: Scenario, deadline: float | RelativeDeadline | None) -> Scenario:
    """`sc` at `deadline`; a relative one times the planned all-client latency of the whole request
    (prefill, plus the decode steps with output tokens) on `profile`."""
    if deadline is None:
        return sc
    if isinstance(deadline, RelativeDeadline):
        from ..generation import request_costs
        from ..solvers.baselines import prefix_latencies

        all_client = float(prefix_latencies(request_costs(profile, sc))[-1])
        try:
            return sc.replace(deadline_ms=deadline.fraction * all_client)
        except SplittuiError as exc:
            raise SplittuiError(f"--deadline-ms {deadline} = {deadline.fraction * all_client:,.1f} ms "
                                f"({deadline.fraction:g} x all-client {all_client:,.1f} ms): "
                                f"{str(exc).removeprefix('scenario: ')}") from None
    return sc if sc.deadline_ms == deadline else sc.replace(deadline_ms=deadline)


def returns_arg(text: str) -> str:
    from ..model import parse_returns

    try:
        parse_returns(text)
    except SplittuiError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("scenario: returns ")) from None
    return text


def profile_from_args(args: argparse.Namespace, default: str = "gpt2-like") -> Profile:
    """The profile named by --profile/--model/--hf-config (with the LLM flags), at --attention if given."""
    from .llm_args import profile_from_llm_args  # zoo profiles, files, LLM configs (--hf-config, devices, dtype)

    attention = attention_from_args(args)
    if attention.is_full:
        return profile_from_llm_args(args, default)
    from ..profiles import load_variant

    for flag in ("hf_config", "client_device", "server_device", "dtype"):
        if getattr(args, flag, None):
            raise SplittuiError(f"--attention {attention.label}: selects a shipped zoo variant profile; it does not "
                                f"combine with --{flag.replace('_', '-')}")
    name = getattr(args, "profile", None) or getattr(args, "model", None) or default
    if getattr(args, "seq", None) is not None and isinstance(args.seq, int):
        attention.check_seq([args.seq])
    return load_variant(name, attention)


def scenario_from_args(args: argparse.Namespace, profile: Profile) -> Scenario:
    seq = args.seq if args.seq is not None else profile.default_seq
    lo, hi = profile.seq_range
    if not lo <= seq <= hi:
        raise SplittuiError(f"--seq {seq} is outside the profile's range {lo}..{hi} ({profile.origin})")
    deadline = args.deadline_ms
    sc = Scenario(deadline_ms=deadline if isinstance(deadline, float) else _UNSET_MS, up_mbps=args.up_mbps,
                  down_mbps=args.down_mbps, delay_ms=args.delay_ms, seq_len=seq, unit_ms=args.unit_ms,
                  start=args.start, end=args.end, objective=args.objective, rounding=args.rounding,
                  returns=getattr(args, "returns", None) or "auto", **generation_from_args(args),
                  radio=getattr(args, "radio", None) or "wifi", client_energy_j=getattr(args, "client_energy_j", None),
                  **memory_from_args(args, profile))
    if deadline is None:
        return sc.replace(deadline_ms=default_deadline(profile, sc))
    return with_deadline(profile, sc, deadline)


PREFILL_DEADLINE_MS = 1500.0   # the default deadline of one forward pass (the paper's problem)


def default_deadline(profile: Profile, sc: Scenario) -> float:
    """No --deadline-ms: 1500 ms for one forward pass; with output tokens, no end-to-end deadline (a bound
    above every policy's request latency), so the TTFT/TPOT limits alone decide."""
    if sc.gen_tokens == 0:
        return max(PREFILL_DEADLINE_MS, sc.ttft_ms or 0.0)
    from ..generation import request_costs
    from ..solvers.goal import latency_bound

    return max(latency_bound(request_costs(profile, sc)), sc.ttft_ms or 0.0)


# --- attention variants (issue 13) ----------------------------------------------------------------

def add_attention_arg(p: argparse.ArgumentParser) -> None:
    """``--attention full|lowrank:K|sparse:B``; parsed by :func:`splittui.attention.parse_attention`."""
    p.add_argument("--attention", default="full", metavar="full|lowrank:K|sparse:B",
                   help="attention variant: full, lowrank:K (Linformer: keys and values projected to K rows) "
                        "or sparse:B (block-local, blocks of B tokens, no global tokens); with --model it "
                        "selects the shipped profile of that variant, e.g. bert-base@lowrank-256 "
                        "(default full)")


def attention_from_args(args: argparse.Namespace):
    from ..attention import parse_attention

    return parse_attention(getattr(args, "attention", None))


# --- sweep: the paper-like grid and server speed (issue 13) --------------------------------------

def add_paper_grid_args(p: argparse.ArgumentParser) -> None:
    """``--grid default|paper`` and ``--server-speedup X`` (see splittui.sweep's docstring)."""
    g = p.add_argument_group("paper-like grid")
    g.add_argument("--grid", choices=("default", "paper"), default="default",
                   help="default: the halving series from the all-client latency, 10..1000 Mbit/s; paper: "
                        "50..1000 Mbit/s and, per length and bandwidth, 8 deadlines from 95 %% of the "
                        "all-client latency down to the no-split latency (default %(default)s)")
    g.add_argument("--server-speedup", type=positive_float, default=None, metavar="X",
                   help="rescale the profile's server times so that whole-model client time / server time "
                        "is X at every length (the paper measured 79); default: the profile's own")

