"""`splittui sweep` over a chain of tiers (SPEC §11, issue 28): the grid of `splittui.tier_sweep`, one row
per solver and cell (each tier's share, latency, TTFT/TPOT, feasible), a per-solver summary, and the
`splittui.sweep/1` document with a `topology` and per-tier columns. Two tiers the two-sided sweep can state
are handed to it, so they print exactly today's sweep."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from ..errors import SplittuiError
from ..tiers import Topology

__all__ = ["run_tier_sweep_command"]


def _refuse(args: argparse.Namespace) -> None:
    """Flags that mean nothing over tiers: one line each, before anything is loaded."""
    for flag in ("client_device", "server_device"):
        if getattr(args, flag, None):
            raise SplittuiError(f"--{flag.replace('_', '-')}: with tiers, each --tier names its device")
    if args.delay_ms is not None:
        raise SplittuiError("--delay-ms: over tiers each hop has its own delay (--hop UP/DOWN/DELAY)")
    if args.bandwidths and args.hop_sweep is None:
        raise SplittuiError("--bandwidths: over tiers each hop has its own bandwidth; name the hop it sweeps "
                            "with --hop-sweep H")
    spec = getattr(args, "model", None) or ""
    if spec == "all" or "," in spec:
        raise SplittuiError(f"--model {spec}: a sweep over tiers takes one model")
    from .common import attention_from_args

    if not attention_from_args(args).is_full:
        raise SplittuiError("--attention: a sweep over tiers takes full attention (the variants are shipped "
                            "profiles of one client and one server)")


def _load(args: argparse.Namespace) -> tuple[Topology, list]:
    from .llm_args import load_named
    from .tiers_args import tier_profiles, topology_from_args, with_pins

    topo, pins = topology_from_args(args)
    hf = getattr(args, "hf_config", None)
    if hf and (getattr(args, "profile", None) or getattr(args, "model", None)):
        raise SplittuiError("--hf-config: give either --hf-config or --model/--profile, not both")
    name = hf or getattr(args, "profile", None) or getattr(args, "model", None) or args.model_default
    seqs = list(args.seqs or ())
    profiles = tier_profiles(args, topo, lambda a: load_named(a, name, include_seq=seqs, hf_config=bool(hf)))
    return (with_pins(topo, pins, profiles[-1]) if pins else topo), profiles


def _two_sided_cfg(topo: Topology, profiles: list, cfg, hop: int | None):
    """The two-sided sweep's config when it states this topology exactly, else None."""
    from ..solvers.tiers import delegates

    h = topo.hops[0]
    if not (delegates(topo) and profiles[0] is profiles[1] and not topo.pins and topo.start == topo.end == 0
            and all(t.mem_gb is None for t in topo.tiers) and (hop is not None or h.up_mbps == h.down_mbps)):
        return None
    return replace(cfg, delay_ms=h.delay_ms, bandwidths=cfg.bandwidths if hop is not None else (h.up_mbps,))


def run_tier_sweep_command(args: argparse.Namespace) -> int:
    from ..report.writers import write_csv_atomic
    from ..tier_sweep import run_tier_sweep, tier_sweep_rows
    from .output import check_out, emit
    from .sweep import _check_seqs, config_from_args, progress_bar, run_two_sided

    _refuse(args)
    topo, profiles = _load(args)
    hop = None if args.hop_sweep is None else args.hop_sweep - 1
    if hop is not None and not hop < len(topo.hops):
        raise SplittuiError(f"--hop-sweep {args.hop_sweep}: the topology has {len(topo.hops)} hop(s); give 1 to "
                            f"{len(topo.hops)}")
    if getattr(args, "radio", "wifi") != "wifi":
        raise SplittuiError("--radio: the energy model covers a client and one server (docs/energy.md), not a "
                            "chain of tiers")
    cfg = config_from_args(args, exact=not args.no_exact)
    two = _two_sided_cfg(topo, profiles, cfg, hop)
    if two is not None:
        return run_two_sided(args, [profiles[1]], two)
    for prof in profiles:
        _check_seqs(prof, cfg)
    check_out(args, args.csv)
    with progress_bar() as bar:
        task = bar.add_task(f"sweep {profiles[-1].model} over {topo.k} tiers", total=None)
        sw = run_tier_sweep(profiles, topo, cfg, hop=hop,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))
    if args.csv:
        path = write_csv_atomic(args.csv, tier_sweep_rows(sw), force=args.force)
        print(f"wrote {sw.n_cells} cells to {path}", file=sys.stderr)
    emit(args, tier_sweep_document(sw, profiles[-1]), lambda: _print(profiles[-1], sw))
    return 0


