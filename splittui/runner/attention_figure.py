"""`splittui run --figure attention`: the paper's Figs. 6-7 (§IV-B) as a measured experiment.

For one model (bert-base) at three sequence lengths and each attention variant (full, low-rank,
sparse), four placements: all-client, attention-on-the-server (the paper's "efficient" split) and
the DP's policy at two deadlines (fractions of the planned all-client latency). The server is a CPU
process with every core (the paper's "splitCPU"); splitGPU needs a GPU server, which the runner does
not start. Each variant gets its own planning profile, measured by a separate `splittui profile
--attention V` process before its run (or taken from the cache), its own client/server processes,
and its policies chosen before they start. A wall-clock budget (``--budget-s``) bounds the
experiment: a variant that would start after it is spent is skipped, and said so.
"""

from __future__ import annotations

import time

from .chains import ChainSpec
from .experiment import Case, Row, measure_rows
from .handler import live_session, stderr_console
from .kernel_link import open_link
from .planning import planning_profile, policy_for, scenario_for

__all__ = ["attention_rows", "attention_chart", "ATTENTION_VARIANTS", "ATTENTION_SEQS", "ATTENTION_DEADLINES",
           "server_note"]

ATTENTION_VARIANTS = ("full", "lowrank:64", "sparse:32")
ATTENTION_SEQS = (128, 256, 512)
ATTENTION_DEADLINES = ("0.6x", "0.85x")


def server_note() -> str:
    """Which of the paper's two server kinds the figure has (splitCPU) and why not the other."""
    import torch

    why = "the runner's server is a CPU process" if torch.cuda.is_available() else "no GPU on this machine"
    return f"server: a CPU process with every core (splitCPU); splitGPU not run ({why})"


def _cases(args, profile, seq: int, deadlines: list[str], skipped: list) -> list[Case]:
    from ..errors import SplittuiError

    sc = scenario_for(args, profile, seq)
    cases = [Case(label, profile, sc, policy_for(args, profile, sc, label)[1])
             for label in ("all-client", "attention-server")]
    for d in deadlines:
        sc_d = scenario_for(args, profile, seq, deadline=d)
        try:
            cases.append(Case(f"dp {d}", profile, sc_d, policy_for(args, profile, sc_d, "dp")[1]))
        except SplittuiError as exc:
            skipped.append(f"{profile.model} seq {seq} deadline {d}: {exc}")
    return cases


def attention_rows(args, threads: int, seqs: list[int], variants: list[str], budget_s: float, plans: list,
                   skipped: list, links: list) -> list[Row]:
    console = stderr_console()
    deadlines = args.deadlines.split(",") if args.deadlines else list(ATTENTION_DEADLINES)
    t0, rows = time.perf_counter(), []
    for variant in variants:
        spent = time.perf_counter() - t0
        if spent > budget_s:
            skipped.append(f"{args.model} {variant}: not run, the --budget-s {budget_s:g} s was spent ({spent:.0f} s)")
            continue
        spec = ChainSpec(args.model, args.tiny, args.seed, attention=variant)
        plan = planning_profile(spec, seqs, threads, given=None, repeats=args.profile_repeats, refresh=args.reprofile,
                                say=lambda m: console.print(f"[dim]{m}[/]", soft_wrap=True))
        plans.append(plan)
        cases = [c for seq in seqs for c in _cases(args, plan.profile, seq, deadlines, skipped)]

        def progress(i, n, case, variant=variant):
            console.print(f"[dim]{variant} [{i + 1}/{n}] seq {case.scenario.seq_len}, {case.label}[/]")

        with open_link(args.link) as link, live_session(spec, link, threads, args) as session:
            rows += measure_rows(session, cases, args.repeats, progress, shape=link.shape)
            links.append((link.kind, link.describe()))
    return rows


def _marks(labels: list[str]) -> dict[str, str]:
    """One letter per label (its first free letter), so the chart reads without colour."""
    fixed = {"all-client": "a", "attention-server": "e"}
    out = {label: fixed[label] for label in labels if label in fixed}
    for label in labels:
        if label not in out:
            free = [ch for ch in label + "pqrstuvwxyz" if ch.isalpha() and ch not in out.values()]
            out[label] = free[0] if free else "?"
    return {label: out[label] for label in labels}


def attention_chart(rows: list[Row], width: int = 120, height: int = 22) -> str:
    """plotext: latency against sequence length, one panel per attention variant; capital letters are
    measured, small ones predicted (a: all-client, e: attention-server, d/p: dp at each deadline)."""
    import plotext as plt

    variants = list(dict.fromkeys(r.case.planning.model for r in rows))
    labels = list(dict.fromkeys(r.case.label for r in rows))
    marks = _marks(labels)
    values = [v for r in rows for v in (r.measured["total_ms"], r.planned.latency_ms)]
    plt.clear_figure()
    plt.subplots(1, max(1, len(variants)))
    plt.plot_size(width, height)
    plt.theme("clear")
    for j, variant in enumerate(variants, start=1):
        plt.subplot(1, j)
        plt.title(variant)
        plt.xlabel("sequence length")
        plt.ylabel("latency ms")
        if values and min(values) > 0 and max(values) > 20 * min(values):
            plt.yscale("log")
        for label in labels:
            sel = sorted((r for r in rows if r.case.label == label and r.case.planning.model == variant),
                         key=lambda r: r.case.scenario.seq_len)
            xs = [r.case.scenario.seq_len for r in sel]
            plt.plot(xs, [r.measured["total_ms"] for r in sel], marker=marks[label].upper())
            plt.plot(xs, [r.planned.latency_ms for r in sel], marker=marks[label])
    key = ", ".join(f"{m.upper()}/{m} {label}" for label, m in marks.items())
    return plt.build() + f"\n{key}; capital = measured, small = predicted"
