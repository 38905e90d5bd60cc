"""`splittui evaluate --policy FILE`: re-score an exported policy under changed conditions."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from ..model import Scenario
from .common import add_profile_args, add_scenario_args
from .solve import _add_output_args, _emit

__all__ = ["add_parser"]

_FIELDS = ("deadline_ms", "up_mbps", "down_mbps", "delay_ms", "unit_ms", "start", "end", "objective",
           "rounding")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="re-score an exported policy under (changed) scenario flags",
        description="Score the policy in FILE (splittui.policy/1, from `solve --out` or the app) under "
                    "a scenario. Scenario flags not given keep the values stored in the file; the "
                    "profile defaults to the one the policy was made for.")
    p.add_argument("--policy", required=True, metavar="FILE", help="splittui.policy/1 JSON file")
    add_profile_args(p)
    add_scenario_args(p, deadline_default=None)
    p.set_defaults(**{f: None for f in _FIELDS}, func=run_evaluate)
    _add_output_args(p)


def _scenario(args: argparse.Namespace, stored: dict, profile) -> Scenario:
    values = {}
    for f in _FIELDS:
        given = getattr(args, f, None)
        if given is not None:
            values[f] = given
        elif f in stored and stored[f] is not None:
            values[f] = stored[f]
    if args.up_mbps is not None and args.down_mbps is None:
        values["down_mbps"] = args.up_mbps
    seq = args.seq if args.seq is not None else stored.get("seq_len") or profile.default_seq
    return Scenario(seq_len=int(seq), **values)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..policy import check_policy_fits, load_policy, policy_document
    from ..profiles import load_profile
    from ..solvers import evaluate

    doc = load_policy(args.policy)
    profile = load_profile(args.profile or args.model or doc.get("profile") or doc["model"])
    check_policy_fits(profile, doc, args.policy)
    stored_sha = doc.get("profile_sha256")
    if stored_sha and stored_sha != profile.sha256:
        print(f"splittui: warning: {args.policy} was made for a different version of profile "
              f"{profile.model} (sha256 differs); re-scoring against the current one", file=sys.stderr)
    sc = _scenario(args, doc.get("scenario") or {}, profile)
    res = evaluate(profile, sc, doc["policy"])
    res = replace(res, solver=doc.get("solver", "given"))
    out = policy_document(profile, sc, res)

    def human() -> None:
        from rich.console import Console

        from ..report.tables import results_table, strips

        console = Console()
        console.print(f"[bold]{args.policy}[/] ({doc.get('solver', '?')} policy) re-scored:")
        console.print(results_table(profile, sc, {res.solver: res}))
        console.print(strips(profile, {res.solver: res}))

    _emit(args, [out], human)
    return 0 if res.feasible else 1
