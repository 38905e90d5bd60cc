"""`splittui sweep`: the paper's Figs. 8-11 for one or more models (charts, tables, CSV/JSON).

Also home of the flags and model picking that `simulate` shares; charts, documents and writers
the app uses too live in `splittui.report`. rich and plotext are imported inside functions only,
so `splittui --help` stays light.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..errors import SplittuiError
from ..report.formats import gain, pct
from .common import (
    add_attention_arg,
    add_generation_args,
    add_paper_grid_args,
    add_profile_args,
    add_returns_arg,
    attention_from_args,
    nonneg_float,
    positive_float,
    positive_int,
)
from .llm_args import add_llm_args, load_named

__all__ = ["add_parser", "load_models", "add_grid_args", "add_output_args", "config_from_args", "run_sweeps",
           "bounded", "model_help", "progress_bar", "run_two_sided"]

_DEADLINE_RULE = """deadlines: for each sequence length s, D_0 = the all-client latency (every layer fits on
the client), then D_j = D_0 / 2^(j/M) (M = --per-halving, default 1: the paper's halving series),
kept while D_j >= the least latency any policy reaches at the fastest bandwidth (so the last
deadline is one where almost nothing fits on the client); at most --max-halvings halvings.

DP: one pass per (s, bandwidth) at D_0 gives every deadline (the frontier), time unit
T = D_min / --resolution (or --unit-ms). exact: one Pareto-label pass per (s, bandwidth) also
gives every deadline. greedy / single-split / no-split: one prefix-latency pass per pair.

aggregates over the cells where DP and greedy are both feasible: client share = 1 - server share;
improvement over greedy = (mean dp share - mean greedy share) / mean greedy share (ratio of means),
and the median over cells with greedy share > 0 of the per-cell ratio. The paper's numbers:
offload 28.9 % transformer, 27.8 % BERT, 29.2 % GPT-2-like, 44.3 % CMT; improvement 14.6 %,
5.5 %, 12.5 %, 55.4 %; 19 % overall."""

_EPILOG = _DEADLINE_RULE + """

examples:
  splittui sweep --model gpt2-like
  splittui sweep --model all --out sweep.json --csv sweep.csv
  splittui sweep --model gpt2-like --json | jq .overall
  splittui sweep --model gpt2-like --per-halving 2 --bandwidths 10,100,1000 --no-exact
  splittui sweep --model all --grid paper --server-speedup 79     # closer to the paper's setup
  splittui sweep --model bert-base --attention sparse:64

over a chain of tiers (SPEC §11): --tier/--hop or --topology as `solve` takes them; --hop-sweep H sweeps
hop H's bandwidth over --bandwidths (up = down, the hop's delay kept; without it the hops stay as given),
with the lengths and deadlines as above (D_0 = every layer on the first tier) or --deadlines. Each row is
one solver at one cell: each tier's share of the work, latency, TTFT/TPOT and whether it meets every
constraint. dp, exact, no-split and all-client; exact solves under --ttft-ms/--tpot-ms. Two tiers the
two-sided sweep can state (one runtime, default weights, no per-tier memory or pins, start and end on the
first tier, the hop swept or up = down) print exactly the two-sided sweep.
  splittui sweep --model llama-3.1-8b --tier phone=phone-soc --tier edge=jetson-orin \\
      --tier cloud=a100-80gb --hop 50/100/5 --hop 200/500/20 --seqs 1024 --gen-tokens 256 \\
      --hop-sweep 1 --bandwidths 10,50,200 --deadlines 60000,30000"""


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(positive_float(v) for v in text.split(",") if v.strip())
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def bounded(kind, hi: float, unit: str = ""):
    """An argparse type: `kind` (positive_int, nonneg_float, ...) and at most `hi`."""
    def parse(text: str):
        value = kind(text)
        if value > hi:
            limit = f"{hi:,.0f}" if hi == int(hi) else f"{hi:g}"
            raise argparse.ArgumentTypeError(f"must be at most {limit}{unit}, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


MAX_DELAY_MS = 1e6      # 1000 s one way: beyond that no deadline in the series means anything
MAX_PER_HALVING = 32    # 32 x 16 halvings = 512 deadlines per (length, bandwidth)
MAX_HALVINGS = 64


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(positive_int(v) for v in text.split(",") if v.strip())


def _deadline_list(text: str) -> tuple[float, ...]:
    values = _float_list(text)
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more deadlines in ms")
    return values


def add_grid_args(p: argparse.ArgumentParser, *, deadlines: bool = False) -> None:
    g = p.add_argument_group("grid")
    g.add_argument("--bandwidths", type=_float_list, default=None, metavar="B,B,..",
                   help="Mbit/s, up = down (default 10,20,50,100,200,500,1000)")
    g.add_argument("--seqs", type=_int_list, default=None, metavar="S,S,..",
                   help="sequence lengths (image sides for cmt-s), within the profile's range "
                        "(default: the lengths the profile was measured at)")
    g.add_argument("--delay-ms", type=bounded(nonneg_float, MAX_DELAY_MS, " ms"), default=None, metavar="MS",
                   help="one-way network delay per transfer, ms (default 10)")
    if deadlines:
        g.add_argument("--deadlines", type=_deadline_list, default=None, metavar="MS,MS,..",
                       help="these deadlines for every (length, bandwidth) instead of the halving series "
                            "(default: the series)")
    g.add_argument("--per-halving", type=bounded(positive_int, MAX_PER_HALVING), default=1, metavar="M",
                   help=f"deadlines per halving of the deadline, 1..{MAX_PER_HALVING} (default 1; 2 doubles the grid)")
    g.add_argument("--max-halvings", type=bounded(positive_int, MAX_HALVINGS), default=16, metavar="K",
                   help=f"at most K halvings below the all-client latency, 1..{MAX_HALVINGS} (default 16)")
    g.add_argument("--resolution", type=positive_int, default=1000, metavar="R",
                   help="DP time units in the tightest deadline: T = D_min / R (default 1000; "
                        "higher is closer to exact, slower)")
    g.add_argument("--unit-ms", type=positive_float, default=None, metavar="T",
                   help="a fixed DP time unit in ms instead of --resolution (default: off)")
    g.add_argument("--objective", choices=("flops", "mem_bytes", "server_ms", "server_mem"), default="flops",
                   help="server resource the solvers minimise (default flops)")
    from ..model import RADIO_KINDS

    g.add_argument("--radio", choices=RADIO_KINDS, default="wifi",
                   help="the client's radio, for each cell's client joules (an estimate: docs/energy.md; default "
                        "%(default)s)")
    add_generation_args(p)
    add_returns_arg(p)


def model_help(p: argparse.ArgumentParser, default: str) -> None:
    for action in p._actions:
        if action.dest == "model":
            action.help = f"shipped profile name, NAME,NAME,.. or 'all' (every shipped profile; default {default})"
        elif action.dest == "profile":
            action.help = "a splittui.profile/1 file instead of --model (e.g. from `splittui profile`)"


def add_output_args(p: argparse.ArgumentParser, what: str = "everything") -> None:
    from .output import add_output_flags

    g = add_output_flags(p, what, legacy_json_file=True,
                         force_help="let --out/--csv replace existing files (default: refuse)")
    g.add_argument("--csv", metavar="FILE", help="also write one row per cell (sweep) or method (simulate) "
                                                 "(default: none; the directory must exist)")
    g.add_argument("--no-charts", action="store_true", help="tables only, no plotext charts")


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="the paper's Figs. 8-11: every solver over deadlines x bandwidths x lengths",
                       description="Sweep every solver over a grid of sequence lengths, bandwidths and\n"
                                   "deadlines; show the share of work kept on the client and the improvement\n"
                                   "over greedy as charts (Figs. 8-11) and tables.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_llm_args(p)
    model_help(p, "gpt2-like")
    add_grid_args(p, deadlines=True)
    p.add_argument("--no-exact", action="store_true", help="skip the exact solver (faster; default: run it)")
    add_paper_grid_args(p)
    add_attention_arg(p)
    add_output_args(p, "the sweep (splittui.sweep/1)")
    from .tiers_args import add_tier_args

    add_tier_args(p)
    p.add_argument("--hop-sweep", type=positive_int, default=None, metavar="H",
                   help="over tiers: sweep hop H's bandwidth (1 = the first tier's link) over --bandwidths, up = "
                        "down, its delay kept (default: the hops as given)")
    p.set_defaults(func=run_sweep_command, model_default="gpt2-like")


# ----- shared helpers -----------------------------------------------------------------------------

def load_models(args: argparse.Namespace, default: str) -> list:
    """--hf-config PATH, --profile PATH, or --model NAME / NAME,NAME / all (the shipped base models)."""
    from ..profiles import load_variant, shipped_models

    seqs = list(getattr(args, "seqs", None) or [])
    attention = attention_from_args(args)
    if getattr(args, "hf_config", None):
        if getattr(args, "profile", None) or getattr(args, "model", None):
            raise SplittuiError("--hf-config: give either --hf-config or --model/--profile, not both")
        profiles = [load_named(args, args.hf_config, include_seq=seqs, hf_config=True)]
        _print_estimate_notes(profiles)
        return profiles
    if getattr(args, "profile", None):
        if not attention.is_full:
            return [load_variant(args.profile, attention)]
        return [load_named(args, args.profile)]
    spec = getattr(args, "model", None) or default
    names = shipped_models() if spec == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise SplittuiError("--model: no model named")
    if attention.is_full:
        profiles = [load_named(args, n, include_seq=seqs) for n in names]
    else:
        profiles = [load_variant(n, attention) for n in names]
    _print_estimate_notes(profiles)
    return profiles


def _print_estimate_notes(profiles: list) -> None:
    from .llm_args import estimate_note

    for prof in profiles:
        note = estimate_note(prof)
        if note:
            print(f"splittui: {note}", file=sys.stderr)


def config_from_args(args: argparse.Namespace, *, exact: bool):
    from ..sweep import DEFAULT_BANDWIDTHS, PAPER_BANDWIDTHS, SweepConfig

    grid = getattr(args, "grid", "default")
    default_bw = PAPER_BANDWIDTHS if grid == "paper" else DEFAULT_BANDWIDTHS
    delay = args.delay_ms if args.delay_ms is not None else 10.0
    return SweepConfig(bandwidths=args.bandwidths or default_bw, seq_lens=args.seqs,
                       delay_ms=delay, per_halving=args.per_halving, max_steps=args.max_halvings,
                       resolution=args.resolution, unit_ms=args.unit_ms, exact=exact,
                       objective=args.objective, gen_tokens=args.gen_tokens, grid=grid,
                       ttft_ms=getattr(args, "ttft_ms", None), tpot_ms=getattr(args, "tpot_ms", None),
                       returns=getattr(args, "returns", None) or "auto",
                       server_speedup=getattr(args, "server_speedup", None),
                       radio=getattr(args, "radio", None) or "wifi", deadlines=getattr(args, "deadlines", None))


def progress_bar():
    """The sweeps' rich progress bar: on stderr, gone when done (use as a context manager)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*cols, console=Console(stderr=True), transient=True)


