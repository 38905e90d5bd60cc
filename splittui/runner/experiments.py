"""The experiments behind `splittui run --figure` and `--fidelity`.

--figure  the paper's Fig. 2 / Fig. 5 (§IV-A): one model (bert-base) over sequence lengths and
          bandwidths, with all-client ("no splitting"), attention-server ("efficient"),
          attention-client ("inefficient") and the DP's policy, measured beside predicted; a table
          and one plotext chart per bandwidth.
--fidelity  dp, exact, greedy, single-split and no-split on bert-base and gpt2-like, at two sequence
          lengths and two deadlines (fractions of the planned all-client latency) each: the error of
          the planning profile's prediction against the measured latency (target ±10 % on every row
          with a mixed policy). Each model's planning profile is measured by a `splittui profile`
          process before its run (or taken from the cache).
"""

from __future__ import annotations

import json
import sys
import time

from ..errors import SplittuiError
from ..report.charts import open_panels, select_panel
from .chains import ChainSpec
from .experiment import (
    TABLE_NOTE,
    Case,
    Row,
    load_average,
    load_note,
    measure_rows,
    rows_markdown,
    rows_table,
    run_document,
    speed_note,
)
from .handler import check_ends, exit_on_sigterm, live_session, stderr_console
from .kernel_link import open_link
from .planning import all_client_ms, planning_profile, policy_for, scenario_for
from .session import default_server_threads

__all__ = ["experiment_command", "figure_chart", "FIGURE_LABELS", "FIDELITY_SOLVERS"]

FIGURE_LABELS = ("all-client", "attention-server", "attention-client", "dp")
FIDELITY_SOLVERS = ("dp", "exact", "greedy", "single-split", "no-split")
FIDELITY_MODELS = ("bert-base", "gpt2-like")
FIDELITY_SEQS = {"gpt2-like": (64, 128), "bert-base": (64, 128), "transformer": (64, 128), "cmt-s": (128, 224)}
FIDELITY_DEADLINES = ("1/3", "2/3")   # of the way from the least latency to all-client


