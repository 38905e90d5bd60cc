"""`splittui run --tier ... --hop ...` (or ``--topology``): one process per tier, predicted beside measured.

As the two-sided run: the planning profile (``--profile`` or a separate `splittui profile` of this machine,
cached) and the tier policy chosen on it come first, before any process starts. Every tier runs on this
CPU, so every tier's times come from that one profile: tier 0 (the client, 1 torch thread) its client
times, every other tier (``--server-threads``, default every core) its server times; the hops' bandwidths
and delays are the topology's. Device presets, runtimes and memory limits in ``--tier`` only name the
tiers here (the output says so); pins and weights of a topology file are honoured.

Prefill only (one forward pass per request); ``--gen-tokens`` over tiers is refused.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from typing import Any

from ..errors import SplittuiError
from ..tiers import Topology, layer_runs

__all__ = ["tier_run_command", "TIER_RUN_SOLVERS", "predicted_bytes", "medians"]

TIER_RUN_SOLVERS = ("dp", "exact", "no-split", "all-client")


def _refuse_flags(args: argparse.Namespace) -> None:
    if args.figure or args.fidelity:
        raise SplittuiError("--figure/--fidelity run two-sided experiments: drop --tier/--hop/--topology")
    if args.gen_tokens:
        raise SplittuiError("--gen-tokens over tiers is not supported yet: the tier run measures one prefill "
                            "request (drop --gen-tokens)")
    if args.host != "127.0.0.1" or args.port != 0:
        raise SplittuiError("--host/--port: over tiers each tier listens on its own address, chosen by the run")
    if not args.policy and args.solver not in TIER_RUN_SOLVERS:
        raise SplittuiError(f"--solver {args.solver}: over tiers, choose from {', '.join(TIER_RUN_SOLVERS)}")
    if args.objective == "client_energy" or args.client_energy_j is not None:
        raise SplittuiError("--objective client_energy / --client-energy-j: the energy model covers a client and "
                            "one server (docs/energy.md), not a chain of tiers yet")


def tier_run_command(args: argparse.Namespace, parsed: tuple[Topology, dict[str, str]], *,
                     with_pins: Callable[[Topology, dict[str, str], Any], Topology],
                     tier_policy: Callable[[dict[str, Any], int, str], tuple[int, ...]]) -> int:
    """``parsed``: the topology of the flags (or file) and its pins by tier name; ``with_pins`` resolves
    those on the planning profile, ``tier_policy`` reads a policy file's tier list (both from the command
    line's module, which this layer does not import)."""
    from .handler import check_ends, exit_on_sigterm, planned_run

    exit_on_sigterm()
    check_ends(args)
    _refuse_flags(args)
    topo, pins = parsed
    if topo.start != 0 or topo.end != 0:
        raise SplittuiError("splittui run over tiers: the input starts and the answer ends on the first tier "
                            f"({topo.tiers[0].name}); start/end elsewhere is not supported")
    spec, threads, seq, console, plan = planned_run(args, forks=False)
    profile = plan.profile
    topo = with_pins(topo, pins, profile) if pins else topo
    sc, ph, least, all_client = _scenario(args, profile, topo, seq)
    label, policy = _policy(args, profile, topo, sc, ph, least, all_client, tier_policy)
    pred = _prediction(profile, sc, topo, ph, policy)
    measured, session_info, link_kind, link_detail = _measure(spec, topo, policy, threads, args, profile, seq,
                                                              console)
    doc = tier_document(args, plan, topo, sc, label, policy, pred, measured, session_info, link_kind, link_detail)
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        print_tier_run(doc)
    return 0 if doc["output_matches_unsplit"] else 1


def _scenario(args, profile, topo: Topology, seq: int):
    """The scenario (hop 1's link in its two-sided fields; every hop's in the topology), its tier costs, the
    least latency any tier policy reaches and all-client's; the deadline as --deadline-ms says (ms, or Fx of
    all-client), else halfway between the least latency and all-client."""
    from ..model import Scenario
    from ..tiers import score, tier_min_latency, tier_phases

    hop = topo.hops[0]
    sc = Scenario(deadline_ms=1e9, up_mbps=hop.up_mbps, down_mbps=hop.down_mbps, delay_ms=hop.delay_ms, seq_len=seq,
                  unit_ms=args.unit_ms, objective=args.objective, rounding=args.rounding, returns="logits")
    profiles = [profile] * topo.k
    c = tier_phases(profiles, sc, topo).prefill
    least, all_client = tier_min_latency(c), score(c, [0] * c.n).latency_ms
    text = args.deadline_ms
    if text is None:
        ms = least + 0.5 * (all_client - least) if all_client > 1.05 * least else 1.1 * least
    elif str(text).endswith("x"):
        ms = float(str(text)[:-1]) * all_client
    else:
        ms = float(text)
    # the DP's ceil rounding may lose a unit per compute time and per hop crossed: keep that inside the slack
    slack = ms - least
    crossings = (profile.n_layers + 1) * (topo.k - 1)
    unit = sc.unit_ms if slack <= 0 else min(sc.unit_ms, slack / (profile.n_layers + crossings + 1))
    sc = sc.replace(deadline_ms=ms, unit_ms=unit)
    return sc, tier_phases(profiles, sc, topo), least, all_client


