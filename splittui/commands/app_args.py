"""The app's start: every scenario flag of `solve` (and `--policy FILE`) for the bare `splittui` and `serve`,
memory limits and pins included (SPEC §10).

The app opens on the complete scenario these flags name: a saved policy file's setup (model, devices,
dtype) and knobs, with any flag given beside it winning, or the model's defaults with the flags applied.
`evaluate` rebuilds a stored setup the same way (`profile_for_setup`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ProfileError, SplittuiError
from ..model import Profile, Scenario

__all__ = ["add_app_scenario_args", "app_start", "profile_for_setup", "APP_SCENARIO_FLAGS", "SCENARIO_FIELDS",
           "MEMORY_FIELDS"]

SCENARIO_FIELDS = ("deadline_ms", "up_mbps", "down_mbps", "delay_ms", "unit_ms", "start", "end", "objective",
                   "rounding", "gen_tokens", "ttft_ms", "tpot_ms", "returns", "radio", "client_energy_j")
MEMORY_FIELDS = ("client_mem_gb", "server_mem_gb", "pin_client", "pin_server")   # SPEC §10: limits and pins
# what `serve` forwards to each tab's app: (dest, whether the value is a path)
APP_SCENARIO_FLAGS = (("policy", True), ("seq", False), *((f, False) for f in (*SCENARIO_FIELDS, *MEMORY_FIELDS)))


def add_app_scenario_args(p: argparse.ArgumentParser) -> None:
    """`solve`'s scenario and generation flags, every one defaulting to "not given", plus --policy."""
    from .common import add_generation_args, add_scenario_args

    p.add_argument("--policy", metavar="FILE",
                   help="open on the scenario of a splittui.policy file (`solve --out`, the app's `e`): its model, "
                        "devices, dtype and knobs, with its policy scored as the row 'file:…'; flags given beside "
                        "it win")
    add_scenario_args(p, deadline_default=None)
    add_generation_args(p)
    p.set_defaults(**{f: None for f in (*SCENARIO_FIELDS, "seq")})
    for action in p._actions:   # the app's knobs start at the model's defaults (or the policy file's)
        if action.dest in SCENARIO_FIELDS and action.help:
            action.help = action.help.replace("(default %(default)s)", "(default: the app's, or the policy file's)")


def profile_for_setup(args: argparse.Namespace, setup: Any, seqs: tuple[int, ...]) -> Profile:
    """A stored setup's profile, with any setup flag given on the command line winning."""
    from .llm_args import _check_dtype, _user_devices

    _check_dtype(args)
    model = getattr(args, "hf_config", None) or getattr(args, "profile", None) or getattr(args, "model", None)
    overrides = {"model": model, "config": bool(getattr(args, "hf_config", None)) if model else None,
                 "client_device": getattr(args, "client_device", None),
                 "server_device": getattr(args, "server_device", None), "dtype": getattr(args, "dtype", None),
                 "runtime": getattr(args, "runtime", None)}
    return setup.build(include_seq=seqs, overrides=overrides, devices=_user_devices(args))


def _given(args: argparse.Namespace) -> dict[str, Any]:
    return {f: getattr(args, f) for f in SCENARIO_FIELDS if getattr(args, f, None) is not None}


def _memory_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, f, None) is not None for f in MEMORY_FIELDS)


def _with_memory(args: argparse.Namespace, profile: Profile, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the memory limits and pins of the flags (`solve`'s parsing: `memory_from_args`) winning
    over a policy file's; `off` lifts a stored limit."""
    from .common import memory_from_args

    out = {**values, **memory_from_args(args, profile)}
    for side in ("client", "server"):
        if getattr(args, f"{side}_mem_gb", None) == "off":
            out.pop(f"{side}_mem_gb", None)
    return out


def _scenario(profile: Profile, values: dict[str, Any], seq: int, src: str | None) -> Scenario:
    """The scenario of `values`; a relative deadline (0.7x) is resolved on the profile, as `solve` does."""
    from .common import RelativeDeadline, with_deadline

    values = dict(values)
    relative = values.get("deadline_ms")
    if isinstance(relative, RelativeDeadline):
        values["deadline_ms"] = 1e15   # placeholder until the rest of the scenario is known
    else:
        relative = None
    try:
        sc = Scenario(seq_len=int(seq), **values)
    except (SplittuiError, TypeError) as exc:
        text = str(exc).removeprefix("scenario: ")
        raise SplittuiError(f"{src}: {text}" if src else text) from None
    return with_deadline(profile, sc, relative)


def app_start(args: argparse.Namespace) -> tuple[Profile, Scenario | None, dict[str, Any] | None]:
    """(profile, scenario or None for the defaults, the policy document to score or None)."""
    if getattr(args, "policy", None):
        return _from_policy(args)
    from .llm_args import profile_from_llm_args

    profile = profile_from_llm_args(args)
    given = _given(args)
    if not given and args.seq is None and not _memory_given(args):
        return profile, None, None
    seq = args.seq if args.seq is not None else profile.default_seq
    return profile, _scenario(profile, _with_memory(args, profile, given), seq, None), None


def _from_policy(args: argparse.Namespace) -> tuple[Profile, Scenario, dict[str, Any]]:
    from ..policy import load_policies, scenario_fields, stored_scenario, stored_setup

    doc = load_policies(args.policy)[0][1]
    setup, unknown = stored_setup(doc, args.policy)
    seq = args.seq if args.seq is not None else stored_scenario(doc).get("seq_len")
    profile = profile_for_setup(args, setup, tuple(s for s in (seq,) if isinstance(s, int)))
    if len(doc["policy"]) != profile.n_layers:
        raise ProfileError(args.policy, "policy", f"has {len(doc['policy'])} layers but profile {profile.model} "
                           f"has {profile.n_layers}")
    if unknown:
        print(f"splittui: warning: {args.policy} is a {doc.get('schema')} file: it does not record "
              f"{', '.join(unknown)}; the app opens with the defaults (or the flags given)", file=sys.stderr)
    stored = scenario_fields(doc, profile)
    values = {**{k: v for k, v in stored.items() if k in (*SCENARIO_FIELDS, *MEMORY_FIELDS)}, **_given(args)}
    values = _with_memory(args, profile, values)
    return profile, _scenario(profile, values, seq or profile.default_seq, args.policy), doc
