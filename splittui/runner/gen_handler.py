"""`splittui run --gen-tokens N`: a generation request over the split, measured TTFT/TPOT beside predicted.

The planning profile (measured by a separate `splittui profile` process at the prompt length and at
the last decode context, with decode fields; or ``--profile FILE``) chooses the policy for the whole
request (SPEC §8) and predicts it with ``splittui.generation.predict_request`` plus its measured
per-transfer overhead once per transfer of every phase. Then the client and server processes run a
prefill and ``N`` greedy decode steps, each attention core's KV cache on the side that ran it, and
every generated token is checked against greedy decoding with the unsplit model (no cache).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from ..errors import SplittuiError
from ..model import decode_steps
from .chains import ChainSpec
from .experiment import error_pct, load_note, run_document
from .handler import check_ends, exit_on_sigterm, live_session, stderr_console
from .kernel_link import open_link
from .planning import Planning, planning_profile, policy_for, scenario_for
from .predict import planned_overhead_ms
from .session import default_server_threads

__all__ = ["generation_command", "predicted_times", "phase_transfers", "DEFAULT_GEN_SEQ"]

DEFAULT_GEN_SEQ = 128


def phase_transfers(policy) -> int:
    """Transfers in one phase (the prefill, or one decode step) with the input and answer on the client."""
    sides = [1, *policy, 1]
    return sum(a != b for a, b in zip(sides, sides[1:]))


def predicted_times(profile, sc, policy) -> dict:
    """TTFT, TPOT and request latency (ms) predicted from the planning profile alone: SPEC §8's
    composite chain plus the profile's measured per-transfer overhead, once per transfer per phase."""
    from ..generation import predict_request

    rt = predict_request(profile, sc, policy)
    extra = planned_overhead_ms(profile) * phase_transfers(policy)
    return {"ttft_ms": rt.ttft_ms + extra, "tpot_ms": None if rt.tpot_ms is None else rt.tpot_ms + extra,
            "latency_ms": rt.latency_ms + extra * max(sc.gen_tokens, 1)}   # the prefill and N − 1 steps


def _plan(args, spec: ChainSpec, threads: int, seq: int, n: int, console) -> Planning:
    seqs = sorted({seq, seq + max(n - 2, 0)})   # decode contexts s .. s+N−2 (SPEC §8)
    plan = planning_profile(spec, seqs, threads, given=args.profile, repeats=args.profile_repeats,
                            refresh=args.reprofile, say=lambda m: console.print(f"[dim]{m}[/]", soft_wrap=True))
    if not plan.profile.has_decode:
        raise SplittuiError(f"planning profile {plan.path}: no decode fields (dec_client_ms, ...): --gen-tokens "
                            "needs a causal model profiled by `splittui profile` (roofline or cpu:N server)")
    return plan


def generation_command(args: argparse.Namespace) -> int:
    exit_on_sigterm()
    check_ends(args)
    n = args.gen_tokens
    spec = ChainSpec(args.model, args.tiny, args.seed, attention=args.attention)
    threads = args.server_threads or default_server_threads()
    seq = args.seq or DEFAULT_GEN_SEQ
    spec.check_seqs([seq])
    console = stderr_console()
    plan = _plan(args, spec, threads, seq, n, console)
    sc = scenario_for(args, plan.profile, seq, gen_tokens=n)
    steps = decode_steps(n)   # the session's generate job counts decode steps after the prefill's token
    label, policy = policy_for(args, plan.profile, sc)
    pred = predicted_times(plan.profile, sc, policy)  # before any process of the run exists
    with open_link(args.link) as link, live_session(spec, link, threads, args) as session:
        if link.shape is not None:
            link.shape(sc.up_mbps, sc.down_mbps)
        console.print(f"[dim]link: {link.kind}; running {label}: prefill {seq}, {n} output tokens ({steps} decode "
                      f"steps), 1 warm-up + "
                      f"{args.repeats} timed requests...[/]")
        kernel = link.shape is not None
        out = session.run_watched({"op": "generate", "seq": seq, "gen_tokens": steps, "policy": list(policy),
                           "repeats": args.repeats, "up_mbps": None if kernel else sc.up_mbps,
                           "down_mbps": None if kernel else sc.down_mbps, "delay_ms": sc.delay_ms})
        detail = link.describe()
        built = session.memory
    from .memory_report import memory_doc

    row = _row(label, plan, sc, policy, pred, out, args.repeats)
    row["memory"] = memory_doc(plan.profile, sc, policy, built, out)
    doc = run_document([], link=link.kind, link_detail=detail, plans=[plan], server_threads=threads)
    doc["rows"] = [row]
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        _print(row, doc, plan)
    return 0 if out["match"] else 1