def run_sweeps(profiles: list, cfg, *, label: str = "sweep") -> list:
    """Sweep every profile behind one rich progress bar (on stderr, gone when done)."""
    from ..sweep import run_sweep, sweep_seq_lens

    for prof in profiles:
        _check_seqs(prof, cfg)
    pairs = sum(len(sweep_seq_lens(p, cfg)) for p in profiles) * len(cfg.bandwidths)
    out = []
    with progress_bar() as bar:
        task = bar.add_task(label, total=pairs)
        for prof in profiles:
            bar.update(task, description=f"{label} {prof.model}")
            base = bar.tasks[0].completed

            def advance(done: int, total: int, b: float = base) -> None:
                bar.update(task, completed=b + done)

            out.append(run_sweep(prof, cfg, progress=advance))
    return out


def _check_seqs(prof, cfg) -> None:
    lo, hi = prof.seq_range
    bad = [s for s in (cfg.seq_lens or ()) if not lo <= s <= hi]
    if bad:
        raise SplittuiError(f"--seqs {bad[0]} is outside {prof.model}'s range {lo}..{hi}")


# ----- sweep tables -------------------------------------------------------------------------------

def _paper(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def summary_table(sweeps: list):
    from rich import box
    from rich.table import Table

    from ..sweep import PAPER
    from ..sweep_summary import overall, summary

    t = Table(title="ours vs the paper (§IV-C), %: client share (DP) and improvement over greedy",
              title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), caption_justify="left",
              caption="cells: where DP and greedy are both feasible / all; impr.: ratio of means; "
                      "median: of per-cell ratios (greedy > 0); exact: the exact solver's impr.")
    for col in ("model", "cells", "client", "paper", "impr.", "median", "paper", "exact"):
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for sw in sweeps:
        s = summary(sw)
        paper = s["paper"] or {}
        t.add_row(sw.model, f"{s['cells']}/{s['n_cells']}", pct(s["dp"], unit=""), _paper(paper.get("offload")),
                  pct(s["improvement"], signed=True, unit=""), pct(s["improvement_median"], signed=True, unit=""),
                  _paper(paper.get("improvement")), pct(s.get("exact_improvement", math.nan), signed=True, unit=""))
    missed = sum(summary(sw)["dp_infeasible_greedy_feasible"] for sw in sweeps)
    if missed:
        t.caption = str(t.caption) + (f"; {missed} cells where greedy meets the deadline but the DP, rounding "
                                      "times up to T, finds nothing (raise --resolution)")
    if len(sweeps) > 1:
        o = overall(sweeps)
        t.add_row("overall", str(o["cells"]), pct(o["dp"], unit=""), "—", pct(o["improvement"], signed=True, unit=""),
                  pct(o["improvement_median"], signed=True, unit=""), _paper(PAPER["overall"]["improvement"]), "")
    return t


