"""`splittui solve` and `splittui evaluate`: one scenario, a table of solvers, policy JSON out."""

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

_EPILOG = """examples:
  splittui solve --model gpt2-like --deadline-ms 1500 --up-mbps 100
  splittui solve --model gpt2-like --seq 4096 --up-mbps 20 --solver dp --json
  splittui solve --profile my.json --solver all --out policies.json
  splittui solve --model gpt2-like --up-mbps 50 --max-share 0.5          # least deadline, per solver
  splittui solve --model gpt2-like --deadline-ms 2500 --max-share 0.5 --least bandwidth
  splittui solve --model llama-3.1-8b --client-device jetson-orin --server-device a100-80gb --dtype int4 \
      --seq 2048 --up-mbps 50 --deadline-ms 3000
  splittui solve --hf-config ./my-model/config.json --client-device apple-m2 --server-device l4
  splittui solve --model gpt2-like --seq 512 --gen-tokens 256 --tpot-ms 80 --deadline-ms 30000 --json
  splittui solve --model bert-base --attention lowrank:256 --seq 2048 --up-mbps 100"""


def add_parser(sub) -> None:
    from ..solvers import SOLVERS

    p = sub.add_parser("solve", help="solve one scenario with every solver (or one) and show the placements",
                       description="Minimise server load subject to the deadline (SPEC §3) for one scenario.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from .goal import add_goal_args

    add_profile_args(p)
    add_llm_args(p)
    add_attention_arg(p)
    add_scenario_args(p)
    add_generation_args(p)
    add_goal_args(p)
    from .tiers_args import add_tier_args

    add_tier_args(p)
    p.add_argument("--solver", default="all", choices=(*SOLVERS, "all"),
                   help="solver to run (default: all but brute-force)")
    _add_output_args(p)
    p.set_defaults(func=run_solve)


def _add_output_args(p) -> None:
    from .output import add_output_flags

    add_output_flags(p, "the splittui.policy/2 document(s)")


def run_solve(args: argparse.Namespace) -> int:
    from ..policy import policy_document
    from ..solvers import SOLVERS, solve_all
    from .tiers_args import run_tier_solve, tiers_requested

    if tiers_requested(args):   # a chain of tiers (SPEC §11)
        return run_tier_solve(args, [s for s in SOLVERS if s != "brute-force"] if args.solver == "all"
                              else [args.solver])
    profile = profile_from_args(args)
    sc = scenario_from_args(args, profile)
    names = [s for s in SOLVERS if s != "brute-force"] if args.solver == "all" else [args.solver]
    from .goal import goal_requested, run_goal

    if goal_requested(args):
        return run_goal(args, profile, sc, names)
    results = solve_all(profile, sc, names)
    docs = [policy_document(profile, sc, r) for r in results.values()]
    _emit(args, docs, lambda: _print_table(profile, sc, results))
    return 0


def _emit(args, docs: list[dict], print_human) -> None:
    from .output import check_out, emit

    check_out(args)
    n = len(docs)
    emit(args, docs[0] if n == 1 else docs, print_human, what=f"{n} polic{'y' if n == 1 else 'ies'}")


def _print_table(profile, sc, results) -> None:
    from rich.console import Console

    from ..provenance import provenance
    from ..report.tables import device_fit_notes, print_table, results_table, strips
    from .llm_args import estimate_note

    console = Console()
    console.print(f"[dim]times: {provenance(profile)}[/]")
    note = estimate_note(profile)
    if note:
        console.print(f"[yellow]{note}[/]")
    if profile.source.get("calibration"):
        from ..calibration_io import profile_bands

        bands = profile_bands(profile.source)
        console.print(f"error band ({profile.source.get('runtime')}): client {bands['client']}; "
                      f"server {bands['server']}", overflow="fold")
    print_table(console, results_table(profile, sc, results))
    console.print(strips(profile, results))
    for line in device_fit_notes(profile, sc, results):
        console.print(line, overflow="fold")