def _policy(args, profile, topo: Topology, sc, ph, least: float, all_client: float,
            tier_policy) -> tuple[str, tuple[int, ...]]:
    from ..solvers.tiers import solve_tiers_phases

    if args.policy:
        return _policy_file(args.policy, profile, topo, tier_policy)
    if args.solver in ("no-split", "all-client"):
        tier = 0 if args.solver == "all-client" else topo.k - 1
        return args.solver, tuple([tier] * profile.n_layers)
    res = solve_tiers_phases(ph, sc, args.solver, names=[t.name for t in topo.tiers], min_lat=least)
    if res.tiers is None or not res.feasible:
        why = "; ".join(res.violations) or "no tier policy meets it"
        raise SplittuiError(f"{args.solver}: deadline {sc.deadline_ms:.1f} ms: {why}; the least latency any tier "
                            f"policy reaches on the planning profile is {least:.1f} ms (all-client "
                            f"{all_client:.1f} ms): raise --deadline-ms")
    return args.solver, res.tiers


def _policy_file(path: str, profile, topo: Topology, tier_policy) -> tuple[str, tuple[int, ...]]:
    from ..policy import load_policy

    doc = load_policy(path)
    if not isinstance(doc.get("tiers"), dict):
        raise SplittuiError(f"{path}: a two-tier policy; over tiers give a policy with a 'tiers' section "
                            "(splittui solve --tier ... --out FILE)")
    tiers = tier_policy(doc, profile.n_layers, path)
    if max(tiers) >= topo.k:
        raise SplittuiError(f"{path}: places a layer on tier {max(tiers) + 1}, the topology has {topo.k} tiers")
    return f"{doc.get('solver', 'file')} (from file)", tiers


def predicted_bytes(profile, sc, topo: Topology, policy) -> dict[str, list[float]]:
    """Per hop and direction: the activation bytes the policy sends across it and how many times (the
    planning profile's in_bytes per layer; the answer's bytes back to tier 0 after the last layer)."""
    import numpy as np

    from ..costs import interpolate, layer_values
    from ..model import returned_bytes

    s = sc.seq_len
    in_bytes = layer_values(profile, "in_bytes", s)
    out = returned_bytes(sc.returns, profile.is_llm, float(interpolate(profile, np.array(profile.output_bytes), s)),
                         sc.gen_tokens)
    hops = topo.k - 1
    got = {f: [0.0] * hops for f in ("up_bytes", "down_bytes", "up_n", "down_n")}
    path = [topo.start, *policy, topo.end]
    for li in range(len(path) - 1):
        i, j = path[li], path[li + 1]
        nbytes = float(in_bytes[li]) if li < len(policy) else out
        way = "up" if j > i else "down"
        for h in range(min(i, j), max(i, j)):
            got[f"{way}_bytes"][h] += nbytes
            got[f"{way}_n"][h] += 1
    return got


def _prediction(profile, sc, topo: Topology, ph, policy) -> dict[str, Any]:
    from ..tiers import score
    from .predict import planned_overhead_ms

    s = score(ph.prefill, policy)
    overhead = planned_overhead_ms(profile)
    return {"compute_ms": list(s.compute_ms), "up_ms": [u for u, _ in s.hop_ms], "down_ms": [d for _, d in s.hop_ms],
            **predicted_bytes(profile, sc, topo, policy), "crossings": s.crossings, "overhead_ms": overhead,
            "model_ms": s.latency_ms, "total_ms": s.latency_ms + overhead * s.crossings}