def tier_sweep_document(sw, profile) -> dict[str, Any]:
    """`splittui.sweep/1` over tiers: the grid, the topology and swept hop, per solver a summary, the cells."""
    from ..setup import setup_of
    from ..tier_sweep import tier_sweep_rows, tier_sweep_summary

    cfg = sw.config
    config = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    if sw.hop is None:
        config["bandwidths"] = None
    return {"schema": "splittui.sweep/1", "config": config, "ran": cfg.describe(), "topology": sw.topology.to_dict(),
            "hop_swept": None if sw.hop is None else sw.hop + 1, "solvers": list(sw.solvers),
            "models": [{"model": sw.model, "setup": setup_of(profile).to_dict(), "summary": tier_sweep_summary(sw),
                        "elapsed_s": sw.elapsed_s, "cells": tier_sweep_rows(sw)}]}


def _ms(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def _title(profile, sw) -> str:
    topo = sw.topology
    links = " · ".join(f"{a.name}→{b.name} " + ("Mbit/s swept" if i == sw.hop else f"{h.up_mbps:g}/{h.down_mbps:g} "
                                                 "Mbit/s") + f" {h.delay_ms:g} ms"
                       for i, (a, b, h) in enumerate(zip(topo.tiers, topo.tiers[1:], topo.hops, strict=False)))
    return f"{profile.model} · {topo.k} tiers · {links} · {sw.config.describe()} · {sw.n_cells} cells"


def cells_table(profile, sw):
    """One row per cell and solver: each tier's share, latency, TTFT/TPOT, feasible, the placement's runs."""
    from rich.table import Table

    from ..report.formats import pct
    from ..tiers import layer_runs

    topo, gen = sw.topology, sw.config.gen_tokens > 0
    t = Table(title=_title(profile, sw), title_justify="left", caption_justify="left")
    heads = ["seq"] + ([f"{topo.tiers[sw.hop].name}→{topo.tiers[sw.hop + 1].name}\nMbit/s"] if sw.hop is not None
                       else []) + ["deadline\nms", "solver"] + [f"{tier.name}\nshare" for tier in topo.tiers]
    heads += ["latency\nms"] + (["TTFT\nms", "TPOT\nms"] if gen else []) + ["ok"]
    for col in heads:
        t.add_column(col, justify="left" if col == "solver" else "right", no_wrap=True)
    t.add_column("placement (or why not feasible)", overflow="fold")
    for i, res in enumerate(sw.results):
        for j, (name, r) in enumerate(res.items()):
            first = [str(int(sw.seq[i]))] + ([f"{sw.bandwidth[i]:g}"] if sw.hop is not None else [])
            first += [f"{sw.deadline_ms[i]:,.1f}"]
            cells = (first if j == 0 else [""] * len(first)) + [name]
            ok = r.feasible
            cells += [pct(v) if ok else "—" for v in (r.shares or (None,) * topo.k)]
            cells += [_ms(r.latency_ms if ok else None)]
            cells += [_ms(r.ttft_ms if ok else None), _ms(r.tpot_ms if ok else None, 2)] if gen else []
            why = "; ".join(r.violations) or (f"least latency {r.min_latency_ms:,.1f} ms" if r.tiers is None else "")
            cells += ["✓" if ok else "✗", layer_runs("".join(topo.letters[x] for x in r.tiers)) if ok and r.tiers
                      else why]
            t.add_row(*cells, end_section=j == len(res) - 1)
    unit = sorted(set(sw.unit_ms.tolist()))
    t.caption = (f"share: each tier's part of the work ({sw.config.objective}; the objective weights it "
                 f"{', '.join(f'{w:g}' for w in topo.weight_vector)}) · ✗: infeasible, with why · placement: "
                 f"{' '.join(f'{ch} {tier.name}' for ch, tier in zip(topo.letters, topo.tiers, strict=True))}, "
                 f"layers numbered from 1 · dp's time unit T: {', '.join(f'{u:g}' for u in unit)} ms "
                 "(--unit-ms or --resolution for finer)")
    return t


def summary_table(sw):
    from rich.table import Table

    from ..report.formats import pct
    from ..tier_sweep import tier_sweep_summary

    t = Table(title=f"{sw.model}: mean share of each tier and mean latency over each solver's feasible cells",
              title_justify="left")
    t.add_column("solver", no_wrap=True)
    t.add_column("feasible", justify="right", no_wrap=True)
    for tier in sw.topology.tiers:
        t.add_column(f"{tier.name}\nshare", justify="right", no_wrap=True)
    t.add_column("latency\nms", justify="right", no_wrap=True)
    for name, row in tier_sweep_summary(sw).items():
        shares = row["mean_shares"].values()
        t.add_row(name, f"{row['feasible']}/{row['cells']}", *(pct(v) if v is not None else "—" for v in shares),
                  _ms(row["mean_latency_ms"]))
    return t


def _print(profile, sw) -> None:
    from rich.console import Console

    from ..provenance import provenance
    from ..report.tables import print_table

    console = Console()
    console.print(f"[dim]{profile.model} times: {provenance(profile)}[/]", overflow="fold")
    print_table(console, cells_table(profile, sw))
    print_table(console, summary_table(sw))
