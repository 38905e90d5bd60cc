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
APP_SCENARIO_FLAGS = (("policy", True), ("topology", True), ("seq", False),
                      *((f, False) for f in (*SCENARIO_FIELDS, *MEMORY_FIELDS)))


def add_app_scenario_args(p: argparse.ArgumentParser) -> None:
    """`solve`'s scenario and generation flags, every one defaulting to "not given", plus --policy and the
    chain of tiers (--tier/--hop or --topology, SPEC §11)."""
    from .common import add_generation_args, add_scenario_args
    from .tiers_args import add_tier_args

    p.add_argument("--policy", metavar="FILE",
                   help="open on the scenario of a splittui.policy file (`solve --out`, the app's `e`): its model, "
                        "devices, dtype and knobs, with its policy scored as the row 'file:…'; flags given beside "
                        "it win")
    add_scenario_args(p, deadline_default=None)
    add_generation_args(p)
    add_tier_args(p)
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
    """(profile, scenario or None for the defaults, the policy document to score or None). Over three or
    four tiers the document holds (at least) a `tiers` section, and the profile is the last tier's; two
    tiers open the two-sided app on those devices and that link."""
    from .tiers_args import tiers_requested

    if getattr(args, "policy", None):
        if getattr(args, "tier", None) or getattr(args, "topology", None):
            raise SplittuiError("--policy: give either a policy file or a chain of tiers (--tier/--topology)")
        return _from_policy(args)
    if tiers_requested(args):
        return _tier_start(args)
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
    if isinstance(doc.get("tiers"), dict) and getattr(args, "hop", None):   # --hop replaces the stored links
        from .tiers_args import _hop

        hops = [_hop(h) for h in args.hop]
        if len(hops) != len(doc["tiers"].get("hops") or ()):
            raise SplittuiError(f"--hop: {args.policy} has {len(doc['tiers'].get('hops') or ())} links, "
                                f"{len(hops)} given")
        doc = {**doc, "tiers": {**doc["tiers"], "hops": [
            {"up_mbps": h.up_mbps, "down_mbps": h.down_mbps, "delay_ms": h.delay_ms} for h in hops]}}
    elif getattr(args, "hop", None):
        raise SplittuiError(f"--hop: {args.policy} places layers on a client and a server; give --up-mbps etc.")
    return profile, _scenario(profile, values, seq or profile.default_seq, args.policy), doc


def _tier_start(args: argparse.Namespace) -> tuple[Profile, Scenario | None, dict[str, Any] | None]:
    """The app on a chain of tiers (`solve --tier`'s parsing): three or four tiers open the tier app (the
    document carries the topology); two open the two-sided app with the first tier's device as client, the
    second's as server, the hop as the link and the tiers' memory as the sides' limits."""
    from .tiers_args import tier_profiles, topology_from_args, with_pins

    if getattr(args, "command", None) == "serve" and getattr(args, "tier", None):
        raise SplittuiError("serve: give the chain of tiers as --topology FILE.toml (each tab's app reads it)")
    topo, pins = topology_from_args(args)
    if topo.k == 2:
        (first, second), hop = topo.tiers, topo.hops[0]
        if pins:
            raise SplittuiError("two tiers: pin layers with --pin-client/--pin-server")
        two = {"client_device": first.device, "server_device": second.device,
               "runtime": second.runtime or getattr(args, "runtime", None), "client_mem_gb": first.mem_gb,
               "server_mem_gb": second.mem_gb, "tier": None, "hop": None, "topology": None}
        link = {"up_mbps": hop.up_mbps, "down_mbps": hop.down_mbps, "delay_ms": hop.delay_ms}
        merged = {**vars(args), **{k: v for k, v in two.items() if k in ("tier", "hop", "topology") or v is not None}}
        return app_start(argparse.Namespace(**{**merged, **{k: merged.get(k) or v for k, v in link.items()}}))
    for flag in ("up_mbps", "down_mbps", "delay_ms", "client_mem_gb", "server_mem_gb", "pin_client", "pin_server"):
        if getattr(args, flag, None) is not None:
            raise SplittuiError(f"--{flag.replace('_', '-')}: over more than two tiers, give each hop as --hop "
                                "UP/DOWN/DELAY, each tier's memory in --tier and pins in a --topology file")
    profiles = tier_profiles(args, topo)
    topo = with_pins(topo, pins, profiles[-1]) if pins else topo
    given = _given(args)
    seq = args.seq if args.seq is not None else profiles[-1].default_seq
    sc = _scenario(profiles[-1], given, seq, None) if given or args.seq is not None else None
    return profiles[-1], sc, {"tiers": topo.to_dict()}