def _part(pred: float | None, runs: list[dict], key: str) -> dict:
    meas = statistics.median(r[key] for r in runs) if runs and runs[0][key] is not None else None
    err = None if pred is None or meas is None else round(error_pct(pred, meas), 2)
    return {"predicted_ms": None if pred is None else round(pred, 3),
            "measured_ms": None if meas is None else round(meas, 3), "error_pct": err}


def _row(label: str, plan: Planning, sc, policy, pred: dict, out: dict, repeats: int) -> dict:
    runs = out["runs"]
    whole = _part(pred["latency_ms"], runs, "total_ms")
    return {"solver": label, "model": plan.profile.model, "seq_len": sc.seq_len, "gen_tokens": sc.gen_tokens,
            "deadline_ms": round(sc.deadline_ms, 3), "up_mbps": sc.up_mbps, "down_mbps": sc.down_mbps,
            "delay_ms": sc.delay_ms, "policy": list(policy), "transfers": phase_transfers(policy),
            "predicted_ms": whole["predicted_ms"], "measured_ms": whole["measured_ms"],
            "error_pct": whole["error_pct"], "composition_ms": None,
            "ttft": _part(pred["ttft_ms"], runs, "ttft_ms"), "tpot": _part(pred["tpot_ms"], runs, "tpot_ms"),
            "overhead_ms_per_transfer": {"planned": planned_overhead_ms(plan.profile)},
            "repeats": repeats, "tokens_match_unsplit": out["match"], "first_mismatch": out["first_mismatch"],
            "tokens": out["tokens"], "planning_sha256": plan.sha256, "other_cpu_cores": out.get("other_cpu_cores")}


def _print(row: dict, doc: dict, plan: Planning) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    on_server = row["policy"].count(0)
    console.print(f"[bold]{row['model']}[/], prompt {row['seq_len']} + {row['gen_tokens']} generated tokens · up "
                  f"{row['up_mbps']:g} / down {row['down_mbps']:g} Mbit/s, delay {row['delay_ms']:g} ms")
    console.print(f"client {doc['client']} · server {doc['server']}")
    console.print(f"link: {doc['link_detail']}")
    console.print(f"policy {row['solver']} (deadline {row['deadline_ms']:.1f} ms for the request): {on_server} of "
                  f"{len(row['policy'])} stages on the server, {row['transfers']} transfers per phase")
    t = Table(show_header=True, header_style="bold")
    for col in ("", "predicted ms", "measured ms", "error"):
        t.add_column(col, justify="right" if col else "left")
    for name, part in (("time to first token", row["ttft"]), ("time per output token", row["tpot"]),
                       ("whole request", {k: row[k] for k in ("predicted_ms", "measured_ms", "error_pct")})):
        err = part["error_pct"]
        t.add_row(name, _ms(part["predicted_ms"]), _ms(part["measured_ms"]),
                  "" if err is None else f"[{'green' if abs(err) <= 10 else 'red'}]{err:+.1f} %[/]")
    console.print(t)
    console.print(f"predicted: the planning profile {plan.path} (sha256 {plan.sha256[:16]}…; {doc['provenance']}) "
                  f"with its decode fields (SPEC §8) and its measured per-transfer overhead "
                  f"({row['overhead_ms_per_transfer']['planned']:.3g} ms); measured: median of {row['repeats']} "
                  "requests after 1 warm-up; TPOT = mean decode step.")
    console.print(load_note([plan.profile], [row["other_cpu_cores"]]))
    verdict = "[green]yes[/]" if row["tokens_match_unsplit"] else f"[red]NO (first at token {row['first_mismatch']})[/]"
    console.print(f"{row['gen_tokens']} generated tokens == greedy decoding with the unsplit model (no cache): "
                  f"{verdict}, every run")
    from .memory_report import print_memory

    print_memory(console, row.get("memory"))


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"