def _measure(spec, topo: Topology, policy, threads: int, args, profile, seq: int, console):
    from .tier_link import open_tier_link
    from .tier_session import TierSession

    with open_tier_link(topo.k, args.link) as link, \
            TierSession(spec, link, server_threads=threads, max_bytes=int(args.max_frame_mb * 2**20)) as session:
        if session.stages != profile.n_layers:
            raise SplittuiError(f"planning profile: {profile.n_layers} layers, the model has {session.stages} "
                                "stages (a profile of another model?)")
        link.shape(topo.hops)
        links = [[*link.pace(h), h.delay_ms] for h in topo.hops]
        console.print(f"[dim]link: {link.kind}; {topo.k} tier processes; 1 warm-up + {args.repeats} timed "
                      "requests...[/]")
        out = session.run({"seq": seq, "policy": list(policy), "links": links, "repeats": args.repeats})
        info = {"threads": session.threads, "omp_wait_policy": session.omp_wait_policy,
                "match": out["match"], "same_tokens": out["same_tokens"], "max_abs_diff": out["max_abs_diff"]}
        for run in out["runs"]:   # per request: the medians of the parts need not add up to the total's
            run["other_ms"] = run["total_ms"] - sum(run["compute_ms"]) - sum(run["up_ms"]) - sum(run["down_ms"])
        return medians(out["runs"]), info, link.kind, link.describe()


def _err(pred: float | None, meas: float | None) -> float | None:
    from .experiment import error_pct

    if pred is None or meas is None or meas <= 0:
        return None
    return round(error_pct(pred, meas), 2)


def tier_document(args, plan, topo: Topology, sc, label: str, policy, pred: dict, meas: dict, info: dict,
                  link_kind: str, link_detail: str) -> dict[str, Any]:
    """splittui.run-tiers/1: the set-up, the policy, one row per tier and per hop direction, the total."""
    from .experiment import cpu_name

    names = [t.name for t in topo.tiers]
    rows: list[dict[str, Any]] = []
    for k, name in enumerate(names):
        p, m = pred["compute_ms"][k], meas["compute_ms"][k]
        rows.append({"part": f"{name} compute", "kind": "compute", "tier": name, "threads": info["threads"][k],
                     "predicted_ms": p, "measured_ms": m, "error_pct": _err(p, m)})
    for h, hop in enumerate(topo.hops):
        for way, a, b, mbps in (("up", names[h], names[h + 1], hop.up_mbps), ("down", names[h + 1], names[h],
                                                                             hop.down_mbps)):
            p, m = pred[f"{way}_ms"][h], meas[f"{way}_ms"][h]
            rows.append({"part": f"{a} → {b}", "kind": "hop", "hop": h + 1, "direction": way, "mbps": mbps,
                         "delay_ms": hop.delay_ms, "predicted_ms": p, "measured_ms": m, "error_pct": _err(p, m),
                         "predicted_bytes": pred[f"{way}_bytes"][h], "measured_bytes": meas[f"{way}_bytes"][h],
                         "predicted_crossings": pred[f"{way}_n"][h], "measured_crossings": meas[f"{way}_n"][h]})
    strip = "".join(topo.letters[t] for t in policy)
    return {
        "schema": "splittui.run-tiers/1", "model": plan.profile.model, "seq_len": sc.seq_len,
        "topology": topo.to_dict(),
        "tiers_note": "every tier runs on this CPU: tier 1 (the client) with 1 torch thread and its time from the "
                      "planning profile's client side, every other tier with the server's threads and its server "
                      "side; the device presets, runtimes and memory limits of --tier only name the tiers here",
        "cpu": cpu_name(), "threads": info["threads"], "omp_wait_policy": info["omp_wait_policy"],
        "link": link_kind, "link_detail": link_detail, "planning_profile": plan.to_dict(),
        "policy": {"label": label, "tiers": [t + 1 for t in policy], "strip": strip, "letters": topo.letters,
                   "runs": layer_runs(strip),
                   "deadline_ms": sc.deadline_ms},
        "estimate": True, "repeats": args.repeats,
        "rows": rows,
        "transfer_overhead_ms": {"per_crossing": pred["overhead_ms"], "crossings": pred["crossings"],
                                 "predicted_ms": pred["overhead_ms"] * pred["crossings"]},
        "unaccounted_ms": meas["other_ms"],   # per request, total − the parts; its median
        "total": {"predicted_ms": pred["total_ms"], "model_ms": pred["model_ms"], "measured_ms": meas["total_ms"],
                  "error_pct": _err(pred["total_ms"], meas["total_ms"])},
        "output_matches_unsplit": bool(info["match"]), "same_tokens": bool(info["same_tokens"]),
        "max_abs_diff": info["max_abs_diff"],
    }


