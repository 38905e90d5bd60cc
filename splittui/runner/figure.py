"""The experiments behind `splittui run --figure` and `--fidelity`.

--figure  the paper's Fig. 2 / Fig. 5 (§IV-A): one model (bert-base) over sequence lengths and
          bandwidths, with all-client ("no splitting"), attention-server ("efficient"),
          attention-client ("inefficient") and the DP's policy, measured beside predicted; a table
          and one plotext chart per bandwidth.
--fidelity  dp, greedy and no-split on every zoo model at two sequence lengths: the prediction
          error table (target ±10 %), plus attention-server, a split with two transfers per
          attention core (on a machine where the server is no faster than the client, dp and greedy
          rarely split at all).
"""

from __future__ import annotations

import json
import os
import sys
import time

from ..errors import SplittuiError
from .chains import ChainSpec
from .command import in_chain, load_measured, policy_for, scenario_for, stderr_console
from .experiment import TABLE_NOTE, Case, Row, measure_rows, rows_json, rows_markdown, rows_table
from .session import Session, default_server_threads

__all__ = ["experiment_command", "figure_chart", "FIGURE_LABELS"]

FIGURE_LABELS = ("all-client", "attention-server", "attention-client", "dp")
FIDELITY_SOLVERS = ("dp", "greedy", "no-split", "attention-server")  # the last: many transfers per request
FIDELITY_SEQS = {"gpt2-like": (64, 128), "bert-base": (128, 256), "transformer": (128, 256), "cmt-s": (128, 224)}


def _ints(text: str | None, default: tuple, what: str) -> tuple:
    if not text:
        return default
    try:
        values = tuple(float(v) if "." in v else int(v) for v in text.split(","))
    except ValueError:
        raise SplittuiError(f"--{what}: expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise SplittuiError(f"--{what}: values must be > 0, got {text!r}")
    return values


def _figure_cases(args, profile, isolated, seq: int) -> list[Case]:
    cases = []
    for bw in _ints(args.bandwidths, (100, 1000), "bandwidths"):
        sc = scenario_for(args, profile, seq, up=float(bw))
        for solver in FIGURE_LABELS:
            cases.append(_case(args, profile, isolated, sc, solver))
    return cases


def _fidelity_cases(args, profile, isolated, seq: int) -> list[Case]:
    sc = scenario_for(args, profile, seq)
    return [_case(args, profile, isolated, sc, solver) for solver in FIDELITY_SOLVERS]


def _case(args, profile, isolated, sc, solver: str) -> Case:
    label, policy = policy_for(args, profile, sc, solver)
    return Case(label, profile, sc, policy, isolated)


def _run_model(args, model: str, threads: int, build_cases, default_seqs: tuple) -> list[Row]:
    spec = ChainSpec(model, args.tiny, args.seed)
    seqs = [int(s) for s in _ints(args.seqs, default_seqs, "seqs")]
    isolated = {seq: load_measured(spec, seq, threads, args) for seq in seqs}
    console = stderr_console()

    def progress(i, n, case):
        sc = case.scenario
        console.print(f"[dim]{model} [{i + 1}/{n}] seq {sc.seq_len}, {sc.up_mbps:g} Mbit/s, {case.label}[/]")

    rows = []
    with Session(spec, server_threads=threads, host=args.host, port=args.port) as session:
        for seq in seqs:  # stage times right before the runs they predict: same machine load
            cases = build_cases(args, in_chain(session, isolated[seq], seq), isolated[seq], seq)
            rows += measure_rows(session, cases, args.repeats, progress)
    return rows


def experiment_command(args) -> int:
    from rich.console import Console

    if args.policy:
        raise SplittuiError("--figure/--fidelity choose their own policies: drop --policy")
    threads = args.server_threads or default_server_threads()
    load_before = _load()
    t0 = time.perf_counter()
    if args.figure:
        rows = _run_model(args, args.model, threads, _figure_cases, (128, 256, 512))
        title = f"Fig. 2/5: {args.model}, measured vs predicted"
    else:
        from ..profiler.zoo import ZOO_NAMES

        models = args.models.split(",") if args.models else ZOO_NAMES
        rows = [r for m in models
                for r in _run_model(args, m, threads, _fidelity_cases, FIDELITY_SEQS.get(m, (128, 256)))]
        title = "Prediction fidelity: dp, greedy, no-split (and attention-server: a many-transfer split)"
    wall = time.perf_counter() - t0
    conditions = (f"client 1 thread, server {threads} thread(s) on {os.cpu_count()} CPUs; delay {args.delay_ms:g} ms; "
                  f"median of {args.repeats}; {wall:.0f} s; load average {load_before} before, {_load()} after")
    if args.json:
        json.dump(rows_json(rows), sys.stdout, indent=1)
        print()
    elif args.markdown:
        print(f"{title} ({conditions})\n")
        print(rows_markdown(rows))
        if args.figure:
            print(f"\n```\n{_plain(figure_chart(rows))}\n```")
    else:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
        console.print(rows_table(rows, f"{title} ({conditions})"))
        if args.figure:
            chart = figure_chart(rows)
            print(chart if sys.stdout.isatty() else _plain(chart))
        console.print(f"[dim]{TABLE_NOTE}[/]")
        within = sum(abs(r.error_pct) <= 10 for r in rows)
        console.print(f"{within} of {len(rows)} predictions within ±10 %; outputs equal to the unsplit forward in "
                      f"{sum(r.match for r in rows)} of {len(rows)}.")
    return 0 if all(r.match for r in rows) else 1


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


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
    values = [v for r in rows for v in (r.measured["total_ms"], r.prediction.latency_ms)]
    plt.clear_figure()
    plt.subplots(1, len(bws))
    plt.plot_size(width, height)
    plt.theme("clear")
    for j, bw in enumerate(bws, start=1):
        plt.subplot(1, j)
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
            plt.plot(xs, [r.prediction.latency_ms for r in sel], marker=mark)
    key = ", ".join(f"{_MARKERS.get(k, k[:1]).upper()}/{_MARKERS.get(k, k[:1])} {k}"
                    for k in dict.fromkeys(r.case.label for r in rows))
    return plt.build() + f"\n{key}; capital = measured, small = predicted"
