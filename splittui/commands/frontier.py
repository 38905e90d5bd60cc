"""`splittui frontier`: the whole deadline -> least server load frontier (exact, and the paper's DP)."""

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
from .output import add_output_flags, check_out, emit

__all__ = ["add_parser"]

_EPILOG = """examples:
  splittui frontier --model gpt2-like --up-mbps 50
  splittui frontier --model bert-base --seq 256 --json > front.json
  splittui frontier --model gpt2-like --seq 256 --gen-tokens 64 --ttft-ms 900 --tpot-ms 40 --out front.json

Each row is a Pareto-optimal policy: from its deadline on (until the next row's) it is the exact
optimum. The dp column is the least deadline at which the paper's DP (time unit T) reaches the same
server share, a whole multiple of T. With --gen-tokens the frontier is over the whole request
(prefill + every decode step, SPEC §8); with --ttft-ms/--tpot-ms it is the front of the policies that
meet them (exact under the limits: every row says ok, JSON meets_limits). --deadline-ms marks the row
in force at that deadline. Over a chain of tiers (--tier/--hop or --topology) each row gives every tier's
share of the work, and --ttft-ms/--tpot-ms likewise keep the front of the policies that meet them:
  splittui frontier --model llama-3.2-1b --tier phone=phone-soc --tier edge=jetson-orin --tier cloud=a100-80gb \\
      --hop 50/100/5 --hop 200/500/20 --seq 512 --gen-tokens 64 --ttft-ms 3000 --tpot-ms 60"""


def add_parser(sub) -> None:
    p = sub.add_parser("frontier", help="print the deadline -> least server load frontier as a table or JSON",
                       description="Every Pareto-optimal policy (latency, server load) of one scenario's "
                                   "chain (the whole request with --gen-tokens), fastest first.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_llm_args(p)
    add_scenario_args(p, deadline_default=None)
    add_generation_args(p)
    add_attention_arg(p)
    add_output_flags(p, "the frontier (splittui.frontier/1)")
    from .tiers_args import add_tier_args

    add_tier_args(p)
    p.set_defaults(func=run_frontier)


def _limits(sc, ph, policy) -> tuple[float, float | None, list[str]]:
    """TTFT, TPOT and the limits a policy breaks."""
    from ..generation import request_times

    t = request_times(ph, policy)
    broken = []
    if sc.ttft_ms is not None and t.ttft_ms > sc.ttft_ms:
        broken.append(f"TTFT {t.ttft_ms:,.1f} > {sc.ttft_ms:g} ms")
    if sc.tpot_ms is not None and t.tpot_ms is not None and t.tpot_ms > sc.tpot_ms:
        broken.append(f"TPOT {t.tpot_ms:,.2f} > {sc.tpot_ms:g} ms")
    return t.ttft_ms, t.tpot_ms, broken


def run_frontier(args: argparse.Namespace) -> int:
    from ..generation import phase_costs, request_costs
    from ..setup import setup_of
    from ..solvers.goal import Target, dp_full_frontier, dp_least_deadline, request_frontier
    from .tiers_args import run_tier_frontier, tiers_requested

    if tiers_requested(args):   # a chain of tiers (SPEC §11)
        return run_tier_frontier(args)
    check_out(args)
    profile = profile_from_args(args)
    sc = scenario_from_args(args, profile)
    if sc.objective == "client_energy":
        from ..errors import SplittuiError

        raise SplittuiError("frontier: it trades the server load against the deadline; --objective client_energy "
                            "is not a server load (use `solve --objective client_energy`, or --client-energy-j as a "
                            "limit here)")
    c = request_costs(profile, sc)
    ph = phase_costs(profile, sc)
    points = request_frontier(ph, sc)   # with TTFT/TPOT limits: the front of the policies that meet them
    dp_front = dp_full_frontier(c, sc)
    rows: list[dict] = []
    for p in points:
        r = p.result
        cap = Target(max_load=r.server_load or 0.0).load_cap(c.total_reward)
        ttft, tpot, broken = _limits(sc, ph, r.policy or ())
        rows.append({"deadline_ms": p.deadline_ms, "server_load": r.server_load, "server_share": r.server_share,
                     "switches": r.switches, "policy": list(r.policy or ()),
                     "dp_deadline_ms": dp_least_deadline(dp_front, cap),
                     "ttft_ms": ttft, "tpot_ms": tpot, "meets_limits": not broken, "violations": broken})
    deadline = sc.deadline_ms if args.deadline_ms is not None else None
    at = max((i for i, p in enumerate(points) if deadline is not None and p.deadline_ms <= deadline), default=None)
    scenario = sc.to_dict() | ({} if deadline is not None else {"deadline_ms": None})
    doc = {"schema": "splittui.frontier/1", "model": profile.model, "setup": setup_of(profile).to_dict(),
           "scenario": scenario,
           "total_load": c.total_reward, "at_deadline": at, "points": rows}
    emit(args, doc, lambda: _print(profile, sc, rows, at), what=f"{len(rows)} frontier points")
    return 0


def _print(profile, sc, rows: list[dict], at: int | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..report.tables import print_table

    gen = sc.gen_tokens > 0
    limits = sc.ttft_ms is not None or sc.tpot_ms is not None
    req = f" · {sc.gen_tokens} output tokens (whole request)" if gen else ""
    lim = "".join(f" · {k} ≤ {v:g} ms" for k, v in (("TTFT", sc.ttft_ms), ("TPOT", sc.tpot_ms)) if v is not None)
    t = Table(title=f"{profile.model} · seq {sc.seq_len}{req}{lim} · up {sc.up_mbps:g} / down {sc.down_mbps:g} "
                    f"Mbit/s · delay {sc.delay_ms:g} ms · {sc.objective} · {len(rows)} Pareto-optimal policies",
              title_justify="left", caption_justify="left")
    heads = ["deadline\nfrom ms", "server\nshare", "hops", f"dp needs\nms (T {sc.unit_ms:g})"]
    heads += ["TTFT\nms", "TPOT\nms"] if gen else []
    heads += ["limits"] if limits else []
    for col in heads:
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("placement", overflow="fold")
    for i, r in enumerate(rows):
        dp = "—" if r["dp_deadline_ms"] is None else f"{r['dp_deadline_ms']:,.0f}"
        cells = [f"{r['deadline_ms']:,.3f}", f"{100 * r['server_share']:.2f} %", str(r["switches"]), dp]
        if gen:
            cells += [f"{r['ttft_ms']:,.1f}", "—" if r["tpot_ms"] is None else f"{r['tpot_ms']:,.2f}"]
        if limits:
            cells.append("ok" if r["meets_limits"] else "✗ " + "+".join(v.split(" ", 1)[0] for v in r["violations"]))
        t.add_row(*cells, ("→ " if i == at else "") + _segments(r["policy"]))
    notes = ["placement: C client, S server, layers numbered from 1 · below the first deadline no policy is "
             "feasible · each row is the exact optimum from its deadline on; dp: the paper's DP at T"]
    if limits:
        notes.append("limits: the front of the policies that meet the TTFT/TPOT limits (exact under them); "
                     "✗ would name a broken limit")
    if at is not None:
        notes.append(f"→ the row in force at --deadline-ms {sc.deadline_ms:,.1f}")
    t.caption = "\n".join(notes)
    print_table(Console(), t)


def _segments(policy: list[int]) -> str:
    """A policy as runs of layers, e.g. 'C 1-12 · S 13-195'."""
    from ..tiers import layer_runs

    return layer_runs("".join("C" if v else "S" for v in policy))