def _fmt_err(v: float | None) -> str:
    if v is None:
        return ""
    return f"[{'green' if abs(v) <= 10 else 'red'}]{v:+.1f} %[/]"


def print_tier_run(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    topo, pol = doc["topology"], doc["policy"]
    names = [t["name"] for t in topo["tiers"]]
    links = " → ".join(
        [names[0]] + [f"({h['up_mbps']:g}/{h['down_mbps']:g} Mbit/s, {h['delay_ms']:g} ms) {n}"
                      for h, n in zip(topo["hops"], names[1:], strict=True)])
    console.print(f"[bold]{doc['model']}[/], seq {doc['seq_len']} · {len(names)} tiers: {links}")
    devices = ", ".join(f"{t['name']}={t['device']}" for t in topo["tiers"] if t.get("device"))
    console.print(f"tiers on {doc['cpu']}: " + ", ".join(f"{n} {th} thread{'s' if th != 1 else ''}"
                                                         for n, th in zip(names, doc["threads"], strict=True))
                  + f" (OMP_WAIT_POLICY={doc['omp_wait_policy']}); times from the planning profile"
                  + (f"; the presets ({devices}) only name the tiers here" if devices else ""), soft_wrap=True)
    console.print(f"link: {doc['link_detail']}", soft_wrap=True)
    letters = ", ".join(f"{ch} {n}" for ch, n in zip(pol["letters"], names, strict=True))
    fixed = pol["label"] in ("no-split", "all-client") or pol["label"].endswith("(from file)")
    dl = "" if fixed else f" (deadline {pol['deadline_ms']:.1f} ms)"
    console.print(f"policy {pol['label']}{dl}: {pol['runs']}  [dim]({letters}; layers from 1)[/]", soft_wrap=True)
    t = Table(show_header=True, header_style="bold")
    for col in ("", "predicted ms", "measured ms", "error", "predicted bytes", "measured bytes", "crossings"):
        t.add_column(col, justify="right" if col else "left")
    for r in doc["rows"]:
        if r["kind"] == "compute":
            t.add_row(r["part"], f"{r['predicted_ms']:.1f}", f"{r['measured_ms']:.1f}", _fmt_err(r["error_pct"]),
                      "", "", "")
        else:
            if not r["predicted_crossings"] and not r["measured_crossings"]:
                continue
            t.add_row(f"{r['part']} ({r['mbps']:g} Mbit/s, {r['delay_ms']:g} ms)", f"{r['predicted_ms']:.1f}",
                      f"{r['measured_ms']:.1f}", _fmt_err(r["error_pct"]), f"{r['predicted_bytes']:,.0f}",
                      f"{r['measured_bytes']:,.0f}", f"{r['predicted_crossings']:g} / {r['measured_crossings']:g}")
    ov = doc["transfer_overhead_ms"]
    if ov["crossings"]:
        t.add_row(f"transfer overhead (profiled, {ov['per_crossing']:.2f} ms × {ov['crossings']})",
                  f"{ov['predicted_ms']:.1f}", "", "", "", "", "")
    t.add_row("not in the parts (relay, bookkeeping; median)", "", f"{doc['unaccounted_ms']:.1f}", "", "", "", "")
    tot = doc["total"]
    t.add_row("[bold]end to end[/]", f"[bold]{tot['predicted_ms']:.1f}[/]", f"[bold]{tot['measured_ms']:.1f}[/]",
              _fmt_err(tot["error_pct"]), "", "", "")
    console.print(t)
    plan = doc["planning_profile"]
    console.print(f"predicted (an estimate): the planning profile {plan['path']} (sha256 {plan['sha256'][:16]}…), "
                  f"measured before this run; measured: median of {doc['repeats']} requests after 1 warm-up, each "
                  "part summed over the request (a hop's time: from the sender's first byte, its delay included, to "
                  "the whole frame at the receiver).", soft_wrap=True)
    verdict = "[green]yes[/]" if doc["output_matches_unsplit"] else "[red]NO[/]"
    tokens = "yes" if doc["same_tokens"] else "NO"
    console.print(f"output == unsplit forward (allclose): {verdict}, every request (max |diff| "
                  f"{doc['max_abs_diff']:.2g}); same argmax tokens: {tokens}")


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per field, the median over the requests (lists element-wise)."""
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        if isinstance(first, list):
            out[key] = [statistics.median(r[key][i] for r in runs) for i in range(len(first))]
        else:
            out[key] = statistics.median(r[key] for r in runs)
    return out
