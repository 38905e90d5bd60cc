"""`splittui evaluate --policy FILE`: re-score an exported policy under changed conditions."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from ..model import Scenario
from .app_args import profile_for_setup
from .common import (
    RelativeDeadline,
    add_generation_args,
    add_profile_args,
    add_scenario_args,
    memory_from_args,
    with_deadline,
)
from .llm_args import add_llm_args
from .solve import _add_output_args, _emit

__all__ = ["add_parser"]

_FIELDS = ("deadline_ms", "up_mbps", "down_mbps", "delay_ms", "unit_ms", "start", "end", "objective",
           "rounding", "gen_tokens", "ttft_ms", "tpot_ms", "returns", "radio", "client_energy_j")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="re-score an exported policy (or every policy of a file) under (changed) scenario flags",
        description="Score the policies in FILE (splittui.policy/2 or /1, from `solve --out`, `solve --solver all "
                    "--out` or the app's exports) under a scenario. Scenario flags not given keep the values "
                    "stored with each policy; the profile defaults to the one the policy was made for. "
                    "Exit status 1 when a scored policy misses the deadline.")
    p.add_argument("--policy", required=True, metavar="FILE",
                   help="splittui.policy JSON file (/2, or /1 from earlier versions)")
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--solver", metavar="NAME", help="score only the policy (or policies) made by this solver")
    pick.add_argument("--index", type=int, metavar="N", help="score only the N-th document of the file (from 0)")
    add_profile_args(p)
    add_llm_args(p)
    add_scenario_args(p, deadline_default=None)
    add_generation_args(p)
    p.add_argument("--hop", action="append", metavar="UP/DOWN/DELAY",
                   help="a policy over tiers (solve --tier ...): the link to the next tier, once per link, "
                        "replacing the stored ones (Mbit/s away from the client, towards it, one-way ms)")
    p.set_defaults(**{f: None for f in _FIELDS}, func=run_evaluate)
    _add_output_args(p)


def _scenario(args: argparse.Namespace, stored: dict, profile, source: str) -> Scenario:
    from ..errors import ProfileError, SplittuiError

    values = {}
    for f in _FIELDS:
        given = getattr(args, f, None)
        if given is not None:
            values[f] = given
        elif f in stored and stored[f] is not None:
            values[f] = stored[f]
    for f in ("client_mem_gb", "server_mem_gb", "pin_client", "pin_server"):   # SPEC §10, stored or given
        if stored.get(f) is not None:
            values[f] = stored[f]
    values.update(memory_from_args(args, profile))
    for side in ("client", "server"):
        if getattr(args, f"{side}_mem_gb", None) == "off":
            values.pop(f"{side}_mem_gb", None)
    seq = args.seq if args.seq is not None else stored.get("seq_len") or profile.default_seq
    relative = values.get("deadline_ms") if isinstance(values.get("deadline_ms"), RelativeDeadline) else None
    if relative is not None:   # 0.7x: resolved on the profile once the rest of the scenario is known
        values["deadline_ms"] = 1e15
    try:
        sc = Scenario(seq_len=int(seq), **values)
    except (SplittuiError, TypeError) as exc:
        text = str(exc).removeprefix("scenario: ")
        field = text.split(" ", 1)[0]
        raise ProfileError(source, f"scenario.{field}" if field in (*_FIELDS, "seq_len") else "scenario",
                           text) from None
    return with_deadline(profile, sc, relative)


def _chosen(args: argparse.Namespace, docs: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    from ..errors import SplittuiError

    if args.index is not None:
        picked = [(i, d) for i, d in docs if i == args.index]
        if not picked:
            raise SplittuiError(f"{args.policy}: no policy at --index {args.index} "
                                f"(indices with a policy: {', '.join(str(i) for i, _ in docs)})")
        return picked
    if args.solver is not None:
        picked = [(i, d) for i, d in docs if d.get("solver") == args.solver]
        if not picked:
            have = sorted({str(d.get("solver", "?")) for _, d in docs})
            raise SplittuiError(f"{args.policy}: no policy made by solver {args.solver!r} (have: {', '.join(have)})")
        return picked
    return docs


_SETUP_FLAGS = ("hf_config", "profile", "model", "client_device", "server_device", "dtype")


def _overridden(args: argparse.Namespace) -> bool:
    """A flag replaced part of the stored setup (then a different sha256 is what was asked for)."""
    return any(getattr(args, f, None) for f in (*_SETUP_FLAGS, "devices"))


def _run_tiers(args: argparse.Namespace, docs: list[tuple[int, dict]]) -> int:
    """Re-score policies over tiers (SPEC §11) on their stored topologies: the tier table and strips."""
    from ..policy import policy_document, stored_scenario, stored_setup
    from ..solvers.tiers import tier_section, two_sided
    from .tiers_args import _print, evaluate_tier_doc

    scored = []
    for i, doc in docs:
        setup, _ = stored_setup(doc, args.policy)
        profile, sc, topo, res = evaluate_tier_doc(
            args, doc, setup, lambda prof, d=doc: _scenario(args, stored_scenario(d), prof, args.policy), args.policy)
        scored.append((i, profile, sc, topo, res))
    out = [policy_document(profile, sc, two_sided(res), tiers=tier_section(topo, profile, res))
           for _, profile, sc, topo, res in scored]

    def human() -> None:
        for i, profile, sc, topo, res in scored:
            label = res.solver if len(scored) == 1 else f"[{i}] {res.solver}"
            _print(profile, sc, topo, {label: res})

    _emit(args, out, human)
    return 0 if all(res.feasible for *_, res in scored) else 1


def run_evaluate(args: argparse.Namespace) -> int:
    from ..errors import SplittuiError
    from ..policy import check_policy_fits, load_policies, policy_document, stored_scenario, stored_setup
    from ..solvers import evaluate

    docs = _chosen(args, load_policies(args.policy))
    tiered = [d for _, d in docs if isinstance(d.get("tiers"), dict)]
    if tiered:
        if len(tiered) != len(docs):
            raise SplittuiError(f"{args.policy}: mixes policies over tiers and over two sides; pick one with "
                                "--solver or --index")
        return _run_tiers(args, docs)
    if args.hop:
        raise SplittuiError(f"--hop: {args.policy} holds no policy over tiers (use --up-mbps/--down-mbps/--delay-ms)")
    scored = []
    loaded: dict = {}   # the policies of one file usually share their profile: load it once
    for i, doc in docs:
        seqs = tuple(s for s in (args.seq, (doc.get("scenario") or {}).get("seq_len")) if isinstance(s, int))
        setup, unknown = stored_setup(doc, args.policy)
        key = (setup, seqs)
        if key not in loaded:
            loaded[key] = profile_for_setup(args, setup, seqs)
        profile = loaded[key]
        check_policy_fits(profile, doc, args.policy)
        if unknown and i == docs[0][0]:
            print(f"splittui: warning: {args.policy} is a {doc.get('schema')} file: it does not record "
                  f"{', '.join(unknown)}; re-scored with the defaults (or the flags given)", file=sys.stderr)
        stored_sha = doc.get("profile_sha256")
        if stored_sha and stored_sha != profile.sha256 and not _overridden(args):
            print(f"splittui: warning: {args.policy} [{i}] was made for a different version of profile "
                  f"{profile.model} (sha256 differs); re-scoring against the current one", file=sys.stderr)
        sc = _scenario(args, stored_scenario(doc), profile, args.policy)
        res = replace(evaluate(profile, sc, doc["policy"]), solver=str(doc.get("solver", "given")))
        label = res.solver if len(docs) == 1 else f"[{i}] {res.solver}"
        scored.append((label, profile, sc, res))
    out = [policy_document(profile, sc, res) for _, profile, sc, res in scored]

    def human() -> None:
        from rich.console import Console

        from ..report.tables import device_fit_notes, print_table, results_table, strips
        from .llm_args import estimate_note

        console = Console()
        notes = {note for _, profile, _, _ in scored if (note := estimate_note(profile))}
        for note in sorted(notes):
            console.print(f"[yellow]{note}[/]")
        console.print(f"[bold]{args.policy}[/]: {len(scored)} polic{'y' if len(scored) == 1 else 'ies'} re-scored")
        groups: dict = {}   # one table per (profile, scenario): a solve --solver all file makes one table
        for label, profile, sc, res in scored:
            groups.setdefault((profile.sha256, sc), (profile, sc, {}))[2][label] = res
        for profile, sc, results in groups.values():
            print_table(console, results_table(profile, sc, results))
            console.print(strips(profile, results))
            for line in device_fit_notes(profile, sc, results):   # a side without a limit, on its device
                console.print(line, overflow="fold")

    _emit(args, out, human)
    return 0 if all(res.feasible for *_, res in scored) else 1
