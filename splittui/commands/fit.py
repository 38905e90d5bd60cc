"""`splittui fit`: does a placement fit in memory, what binds, and what would make it fit (SPEC §10)."""

from __future__ import annotations

import argparse

from .common import (
    add_attention_arg,
    add_generation_args,
    add_profile_args,
    add_scenario_args,
    profile_from_args,
    scenario_from_args,
)
from .llm_args import add_llm_args

__all__ = ["add_parser"]

_EPILOG = """Memory limits default to each device preset's usable memory here (LLM configs); give
--client-mem-gb / --server-mem-gb GB or off to change that. A fixed placement (--policy FILE, or --solver
no-split / all-client) is checked for memory alone; a solver (dp, exact, greedy, single-split) is solved under
the whole scenario, and when it finds nothing fit says what binds. Every fix shown was checked again.

examples:
  splittui fit --model llama-3.1-70b --server-device a100-80gb --solver no-split
  splittui fit --model llama-3.1-8b --client-device phone-soc --server-device a100-80gb --seq 1024 \\
      --gen-tokens 256 --pin-client embed,head --solver exact
  splittui fit --policy p.json --longest-context          # the longest prompt this placement holds
  splittui fit --model llama-3.1-8b --client-device jetson-orin-nano-8gb --least-client-mem 0.5"""

_FIXED = ("no-split", "all-client")