def _numbers(text: str | None, default: tuple, what: str) -> tuple:
    if not text:
        return default
    try:
        values = tuple(float(v) if "." in v else int(v) for v in text.split(","))
    except ValueError:
        raise SplittuiError(f"--{what}: expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise SplittuiError(f"--{what}: values must be > 0, got {text!r}")
    return values


def _figure_cases(args, profile, seq: int, skipped: list) -> list[Case]:
    cases = []
    for bw in _numbers(args.bandwidths, (100, 1000), "bandwidths"):
        sc = scenario_for(args, profile, seq, up=float(bw))
        cases += [c for solver in FIGURE_LABELS if (c := _case(args, profile, sc, solver, skipped))]
    return cases


def _fidelity_cases(args, profile, seq: int, skipped: list) -> list[Case]:
    """Each solver at each deadline. ``a/b`` deadlines lie that fraction of the way from the least latency
    the planning profile allows to its all-client latency, so that they are feasible and below
    all-client on any machine where a split can help at all (fixed fractions such as 0.7x were
    infeasible on a 2-core machine whose 2-thread server is barely faster than its client)."""
    from .planning import dp_deadline_ms, least_latency_ms

    deadlines = args.deadlines.split(",") if args.deadlines else FIDELITY_DEADLINES
    base = scenario_for(args, profile, seq)
    least, ac = least_latency_ms(profile, base), all_client_ms(profile, base)
    cases = []
    for deadline in deadlines:
        ms, why = dp_deadline_ms(deadline, least, ac)
        if ms is None:
            skipped.append(f"{profile.model} seq {seq} deadline {deadline}: {why}")
            continue
        sc = scenario_for(args, profile, seq, deadline=repr(ms))
        cases += [c for solver in FIDELITY_SOLVERS if (c := _case(args, profile, sc, solver, skipped))]
    return cases


def _case(args, profile, sc, solver: str, skipped: list) -> Case | None:
    """The case, or None (noted in ``skipped``) when the solver finds no policy within the deadline."""
    try:
        label, policy = policy_for(args, profile, sc, solver)
    except SplittuiError as exc:
        skipped.append(f"{profile.model} seq {sc.seq_len} deadline {sc.deadline_ms:.0f} ms: {exc}")
        return None
    return Case(label, profile, sc, policy)


def _run_model(args, model: str, threads: int, build_cases, default_seqs: tuple, plans: list, skipped: list,
               links: list) -> list[Row]:
    spec = ChainSpec(model, args.tiny, args.seed, attention=args.attention)
    seqs = [int(s) for s in _numbers(args.seqs, default_seqs, "seqs")]
    spec.check_seqs(seqs, flag="--seqs")
    console = stderr_console()
    plan = planning_profile(spec, seqs, threads, given=args.profile, repeats=args.profile_repeats,
                            refresh=args.reprofile, say=lambda m: console.print(f"[dim]{m}[/]", soft_wrap=True))
    plans.append(plan)
    cases = [c for seq in seqs for c in build_cases(args, plan.profile, seq, skipped)]  # all chosen before the run

    def progress(i, n, case):
        sc = case.scenario
        console.print(f"[dim]{model} [{i + 1}/{n}] seq {sc.seq_len}, {sc.up_mbps:g} Mbit/s, deadline "
                      f"{sc.deadline_ms:.0f} ms, {case.label}[/]")

    with open_link(args.link) as link, live_session(spec, link, threads, args) as session:
        rows = measure_rows(session, cases, args.repeats, progress, shape=link.shape)
        links.append((link.kind, link.describe()))
    return rows


def experiment_command(args) -> int:
    exit_on_sigterm()
    check_ends(args)
    if args.policy:
        raise SplittuiError("--figure/--fidelity choose their own policies: drop --policy")
    threads = args.server_threads or default_server_threads()
    load_before, t0 = load_average(), time.perf_counter()
    plans: list = []
    skipped: list[str] = []
    note = ""
    links: list = []
    fig = None
    if args.figure == "attention" and args.attention != "full":
        raise SplittuiError("--figure attention runs every --variants: drop --attention")
    if args.figure == "attention":
        from .attention_figure import ATTENTION_SEQS, ATTENTION_VARIANTS, attention_figure, server_note

        if args.profile:
            raise SplittuiError("--figure attention measures one planning profile per variant: drop --profile")
        seqs = [int(s) for s in _numbers(args.seqs, ATTENTION_SEQS, "seqs")]
        variants = args.variants.split(",") if args.variants else list(ATTENTION_VARIANTS)
        fig = attention_figure(args, threads, seqs, variants, args.budget_s, plans, skipped, links)
        rows = fig.rows
        title = (f"Figs. 6-7: {args.model} with full / low-rank / sparse attention at {args.up_mbps:g} Mbit/s, "
                 f"measured vs predicted")
        note = f"; {server_note()}"
    elif args.figure:
        rows = _run_model(args, args.model, threads, _figure_cases, (128, 256, 512), plans, skipped, links)
        title = f"Fig. 2/5: {args.model}, measured vs predicted"
    else:
        if args.profile and not args.models:
            raise SplittuiError("--fidelity --profile FILE: name the one model it profiles with --models")
        models = args.models.split(",") if args.models else FIDELITY_MODELS
        rows = [r for m in models for r in _run_model(args, m, threads, _fidelity_cases,
                                                      FIDELITY_SEQS.get(m, (128, 256)), plans, skipped, links)]
        title = "Prediction fidelity: the planning profile's prediction against the measured latency"
    wall = time.perf_counter() - t0
    kind, detail = links[-1] if links else ("none", "")
    conditions = (f"client 1 thread, server {threads} thread(s); link {kind}; delay {args.delay_ms:g} ms; "
                  f"median of {args.repeats}; {wall:.0f} s; load average {load_before} before, {load_average()} after"
                  f"{note}; {load_note([p.profile for p in plans], [r.other_cpu_cores for r in rows])}")
    if args.json:
        doc = run_document(rows, link=kind, link_detail=detail, plans=plans, server_threads=threads,
                           extra={"conditions": conditions, "skipped": skipped, "wall_s": round(wall, 1),
                                  **(fig.extra() if fig else {})})
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        _print_tables(args, rows, title, conditions, detail, plans, skipped, fig)
    return 0 if all(r.match for r in rows) else 1


def _print_tables(args, rows: list[Row], title: str, conditions: str, detail: str, plans: list,
                  skipped: list, fig=None) -> None:
    """The table (--figure attention: its own, with the infeasible dp rows), the chart, the notes."""
    from rich.console import Console

    from ..provenance import provenance

    mixed = [r for r in rows if 0 in r.case.policy and 1 in r.case.policy]
    within = sum(abs(r.error_pct) <= 10 for r in mixed)
    plan_lines = [f"planning profile {p.path} sha256 {p.sha256} ({provenance(p.profile)})" for p in plans]
    notes = [*(fig.notes() if fig else []), f"link: {detail}", *plan_lines, *(f"skipped: {s}" for s in skipped)]
    if speed := speed_note(rows):
        notes.append(speed)
    if args.markdown:
        print(f"{title} ({conditions})\n")
        print(_figure_markdown(fig) if fig else rows_markdown(rows))
        print("\n" + "\n".join(notes))
        if args.figure:
            print(f"\n```\n{_plain(_chart(args, rows, fig))}\n```")
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    console.print(_figure_table(fig, f"{title} ({conditions})") if fig else rows_table(rows, f"{title} ({conditions})"))
    if args.figure:
        chart = _chart(args, rows, fig)
        print(chart if sys.stdout.isatty() else _plain(chart))
    console.print(f"[dim]{TABLE_NOTE}[/]")
    for line in notes:
        console.print(f"[dim]{line}[/]", soft_wrap=True)
    all_within = sum(abs(r.error_pct) <= 10 for r in rows)
    console.print(f"{within} of {len(mixed)} mixed-policy predictions within ±10 % ({all_within}"
                  f" of {len(rows)} rows); outputs equal to the unsplit forward in {sum(r.match for r in rows)} of "
                  f"{len(rows)}.")


def _chart(args, rows: list[Row], fig=None) -> str:
    if fig is not None:
        from .attention_figure import attention_chart

        return attention_chart(rows, infeasible=fig.infeasible)
    return figure_chart(rows)


def _figure_table(fig, title: str):
    from .attention_figure import attention_table

    return attention_table(fig.entries, title)


def _figure_markdown(fig) -> str:
    from .attention_figure import attention_markdown

    return attention_markdown(fig.entries)


def _plain(text: str) -> str:
    import plotext as plt

    return plt.uncolorize(text)


_MARKERS = {"all-client": "a", "attention-server": "e", "attention-client": "i", "dp": "d"}


def figure_chart(rows: list[Row], width: int = 100, height: int = 22) -> str:
    """plotext: latency against sequence length, one panel per bandwidth. Each placement has a
    letter (a: all-client, e: attention-server, i: attention-client, d: dp): capital = measured,
    small = predicted, so the chart reads without colour too. Log scale when the range is wide."""
    import plotext as plt

    bws = sorted({r.case.scenario.up_mbps for r in rows})
    values = [v for r in rows for v in (r.measured["total_ms"], r.planned.latency_ms)]
    open_panels(plt, len(bws))
    plt.plot_size(width, height)
    plt.theme("clear")
    for j, bw in enumerate(bws, start=1):
        select_panel(plt, j, len(bws))
        plt.title(f"{bw:g} Mbit/s")
        plt.xlabel("sequence length")
        plt.ylabel("latency ms")
        if min(values) > 0 and max(values) > 20 * min(values):
            plt.yscale("log")
        for label in dict.fromkeys(r.case.label for r in rows):
            sel = sorted((r for r in rows if r.case.label == label and r.case.scenario.up_mbps == bw),
                         key=lambda r: r.case.scenario.seq_len)
            xs = [r.case.scenario.seq_len for r in sel]
            mark = _MARKERS.get(label, label[:1])
            plt.plot(xs, [r.measured["total_ms"] for r in sel], marker=mark.upper())
            plt.plot(xs, [r.planned.latency_ms for r in sel], marker=mark)
    key = ", ".join(f"{_MARKERS.get(k, k[:1]).upper()}/{_MARKERS.get(k, k[:1])} {k}"
                    for k in dict.fromkeys(r.case.label for r in rows))
    return plt.build() + f"\n{key}; capital = measured, small = predicted"