def deadline_table(sw):
    """Rows: halving step; columns: sequence length; cell: DP client share and gain over greedy."""
    from rich import box
    from rich.table import Table

    from ..sweep_summary import by_deadline

    bd = by_deadline(sw)
    rule = "the given deadlines, loosest first" if sw.config.deadlines else f"D_j = D_0 / 2^(j/{sw.config.per_halving})"
    t = Table(title=f"{sw.model}: DP % on client and gain over greedy (%, or ×N from +1000 %), by deadline step j "
                    f"({rule}), mean over bandwidths",
              title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("j", justify="right", no_wrap=True)
    for s in bd:
        t.add_column(f"s={s}", justify="right", no_wrap=True)
    steps = sorted({j for row in bd.values() for j in row})
    for j in steps:
        cells = []
        for row in bd.values():
            a = row.get(j)
            cells.append("" if a is None else f"{pct(a['dp'], unit='')} {gain(a['improvement'], compact=True)}")
        t.add_row(str(j), *cells)
    return t


def bandwidth_table(sw):
    from rich.table import Table

    from ..sweep_summary import by_bandwidth

    t = Table(title=f"{sw.model}: by bandwidth, mean over lengths and deadlines", title_justify="left")
    for col in ("Mbit/s", "cells", "DP on client", "greedy", "improvement"):
        t.add_column(col, justify="right", no_wrap=True)
    for b, a in by_bandwidth(sw).items():
        t.add_row(f"{b:g}", str(a["cells"]), pct(a["dp"]), pct(a["greedy"]), pct(a["improvement"], signed=True))
    return t


def run_sweep_command(args: argparse.Namespace) -> int:
    from .tiers_args import tiers_requested

    if tiers_requested(args):   # a chain of tiers (SPEC §11)
        from .sweep_tiers import run_tier_sweep_command

        return run_tier_sweep_command(args)
    if args.hop_sweep is not None:
        raise SplittuiError(f"--hop-sweep {args.hop_sweep}: sweeps a hop of a chain of tiers; give the tiers "
                            "(--tier/--hop or --topology), or sweep the one link with --bandwidths")
    profiles = load_models(args, args.model_default)
    return run_two_sided(args, profiles, config_from_args(args, exact=not args.no_exact))


def run_two_sided(args: argparse.Namespace, profiles: list, cfg) -> int:
    """The paper's sweep of one client and one server: tables and charts, or --json / --out / --csv."""
    from ..report.documents import sweep_document
    from ..report.writers import write_csv_atomic
    from ..sweep_summary import sweep_rows
    from .output import check_out, emit

    check_out(args, args.csv)
    sweeps = run_sweeps(profiles, cfg)
    if args.csv:
        path = write_csv_atomic(args.csv, [r for sw in sweeps for r in sweep_rows(sw)], force=args.force)
        print(f"wrote {sum(sw.n_cells for sw in sweeps)} cells to {path}", file=sys.stderr)
    emit(args, sweep_document(sweeps, profiles), lambda: _print_sweeps(args, profiles, sweeps))
    return 0


def _print_sweeps(args: argparse.Namespace, profiles: list, sweeps: list) -> None:
    from rich.console import Console

    from ..provenance import provenance
    from ..report.charts import print_charts
    from ..report.tables import print_table
    from ..sweep_summary import charts
    from .sweep_explain import explain_table

    console = Console()
    for prof in profiles:
        console.print(f"[dim]{prof.model} times: {provenance(prof)}[/]")
    for sw in sweeps:
        if not args.no_charts:
            print_charts(console, charts(sw))
        print_table(console, deadline_table(sw))
        print_table(console, bandwidth_table(sw))
    print_table(console, summary_table(sweeps))
    print_table(console, explain_table(sweeps))
