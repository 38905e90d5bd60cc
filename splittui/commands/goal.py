"""Goal-seek flags of `splittui solve` (--max-share / --max-load, --least): the inverse queries."""

from __future__ import annotations

import argparse

from .common import positive_float

__all__ = ["add_goal_args", "goal_requested", "run_goal"]


def _share(text: str) -> float:
    """--max-share: 0.3, 30% or 30 (above 1: a percentage), read as the app reads a typed share."""
    from ..report.formats import parse_share

    try:
        return parse_share(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_goal_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("goal seek (answer backwards: what do I need to reach a server target?)")
    cap = g.add_mutually_exclusive_group()
    cap.add_argument("--max-share", type=_share, metavar="X",
                     help="target: server share of the model's load <= X: 0.5, 50%% or 50 (a number above 1 is a "
                          "percentage, as in the app)")
    cap.add_argument("--max-load", type=positive_float, metavar="Y",
                     help="target: server load <= Y (in the objective's unit, e.g. FLOP)")
    g.add_argument("--least", choices=("deadline", "bandwidth"), default="deadline",
                   help="what to minimise for the target: the deadline (default; --deadline-ms is ignored) "
                        "or the upload bandwidth at --deadline-ms (download kept in proportion)")


def goal_requested(args: argparse.Namespace) -> bool:
    return args.max_share is not None or args.max_load is not None


def run_goal(args: argparse.Namespace, profile, sc, names: list[str]) -> int:
    from ..policy import POLICY_SCHEMA, policy_document
    from ..solvers.goal import GOAL_SOLVERS, Target, least_bandwidth, least_deadline, scenario_at

    target = Target(max_share=args.max_share, max_load=args.max_load)
    seek = least_deadline if args.least == "deadline" else least_bandwidth
    key = "least_deadline_ms" if args.least == "deadline" else "least_up_mbps"
    goals = {name: seek(profile, sc, name, target) for name in names if name in GOAL_SOLVERS}
    docs = []
    for name, goal in goals.items():
        at = sc if goal.value is None else (scenario_at(sc, goal.value)   # a TTFT limit above it is implied
                                             if args.least == "deadline" else
                                             sc.replace(up_mbps=goal.value,
                                                        down_mbps=goal.value * sc.down_mbps / sc.up_mbps))
        if goal.result is None:
            doc = {"schema": POLICY_SCHEMA, "model": profile.model, "solver": name, "feasible": False,
                   "policy": None, "scenario": at.to_dict()}
        else:
            doc = policy_document(profile, at, goal.result)
        doc["goal"] = {"target": target.describe(), "max_share": target.max_share, "max_load": target.max_load,
                       "least": args.least, "ttft_ms": sc.ttft_ms, "tpot_ms": sc.tpot_ms}   # the limits met
        # (a TTFT limit at or above the least deadline is implied by it, so the scenario may leave it out)
        doc[key] = goal.value
        docs.append(doc)

    from .solve import _emit

    _emit(args, docs, lambda: _print_goals(profile, sc, target, args.least, goals))
    return 0


def _print_goals(profile, sc, target, least: str, goals) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..report.tables import device_fit_notes, print_table, strips

    unit = "ms" if least == "deadline" else "Mbit/s"
    fixed = (f"up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s" if least == "deadline"
             else f"deadline {sc.deadline_ms:g} ms")
    gen = f" · {sc.gen_tokens} output tokens (request latency)" if getattr(sc, "gen_tokens", 0) else ""
    t = Table(title=f"{profile.model} · seq {sc.seq_len}{gen} · {fixed} · delay {sc.delay_ms:g} ms · "
                    f"T {sc.unit_ms:g} ms"
                    f" · least {least} for {target.describe()}", title_justify="left")
    t.add_column("solver", no_wrap=True)
    for col in (f"least {least} {unit}", "server share", "latency ms", "hops"):
        t.add_column(col, justify="right", no_wrap=True)
    for name, g in goals.items():
        r = g.result
        if g.value is None or r is None:
            t.add_row(name, "[red]none[/]", "—", "—", "—")
            continue
        t.add_row(name, f"{g.value:,.3f}" if least == "deadline" else f"{g.value:,.4g}",
                  f"{100 * (r.server_share or 0):.2f} %", f"{r.latency_ms:,.3f}", str(r.switches))
    t.caption = ("exact: the true least value; dp: the paper's DP at time unit T (its deadlines are whole "
                 "multiples of T); none: no value reaches the target")
    console = Console()
    print_table(console, t)
    found = {n: g.result for n, g in goals.items() if g.result is not None}
    console.print(strips(profile, found))
    for line in device_fit_notes(profile, sc, found):   # memory does not move with the deadline or the link
        console.print(line, overflow="fold")
