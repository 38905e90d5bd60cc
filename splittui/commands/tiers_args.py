"""Flags for a chain of tiers (SPEC §11, issue 28): ``--tier`` repeated, ``--hop`` per link, or ``--topology``.

``--tier NAME=DEVICE[,RUNTIME][,MEM_GB]`` names a tier (first = the client) and its device preset (aliases
and unique prefixes resolve as everywhere; no ``=DEVICE``: the profile's own times); ``--hop UP/DOWN/DELAY``
gives the link to the next tier (Mbit/s away from the client, towards it, one-way ms). A TOML file holds
the same, plus weights, the start/end tiers and pins::

    start = "phone"                 # where the input is (default: the first tier); end likewise
    weights = [0, 1, 2]             # objective weight of each tier's work (default 0, 1, ..., K-1)
    [[tier]]
    name = "phone"
    device = "phone-soc"            # runtime = "llama.cpp-cpu", mem_gb = 8 (optional)
    [[hop]]
    up_mbps = 50
    down_mbps = 100
    delay_ms = 5
    [pins]
    phone = "0,1"                   # layers (as --pin-client takes them) fixed to that tier
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import SplittuiError
from ..model import Profile
from ..solvers.tiers import tier_section, two_sided
from ..tiers import Hop, Tier, Topology, layer_runs, topology_of

__all__ = ["add_tier_args", "tiers_requested", "topology_from_args", "tier_profiles", "run_tier_solve"]


def add_tier_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("tiers: a chain of 2 to 4 places to run layers (SPEC §11)")
    g.add_argument("--tier", action="append", metavar="NAME=DEVICE[,RUNTIME][,MEM_GB]",
                   help="a tier, repeated in order from the client (e.g. --tier phone=phone-soc --tier "
                        "edge=jetson-orin,,16 --tier cloud=a100-80gb); MEM_GB: its memory limit")
    g.add_argument("--hop", action="append", metavar="UP/DOWN/DELAY",
                   help="the link from one tier to the next, once per link: Mbit/s away from the client, "
                        "Mbit/s towards it, one-way delay ms (e.g. 50/100/5)")
    g.add_argument("--topology", metavar="FILE.toml",
                   help="tiers, hops, weights, start/end tier and pins in a TOML file (instead of --tier/--hop)")


def tiers_requested(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "tier", None) or getattr(args, "hop", None) or getattr(args, "topology", None))


def _number(flag: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SplittuiError(f"{flag}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SplittuiError(f"{flag}: {what} {text!r} must be finite")
    return value


def _tier(text: str) -> Tier:
    flag = f"--tier {text}"
    name, _, rest = text.partition("=")
    parts = rest.split(",") if rest else []
    if len(parts) > 3:
        raise SplittuiError(f"{flag}: give NAME=DEVICE[,RUNTIME][,MEM_GB]")
    device = parts[0].strip() or None if parts else None
    runtime = parts[1].strip() or None if len(parts) > 1 else None
    mem_text = parts[2].strip().lower() if len(parts) > 2 else ""
    mem = _number(flag, mem_text, "memory GB") if mem_text not in ("", "off") else None
    if mem_text == "off":
        _OFF.add(name.strip())
    return Tier(name=name.strip(), device=device, runtime=runtime, mem_gb=mem)


_OFF: set[str] = set()   # tiers given MEM_GB "off": no limit, not even the device's default


def _hop(text: str) -> Hop:
    parts = text.split("/")
    if len(parts) != 3:
        raise SplittuiError(f"--hop {text}: give UP/DOWN/DELAY (Mbit/s, Mbit/s, ms), e.g. 50/100/5")
    up, down, delay = (_number(f"--hop {text}", v, w) for v, w in zip(parts, ("up", "down", "delay"), strict=True))
    return Hop(up_mbps=up, down_mbps=down, delay_ms=delay)


def topology_from_args(args: argparse.Namespace) -> tuple[Topology, dict[str, str]]:
    """The topology of --tier/--hop or --topology (its pins still by name: `with_pins` resolves them)."""
    path = getattr(args, "topology", None)
    if path:
        if getattr(args, "tier", None) or getattr(args, "hop", None):
            raise SplittuiError("--topology: give either a topology file or --tier/--hop, not both")
        return _from_file(path)
    _OFF.clear()   # filled by _tier for this command line only
    tiers = tuple(_tier(t) for t in args.tier or ())
    hops = tuple(_hop(h) for h in args.hop or ())
    return Topology(tiers=tiers, hops=hops), {}


def _from_file(path: str) -> tuple[Topology, dict[str, str]]:
    import tomllib

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise SplittuiError(f"--topology {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SplittuiError(f"--topology {path}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"tier", "hop", "start", "end", "weights", "pins"}
    if unknown:
        raise SplittuiError(f"--topology {path}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        tiers = tuple(Tier(name=str(t["name"]), device=t.get("device"), runtime=t.get("runtime"),
                           mem_gb=None if t.get("mem_gb") is None else float(t["mem_gb"])) for t in raw.get("tier", []))
        hops = tuple(Hop(float(h["up_mbps"]), float(h.get("down_mbps", h["up_mbps"])), float(h.get("delay_ms", 10.0)))
                     for h in raw.get("hop", []))
        weights = None if raw.get("weights") is None else tuple(float(w) for w in raw["weights"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SplittuiError(f"--topology {path}: each [[tier]] needs name (device, runtime, mem_gb optional), "
                            f"each [[hop]] up_mbps (down_mbps, delay_ms optional): {exc}") from None
    topo = Topology(tiers=tiers, hops=hops, weights=weights)
    ends: dict[str, Any] = {w: topo.tier_index(str(raw[w])) for w in ("start", "end") if w in raw}
    pins = raw.get("pins", {})
    if not isinstance(pins, dict):
        raise SplittuiError(f"--topology {path}: [pins] maps a tier name to a layer list")
    return replace(topo, **ends), {str(k): str(v) for k, v in pins.items()}


def with_pins(topo: Topology, pins: dict[str, str], profile: Profile) -> Topology:
    from ..pins import parse_pins

    out: list[tuple[int, int]] = []
    for name, layers in pins.items():
        tier = topo.tier_index(name)
        out += [(layer, tier) for layer in parse_pins(profile, layers, flag=f"[pins] {name}")]
    seen: dict[int, int] = {}
    for layer, tier in out:
        if seen.setdefault(layer, tier) != tier:
            raise SplittuiError(f"[pins]: layer {layer} ({profile.layers[layer].name}) is pinned to two tiers")
    return replace(topo, pins=tuple(sorted(out)))


def tier_profiles(args: argparse.Namespace, topo: Topology,
                  build: Callable[[argparse.Namespace], Profile] | None = None) -> list[Profile]:
    """profiles[k]: the model timed with tier 0's device as client and tier k's as server (tier 0: tier 1's
    as server, at tier 0's runtime). Identical requests share one profile object. `build` makes a profile
    from the flags with the devices and runtime filled in (default: the command line's own profile)."""
    from .common import profile_from_args

    if build is None:
        for flag in ("client_device", "server_device"):
            if getattr(args, flag, None):
                raise SplittuiError(f"--{flag.replace('_', '-')}: with tiers, each --tier names its device")
        build = profile_from_args
    cache: dict[tuple[Any, ...], Profile] = {}
    out = []
    first = topo.tiers[0]
    for k, tier in enumerate(topo.tiers):
        server = topo.tiers[1] if k == 0 else tier
        key = (first.device, server.device, tier.runtime or getattr(args, "runtime", None))
        if key not in cache:
            cache[key] = build(argparse.Namespace(**{**vars(args), "client_device": key[0],
                                                     "server_device": key[1], "runtime": key[2]}))
        out.append(cache[key])
    return out


def run_tier_solve(args: argparse.Namespace, names: list[str]) -> int:
    """`solve` over a topology: each solver's tier strip and shares, the documents as --json / --out."""
    from ..policy import policy_document
    from ..solvers.tiers import TIER_SOLVERS, delegates, solve_tiers
    from .common import scenario_from_args

    topo, pins = topology_from_args(args)
    profiles = tier_profiles(args, topo)
    topo = with_pins(topo, pins, profiles[-1]) if pins else topo
    sc = scenario_from_args(args, profiles[-1])
    if sc.objective == "client_energy" or sc.client_energy_j is not None:
        raise SplittuiError("--objective client_energy / --client-energy-j: the energy model covers a client and "
                            "one server (docs/energy.md), not a chain of tiers yet")
    topo, sc = _memory_and_pins(args, topo, profiles, sc)
    if not (delegates(topo) and profiles[0] is profiles[1]):
        if args.solver not in ("all", *TIER_SOLVERS):
            raise SplittuiError(f"--solver {args.solver}: over tiers, choose from {', '.join(TIER_SOLVERS)} or all")
        names = [s for s in TIER_SOLVERS if s != "brute-force"] if args.solver == "all" else [args.solver]
    results = solve_tiers(profiles, sc, topo, names)
    docs = [policy_document(profiles[-1], sc, two_sided(r), tiers=tier_section(topo, profiles[-1], r))
            for r in results.values()]
    from .solve import _emit

    _emit(args, docs, lambda: _print(profiles[-1], sc, topo, results))
    return 0


def _memory_and_pins(args: argparse.Namespace, topo: Topology, profiles: list[Profile], sc):
    """Memory limits and pins per tier (SPEC §10): a tier's MEM_GB ("off" or none: no limit; over more than
    two tiers the devices' memory is not a default, see tiers_memory's LABEL_CAP); --pin-client pins to the
    first tier."""
    from ..solvers.tiers import delegates

    off = {name for name in _OFF if name in {t.name for t in topo.tiers}}
    if delegates(topo) and profiles[0] is profiles[1]:   # two tiers: the two-sided flags mean what they say
        sides = dict(zip(("client_mem_gb", "server_mem_gb"), (t.name in off for t in topo.tiers), strict=True))
        return topo, sc.replace(**{f: None for f, is_off in sides.items() if is_off})
    for flag in ("client_mem_gb", "server_mem_gb", "pin_server"):
        if getattr(args, flag, None) is not None:
            raise SplittuiError(f"--{flag.replace('_', '-')}: over more than two tiers, give each tier's memory "
                                "as --tier NAME=DEVICE,RUNTIME,MEM_GB and pins in a --topology file")
    pins = tuple(sorted({*topo.pins, *((layer, 0) for layer in sc.pin_client)}))
    return (replace(topo, pins=pins),
            sc.replace(client_mem_gb=None, server_mem_gb=None, pin_client=(), pin_server=()))


def _print(profile: Profile, sc, topo: Topology, results) -> None:
    from rich.console import Console

    from ..provenance import provenance
    from ..report.tables import print_table
    from ..report.tier_tables import tier_strips, tier_table

    console = Console()
    console.print(f"[dim]times: {provenance(profile)}[/]", overflow="fold")
    print_table(console, tier_table(topo, results))
    console.print(tier_strips(topo, profile.n_layers, results))


def stored_topology(doc: dict[str, Any], source: str) -> Topology:
    """The topology a policy document's `tiers` section records (tiers, hops, ends, weights, pins)."""
    return topology_of(doc["tiers"], source)

def tier_policy(doc: dict[str, Any], n_layers: int, source: str) -> tuple[int, ...]:
    """The stored tier of each layer (0-based), checked against the profile's layer count."""
    raw = doc["tiers"].get("policy")
    if not isinstance(raw, list) or len(raw) != n_layers or not all(isinstance(t, int) and t >= 1 for t in raw):
        raise SplittuiError(f"{source}: 'tiers.policy' must list a tier (1-based) for each of the {n_layers} layers")
    return tuple(t - 1 for t in raw)


def evaluate_tier_doc(args: argparse.Namespace, doc: dict[str, Any], setup: Any, sc_of: Any, source: str):
    """Re-score a tier policy (SPEC §11) on its stored topology, `--hop` replacing the stored links; the
    scenario flags (deadline, output tokens, TTFT/TPOT) apply as for two tiers. Returns (profile, scenario,
    topology, tier result)."""
    from ..solvers.tiers import evaluate_tiers
    from ..tiers import tier_phases
    from .app_args import profile_for_setup

    for flag in ("up_mbps", "down_mbps", "delay_ms", "client_device", "server_device"):
        if getattr(args, flag, None) is not None:
            raise SplittuiError(f"--{flag.replace('_', '-')}: {source} places layers on a chain of tiers; give "
                                "its links as --hop UP/DOWN/DELAY (one per link), its devices are the stored tiers'")
    topo = stored_topology(doc, source)
    if getattr(args, "hop", None):
        hops = tuple(_hop(h) for h in args.hop)
        if len(hops) != len(topo.hops):
            raise SplittuiError(f"--hop: {source} has {len(topo.hops)} links, {len(hops)} given")
        topo = replace(topo, hops=hops)
    seqs = tuple(s for s in (args.seq, (doc.get("scenario") or {}).get("seq_len")) if isinstance(s, int))
    ns = argparse.Namespace(**{**vars(args), "runtime": getattr(args, "runtime", None) or setup.runtime})
    profiles = tier_profiles(ns, topo, lambda a: profile_for_setup(a, setup, seqs))
    profile = profiles[-1]
    sc = sc_of(profile)
    policy = tier_policy(doc, profile.n_layers, source)
    ph = tier_phases(profiles, sc, topo)
    res = evaluate_tiers(ph, policy, sc, solver=str(doc.get("solver", "given")), names=[t.name for t in topo.tiers])
    return profile, sc, topo, res


__all__ += ["stored_topology", "tier_policy", "evaluate_tier_doc"]


def run_tier_frontier(args: argparse.Namespace) -> int:
    """`frontier` over a topology (SPEC §11): every Pareto-optimal (latency, weighted work) tier policy,
    fastest first, each the exact optimum from its latency on; --json / --out as splittui.frontier/1."""
    from ..setup import setup_of
    from ..solvers.tiers import evaluate_tiers, tier_front_limits
    from ..solvers.tiers_memory import binding_tiers
    from ..tiers import tier_phases
    from .common import scenario_from_args
    from .output import check_out, emit

    check_out(args)
    topo, pins = topology_from_args(args)
    profiles = tier_profiles(args, topo)
    topo = with_pins(topo, pins, profiles[-1]) if pins else topo
    sc = scenario_from_args(args, profiles[-1])
    if sc.objective == "client_energy" or sc.client_energy_j is not None:
        raise SplittuiError("frontier over tiers: the energy model covers a client and one server (docs/energy.md)")
    topo, sc = _memory_and_pins(args, topo, profiles, sc)
    ph = tier_phases(profiles, sc, topo)
    if binding_tiers(ph):
        raise SplittuiError("frontier over tiers: a tier's memory limit binds, which the frontier does not take yet "
                            "(solve --tier ... answers one deadline under it)")
    names = [t.name for t in topo.tiers]
    rows = []
    for lat, obj, x in tier_front_limits(ph, sc.ttft_ms, sc.tpot_ms):   # under TTFT/TPOT limits: the front of
        r = evaluate_tiers(ph, x, sc, names=names)   # the policies meeting them; its shares, hops, TTFT and TPOT
        rows.append({"deadline_ms": lat, "objective": obj, "shares": list(r.shares or ()), "crossings": r.crossings,
                     "tiers": [t + 1 for t in x], "strip": "".join(topo.letters[t] for t in x),
                     "ttft_ms": r.ttft_ms, "tpot_ms": r.tpot_ms,
                     "meets_limits": not any(v.startswith(("TTFT", "TPOT")) for v in r.violations)})
    given = getattr(args, "deadline_ms", None) is not None
    at = max((i for i, row in enumerate(rows) if given and row["deadline_ms"] <= sc.deadline_ms), default=None)
    doc = {"schema": "splittui.frontier/1", "model": profiles[-1].model, "setup": setup_of(profiles[-1]).to_dict(),
           "scenario": sc.to_dict() | ({} if given else {"deadline_ms": None}), "topology": topo.to_dict(),
           "at_deadline": at, "points": rows}
    emit(args, doc, lambda: _print_front(profiles[-1], sc, topo, rows, at), what=f"{len(rows)} frontier points")
    return 0


def _print_front(profile: Profile, sc, topo: Topology, rows: list[dict], at: int | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..report.tables import print_table

    gen = sc.gen_tokens > 0
    links = " · ".join(f"{a.name}→{b.name} {h.up_mbps:g}/{h.down_mbps:g} Mbit/s {h.delay_ms:g} ms"
                       for a, b, h in zip(topo.tiers, topo.tiers[1:], topo.hops))
    lim = "".join(f" · {k} ≤ {v:g} ms" for k, v in (("TTFT", sc.ttft_ms), ("TPOT", sc.tpot_ms)) if v is not None)
    t = Table(title=f"{profile.model} · seq {sc.seq_len}" + (f" · {sc.gen_tokens} output tokens" if gen else "")
              + f"{lim} · {links} · {len(rows)} Pareto-optimal policies", title_justify="left", caption_justify="left")
    t.add_column("deadline\nfrom ms", justify="right", no_wrap=True)
    for tier in topo.tiers:
        t.add_column(f"{tier.name}\nshare", justify="right", no_wrap=True)
    t.add_column("hops", justify="right")
    if gen:
        t.add_column("TTFT\nms", justify="right", no_wrap=True)
        t.add_column("TPOT\nms", justify="right", no_wrap=True)
    t.add_column("placement", overflow="fold")
    for i, row in enumerate(rows):
        cells = [f"{row['deadline_ms']:,.3f}", *(f"{100 * s:.2f} %" for s in row["shares"]), str(row["crossings"])]
        if gen:
            cells += [f"{row['ttft_ms']:,.1f}", "—" if row["tpot_ms"] is None else f"{row['tpot_ms']:,.2f}"]
        t.add_row(*cells, ("→ " if i == at else "") + layer_runs(row["strip"]))
    weights = ", ".join(f"{w:g}" for w in topo.weight_vector)
    t.caption = (f"placement: {' '.join(f'{ch} {tier.name}' for ch, tier in zip(topo.letters, topo.tiers))}, layers "
                 f"numbered from 1 · each row is the exact optimum from its deadline on (weights {weights})"
                 + (", among the policies that meet the TTFT/TPOT limits" if lim else "")
                 + (f"\n→ the row in force at --deadline-ms {sc.deadline_ms:,.1f}" if at is not None else ""))
    print_table(Console(), t)


__all__ += ["run_tier_frontier", "layer_runs"]
