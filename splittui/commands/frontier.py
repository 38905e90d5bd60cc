"""`splittui frontier`: the whole deadline -> least server load frontier (exact, and the paper's DP)."""

from __future__ import annotations

import argparse
import json
import sys

from .common import add_profile_args, add_scenario_args, profile_from_args, scenario_from_args
from .llm_args import add_llm_args

__all__ = ["add_parser"]

_EPILOG = """examples:
  splittui frontier --model gpt2-like --up-mbps 50
  splittui frontier --model bert-base --seq 256 --json > front.json

Each row is a Pareto-optimal policy: from its deadline on (until the next row's) it is the exact
optimum. The dp column is the least deadline at which the paper's DP (time unit T) reaches the same
server share, a whole multiple of T."""


def add_parser(sub) -> None:
    p = sub.add_parser("frontier", help="print the deadline -> least server load frontier as a table or JSON",
                       description="Every Pareto-optimal policy (latency, server load) of one scenario's "
                                   "chain, fastest first; --deadline-ms is ignored.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_llm_args(p)
    add_scenario_args(p)
    p.add_argument("--json", action="store_true", help="print the frontier as JSON (splittui.frontier/1)")
    p.set_defaults(func=run_frontier)


def run_frontier(args: argparse.Namespace) -> int:
    from ..generation import request_costs
    from ..solvers.goal import Target, dp_full_frontier, dp_least_deadline, exact_frontier

    profile = profile_from_args(args)
    sc = scenario_from_args(args, profile)
    c = request_costs(profile, sc)
    points = exact_frontier(c, sc)
    dp_front = dp_full_frontier(c, sc)
    rows = []
    for p in points:
        r = p.result
        cap = Target(max_load=r.server_load or 0.0).load_cap(c.total_reward)
        rows.append({"deadline_ms": p.deadline_ms, "server_load": r.server_load, "server_share": r.server_share,
                     "switches": r.switches, "policy": list(r.policy or ()),
                     "dp_deadline_ms": dp_least_deadline(dp_front, cap)})
    if args.json:
        json.dump({"schema": "splittui.frontier/1", "model": profile.model, "scenario": sc.to_dict(),
                   "total_load": c.total_reward, "points": rows}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _print(profile, sc, rows)
    return 0


def _print(profile, sc, rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table


    t = Table(title=f"{profile.model} · seq {sc.seq_len} · up {sc.up_mbps:g} / down {sc.down_mbps:g} Mbit/s · "
                    f"delay {sc.delay_ms:g} ms · {sc.objective} · {len(rows)} Pareto-optimal policies",
              title_justify="left")
    for col in ("deadline from ms", "server share", "hops", "dp needs ms (T " + f"{sc.unit_ms:g})"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("placement")
    for r in rows:
        dp = "—" if r["dp_deadline_ms"] is None else f"{r['dp_deadline_ms']:,.0f}"
        t.add_row(f"{r['deadline_ms']:,.3f}", f"{100 * r['server_share']:.2f} %", str(r["switches"]), dp,
                  _segments(r["policy"]))
    t.caption = ("placement: C client, S server, layers numbered from 1 · below the first deadline no policy "
                 "is feasible · each row is the exact optimum from its deadline on; dp: the paper's DP at T")
    Console().print(t)


def _segments(policy: list[int]) -> str:
    """A policy as runs of layers, e.g. 'C 1-12 · S 13-195'."""
    out, start = [], 0
    for i in range(1, len(policy) + 1):
        if i == len(policy) or policy[i] != policy[start]:
            side = "C" if policy[start] else "S"
            out.append(f"{side} {start + 1}" + (f"-{i}" if i - start > 1 else ""))
            start = i
    return " · ".join(out)