def add_parser(sub) -> None:
    from ..solvers import SOLVERS

    p = sub.add_parser("fit", help="memory per side of a placement, what binds, and fixes that are re-checked",
                       description="Does the placement fit in memory on each side (weights, KV cache, activations, "
                                   "runtime reserve vs the limit, SPEC §10), what binds, and what would make it fit: "
                                   "a smaller dtype, a larger device, a shorter context, layers moved to the other "
                                   "side. Exit status 1 when it does not fit.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_llm_args(p)
    add_attention_arg(p)
    add_scenario_args(p)
    add_generation_args(p)
    g = p.add_argument_group("what to fit")
    pick = g.add_mutually_exclusive_group()
    pick.add_argument("--policy", metavar="FILE", help="a splittui.policy file: fit its placement (the first "
                      "document, or --index N); the profile defaults to the one it was made for")
    pick.add_argument("--solver", default="exact", choices=[s for s in SOLVERS if s != "brute-force"],
                      help="fit the placement this solver chooses (default %(default)s); no-split and all-client "
                           "are fixed placements")
    g.add_argument("--index", type=int, default=0, metavar="N", help="with --policy: the N-th document (from 0)")
    inv = g.add_mutually_exclusive_group()
    inv.add_argument("--longest-context", action="store_true",
                     help="also print the longest prompt (with --gen-tokens output tokens) that fits the placement, "
                          "or (with --solver dp/exact) the best single-split placement (memory only, pins kept), like "
                          "llama.cpp --fit")
    inv.add_argument("--least-client-mem", type=float, default=None, metavar="SHARE",
                     help="also print the smallest client memory (GB) under which the solver reaches a server "
                          "share <= SHARE (0..1)")
    from .output import add_output_flags

    add_output_flags(p, "the fit report")
    p.set_defaults(func=run_fit)


def _default_limits(args: argparse.Namespace, profile) -> None:
    """Memory limits default to the device presets' usable memory (where the profile and device know it)."""
    from .common import _device_gb

    for side in ("client", "server"):
        if getattr(args, f"{side}_mem_gb", None) is None and _device_gb(args, profile, side) is not None:
            setattr(args, f"{side}_mem_gb", "device")


def _policy_doc(args: argparse.Namespace):
    from ..errors import SplittuiError
    from ..policy import load_policies

    docs = dict(load_policies(args.policy))
    if args.index not in docs:
        raise SplittuiError(f"{args.policy}: no policy at --index {args.index} (indices with a policy: "
                            f"{', '.join(str(i) for i in docs)})")
    return docs[args.index]


def _profile_and_doc(args: argparse.Namespace):
    if not args.policy:
        return profile_from_args(args), None
    from ..policy import check_policy_fits, stored_scenario, stored_setup
    from .app_args import profile_for_setup

    doc = _policy_doc(args)
    stored = stored_scenario(doc)
    if args.seq is None and isinstance(stored.get("seq_len"), int):
        args.seq = stored["seq_len"]
    if not args.gen_tokens and isinstance(stored.get("gen_tokens"), int):
        args.gen_tokens = stored["gen_tokens"]
    setup, _ = stored_setup(doc, args.policy)
    profile = profile_for_setup(args, setup, (args.seq,) if args.seq else ())
    check_policy_fits(profile, doc, args.policy)
    return profile, doc


def _rebuild(profile, seq: int):
    from ..setup import setup_of

    setup = setup_of(profile)
    if not setup.config:
        return None
    return lambda overrides: setup.build(include_seq=(seq,), overrides=overrides)


def _device_memory() -> dict[str, float]:
    from ..devices import PRESETS

    return {name: b for name, d in PRESETS.items() if (b := d.usable_bytes()) is not None}


def run_fit(args: argparse.Namespace) -> int:
    from ..errors import SplittuiError
    from ..fit import fit_policy, fit_solver, least_client_memory, longest_context
    from ..solvers import solve
    from .output import check_out, emit

    check_out(args)
    profile, doc = _profile_and_doc(args)
    _default_limits(args, profile)
    sc = scenario_from_args(args, profile)
    rebuild, devices = _rebuild(profile, sc.seq_len), _device_memory()
    if doc is not None:
        label, policy = str(doc.get("solver", "policy")), doc["policy"]
    elif args.solver in _FIXED:
        label, policy = args.solver, solve(profile, sc.replace(deadline_ms=1e15), args.solver).policy
    else:
        label, policy = args.solver, None
    if policy is not None:
        report = fit_policy(profile, sc, policy, label=label, rebuild=rebuild, devices=devices)
    else:
        report = fit_solver(profile, sc, args.solver, rebuild=rebuild, devices=devices)
    payload: dict = {"schema": "splittui.fit/1", "model": profile.model, "scenario": _scenario_dict(sc),
                     **report.to_dict()}
    if args.longest_context:
        fixed = report.policy if (policy is not None or args.solver not in ("dp", "exact")) else None
        payload["longest_context"] = {"placement": "this" if fixed is not None else "single-split",
                                      "prompt_tokens": longest_context(profile, sc, fixed),
                                      "output_tokens": sc.gen_tokens}
    if args.least_client_mem is not None:
        if policy is not None:
            raise SplittuiError("--least-client-mem asks a solver (dp, exact, greedy, single-split), not a fixed "
                                "placement")
        payload["least_client_mem"] = {"share": args.least_client_mem, "solver": args.solver,
                                       "client_mem_gb": least_client_memory(profile, sc, args.least_client_mem,
                                                                            args.solver)}
    emit(args, payload, lambda: _print(profile, sc, report, payload), what="the fit report")
    return 0 if report.fits and report.feasible else 1


def _scenario_dict(sc) -> dict:
    return {"seq_len": sc.seq_len, "gen_tokens": sc.gen_tokens, "client_mem_gb": sc.client_mem_gb,
            "server_mem_gb": sc.server_mem_gb, "pin_client": list(sc.pin_client), "pin_server": list(sc.pin_server),
            "deadline_ms": sc.deadline_ms}


def _print(profile, sc, report, payload: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..memory import fmt_gb

    console = Console()
    dtype = profile.extra.get("dtype", "") if isinstance(profile.extra, dict) else ""
    console.print(f"[bold]{profile.model}[/] {dtype} · {report.label} · prompt {sc.seq_len:,} + {sc.gen_tokens:,} "
                  "output tokens (estimates, SPEC §10)")
    if report.sides is not None:
        t = Table(box=None, header_style="bold")
        for col in ("side", "weights", "KV", "activ.", "reserve", "total", "limit", "fits"):
            t.add_column(col, justify="left" if col == "side" else "right")
        for s in report.sides:
            t.add_row(s.side, fmt_gb(s.weights), fmt_gb(s.kv), fmt_gb(s.act), fmt_gb(s.reserve), fmt_gb(s.total),
                      "off" if s.limit is None else fmt_gb(s.limit),
                      "yes" if s.fits else "[red]NO[/]")
        console.print(t)
    else:
        console.print(f"{report.label}: no policy")
    console.print(f"[bold]binds:[/] {report.binding}", overflow="fold")
    for v in report.violations:
        console.print(f"  {v}", overflow="fold")
    if report.fixes:
        console.print("[bold]fixes[/] (each checked again):")
        for f in report.fixes:
            mark = "[green]fits[/]" if f.ok else "[red]no[/]"
            console.print(f"  {mark}  {f.change}: {f.result}", overflow="fold")
    lc = payload.get("longest_context")
    if lc is not None:
        s = lc["prompt_tokens"]
        where = "this placement" if lc["placement"] == "this" else "a single-split placement (pins kept)"
        console.print(f"longest prompt that fits {where} with {lc['output_tokens']:,} output tokens: "
                      + ("none (not even 1 token)" if s is None else f"{s:,} tokens"))
    lm = payload.get("least_client_mem")
    if lm is not None:
        gb = lm["client_mem_gb"]
        console.print(f"least client memory for a server share <= {lm['share']:.0%} ({lm['solver']}): "
                      + ("not reachable under this scenario" if gb is None else f"{gb:,.2f} GB"))
