"""`splittui sweep`: the paper's Figs. 8-11 for one or more models (charts, tables, CSV/JSON).

Also home of what `simulate` and the app's Experiments screen share: picking models, drawing a
`splittui.sweep.Chart` with plotext, and refuse-to-overwrite CSV/JSON writers. rich and plotext
are imported inside functions only, so `splittui --help` stays light.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
from pathlib import Path

from ..errors import SplittuiError
from .common import (add_attention_arg, add_paper_grid_args, add_profile_args, attention_from_args, estimate_note,
                     nonneg_float, positive_float, positive_int)

__all__ = ["add_parser", "draw_chart", "chart_text", "caption", "legend", "nice_ticks", "series_colours",
           "load_models", "write_csv_atomic", "write_json",
           "add_grid_args", "config_from_args", "run_sweeps", "clean"]

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
  splittui sweep --model all --json sweep.json --csv sweep.csv
  splittui sweep --model gpt2-like --per-halving 2 --bandwidths 10,100,1000 --no-exact
  splittui sweep --model all --grid paper --server-speedup 79     # closer to the paper's setup
  splittui sweep --model bert-base --attention sparse:64"""


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


def add_grid_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("grid")
    g.add_argument("--bandwidths", type=_float_list, default=None, metavar="B,B,..",
                   help="Mbit/s, up = down (default 10,20,50,100,200,500,1000)")
    g.add_argument("--seqs", type=_int_list, default=None, metavar="S,S,..",
                   help="sequence lengths (image sides for cmt-s), within the profile's range "
                        "(default: the lengths the profile was measured at)")
    g.add_argument("--delay-ms", type=bounded(nonneg_float, MAX_DELAY_MS, " ms"), default=10.0, metavar="MS",
                   help="one-way network delay per transfer, ms (default 10)")
    g.add_argument("--per-halving", type=bounded(positive_int, MAX_PER_HALVING), default=1, metavar="M",
                   help=f"deadlines per halving of the deadline, 1..{MAX_PER_HALVING} (default 1; 2 doubles the grid)")
    g.add_argument("--max-halvings", type=bounded(positive_int, MAX_HALVINGS), default=16, metavar="K",
                   help=f"at most K halvings below the all-client latency, 1..{MAX_HALVINGS} (default 16)")
    g.add_argument("--resolution", type=positive_int, default=1000, metavar="R",
                   help="DP time units in the tightest deadline: T = D_min / R (default 1000; "
                        "higher is closer to exact, slower)")
    g.add_argument("--unit-ms", type=positive_float, default=None, metavar="T",
                   help="a fixed DP time unit in ms instead of --resolution (default: off)")
    g.add_argument("--objective", choices=("flops", "mem_bytes", "server_ms"), default="flops",
                   help="server resource the solvers minimise (default flops)")


def model_help(p: argparse.ArgumentParser, default: str) -> None:
    for action in p._actions:
        if action.dest == "model":
            action.help = f"shipped profile name, NAME,NAME,.. or 'all' (every shipped profile; default {default})"
        elif action.dest == "profile":
            action.help = "a splittui.profile/1 file instead of --model (e.g. from `splittui profile`)"


def add_output_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--csv", metavar="FILE", help="also write one row per cell (sweep) or method (simulate) "
                                                 "(default: none; the directory must exist)")
    g.add_argument("--json", metavar="FILE", help="also write everything as JSON, atomically (default: none)")
    g.add_argument("--force", action="store_true", help="let --csv/--json replace existing files (default: refuse)")
    g.add_argument("--no-charts", action="store_true", help="tables only, no plotext charts")


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="the paper's Figs. 8-11: every solver over deadlines x bandwidths x lengths",
                       description="Sweep every solver over a grid of sequence lengths, bandwidths and\n"
                                   "deadlines; show the share of work kept on the client and the improvement\n"
                                   "over greedy as charts (Figs. 8-11) and tables.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    model_help(p, "gpt2-like")
    add_grid_args(p)
    p.add_argument("--no-exact", action="store_true", help="skip the exact solver (faster; default: run it)")
    add_paper_grid_args(p)
    add_attention_arg(p)
    add_output_args(p)
    p.set_defaults(func=run_sweep_command, model_default="gpt2-like")


# ----- shared helpers -----------------------------------------------------------------------------

def load_models(args: argparse.Namespace, default: str) -> list:
    """--profile PATH, or --model NAME / NAME,NAME / all (every shipped profile)."""
    from ..profiles import load_variant, shipped_models

    attention = attention_from_args(args)
    if getattr(args, "profile", None):
        return [load_variant(args.profile, attention)]
    spec = getattr(args, "model", None) or default
    names = shipped_models() if spec == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise SplittuiError("--model: no model named")
    return [load_variant(n, attention) for n in names]


def config_from_args(args: argparse.Namespace, *, exact: bool):
    from ..sweep import DEFAULT_BANDWIDTHS, PAPER_BANDWIDTHS, SweepConfig

    grid = getattr(args, "grid", "default")
    default_bw = PAPER_BANDWIDTHS if grid == "paper" else DEFAULT_BANDWIDTHS
    return SweepConfig(bandwidths=args.bandwidths or default_bw, seq_lens=args.seqs,
                       delay_ms=args.delay_ms, per_halving=args.per_halving, max_steps=args.max_halvings,
                       resolution=args.resolution, unit_ms=args.unit_ms, exact=exact,
                       objective=args.objective, grid=grid, server_speedup=getattr(args, "server_speedup", None))


def run_sweeps(profiles: list, cfg, *, label: str = "sweep") -> list:
    """Sweep every profile behind one rich progress bar (on stderr, gone when done)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..sweep import run_sweep

    for prof in profiles:
        _check_seqs(prof, cfg)
    pairs = sum(len(cfg.seq_lens or p.seq_lens) for p in profiles) * len(cfg.bandwidths)
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    out = []
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=pairs)
        for prof in profiles:
            bar.update(task, description=f"{label} {prof.model}")
            base = bar.tasks[0].completed
            out.append(run_sweep(prof, cfg, progress=lambda d, n, b=base: bar.update(task, completed=b + d)))
    return out


def _check_seqs(prof, cfg) -> None:
    lo, hi = prof.seq_range
    bad = [s for s in (cfg.seq_lens or ()) if not lo <= s <= hi]
    if bad:
        raise SplittuiError(f"--seqs {bad[0]} is outside {prof.model}'s range {lo}..{hi}")


def clean(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return clean(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def write_json(path: str, obj, *, force: bool) -> Path:
    from ..profiles import write_json_atomic

    return write_json_atomic(path, clean(obj), force=force)


def write_csv_atomic(path: str | os.PathLike, rows: list[dict], *, force: bool = False) -> Path:
    """CSV through a temp file and a rename; refuses to replace a file unless force."""
    from ..profiles import write_text_atomic

    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(clean(rows))
    return write_text_atomic(path, buf.getvalue(), force=force)


_MARKERS = ("o", "x", "+", "*", "#", "@", "%", "=")
_SERIES_COLOURS = ("#2aa1b3", "#e8833a", "#a97bd8", "#c9b458", "#7f8fbf", "#9a9a9a")  # teal, orange, ...


def series_colours(labels: list[str]) -> list[str]:
    """One '#rrggbb' per series, from the app's palette: dp teal (work kept on the client), no-split
    orange (all on the server), greedy grey; other series (sequence lengths) take the palette in turn."""
    from ..tui.palette import CLIENT, NETWORK, SERVER, SOLVER_COLOURS

    fixed = {"dp": CLIENT, "dp vs greedy": CLIENT, "no-split": SERVER, "exact": NETWORK,
             "greedy": SOLVER_COLOURS["greedy"], "single-split": SOLVER_COLOURS["single-split"]}
    if all(label in fixed for label in labels):
        return [fixed[label] for label in labels]
    return [_SERIES_COLOURS[k % len(_SERIES_COLOURS)] for k in range(len(labels))]


def legend(chart, *, color: bool = True) -> list[tuple[str, str, str]]:
    """(colour, glyph, label) per series, as drawn by `draw_chart`."""
    labels = [label for label, _, _ in chart.series]
    colours = series_colours(labels)
    glyphs = ["━━" if color else _MARKERS[k % len(_MARKERS)] * 2 for k in range(len(labels))]
    return list(zip(colours, glyphs, labels))


def caption(chart, *, color: bool = True, log_y: bool = False, width: int = 100, title: str | None = None):
    """rich Text drawn above the plot so the legend never covers data: the title and the legend
    (coloured keys) on one line, or on two when that is wider than `width`."""
    from rich.style import Style
    from rich.text import Text

    empty = [label for label, _, ys in chart.series
             if not any(math.isfinite(y) and (y > 0 or not log_y) for y in ys)]

    def keys(gap: str, short: bool) -> Text:
        out = Text()
        for k, (colour, glyph, label) in enumerate(legend(chart, color=color)):
            if short and k and label.startswith("s="):
                label = label[2:]   # "━ s=128 ━ 256 ━ 512": the prefix once
            out.append(gap + (glyph[:1] if short else glyph), Style(color=colour if color else None, bold=True))
            out.append(" " + label)
        if empty:
            out.append(f"{gap}({'all 0' if log_y else 'no data'}: {', '.join(empty)})", style="dim")
        return out

    text = Text(chart.title if title is None else title, style="bold")
    line = keys("  ", False)
    if text.cell_len + line.cell_len <= width:
        return text.append_text(line)
    line = keys("  ", False)[2:]
    if line.cell_len > width:   # narrow: one-cell keys, one space apart
        line = keys(" ", True)[1:]
    return text.append("\n").append_text(line)


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About `count` intervals of round numbers (1, 2, 2.5, 5 x 10^k steps) covering lo..hi."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int(round((last - first) / step)) + 1)]


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"


def draw_chart(plt, chart, *, color: bool = True, log_y: bool = False, height: int = 18) -> None:
    """Draw a `splittui.sweep.Chart` on a plotext module/object (CLI) or PlotextPlot.plt (app).

    No title or legend inside the plot (see `caption`, drawn above it). y ticks are round numbers:
    0/25/50/75/100 on shares (chart.ylim), 1, 2, 2.5 or 5 x 10^k steps otherwise. log_y plots
    log10(y) with 1eK tick labels (plotext's own log scale re-applies itself on every build, which
    breaks a widget that renders more than once).
    """
    plt.clear_data()
    plt.xlabel(chart.xlabel)
    plt.ylabel(chart.ylabel)
    xs_all, ys_all = [], []
    for k, ((label, xs, ys), (colour, _, _)) in enumerate(zip(chart.series, legend(chart, color=color))):
        pts = [(x, math.log10(y) if log_y else y) for x, y in zip(xs, ys)
               if math.isfinite(y) and (y > 0 or not log_y)]
        if not pts:
            continue
        style = {"marker": "braille", "color": _rgb(colour)} if color else {"marker": _MARKERS[k % len(_MARKERS)]}
        plt.plot([p[0] for p in pts], [p[1] for p in pts], **style)
        xs_all += [p[0] for p in pts]
        ys_all += [p[1] for p in pts]
    if not xs_all:
        return
    if log_y:
        _decade_ticks(plt, ys_all)
    else:
        _round_y_ticks(plt, chart, ys_all, height)
    if chart.xticks is not None:
        plt.xticks(list(chart.xticks[0]), list(chart.xticks[1]))
    else:   # the x range of every point, zeros dropped from a log plot included
        xs = [x for _, sx, sy in chart.series for x, y in zip(sx, sy) if math.isfinite(y)]
        lo, hi = min(xs), max(xs)
        plt.xlim(lo, hi)
        ticks = [t for t in nice_ticks(lo, hi, 5) if lo <= t <= hi] or [lo]
        plt.xticks(ticks, [_num(t) for t in ticks])


def _rgb(colour: str) -> tuple[int, int, int]:
    from ..tui.palette import rgb

    return rgb(colour)


def _round_y_ticks(plt, chart, ys: list[float], height: int) -> None:
    count = 4 if height >= 12 else 2
    if chart.ylim is not None:
        lo, hi = chart.ylim
        lo, hi = min(lo, min(ys)), max(hi, max(ys))
    else:
        lo, hi = min(0.0, min(ys)), max(0.0, max(ys))
        if hi == lo:
            hi = lo + 1.0
    ticks = nice_ticks(lo, hi, count)
    plt.ylim(ticks[0], ticks[-1])
    plt.yticks(ticks, [_num(t) for t in ticks])


def _decade_ticks(plt, logs: list[float]) -> None:
    lo, hi = math.floor(min(logs)), math.ceil(max(logs))
    step = max(1, (hi - lo + 5) // 6)
    ks = list(range(lo, hi + 1, step))
    plt.ylim(lo, max(hi, lo + 1))
    plt.yticks([float(k) for k in ks], [f"1e{k}" for k in ks])


def chart_text(chart, *, width: int, height: int = 18, color: bool = True, log_y: bool = False) -> str:
    """The plot alone (no caption), as text."""
    import plotext as plt

    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear")
    if not color:
        plt.clear_color()
    draw_chart(plt, chart, color=color, log_y=log_y, height=height)
    text = plt.build()
    return text if color else plt.uncolorize(text)


def print_charts(console, charts, *, log_y: bool = False) -> None:
    """Each chart: a caption line (title and legend) over the plot, 60..100 columns wide."""
    color = console.is_terminal
    width = max(60, min(console.width, 100))
    for chart in charts:
        console.print(caption(chart, color=color, log_y=log_y, width=width), width=width, overflow="fold")
        text = chart_text(chart, width=width, color=color, log_y=log_y)
        console.file.flush()
        sys.stdout.write(text + "\n\n")
        sys.stdout.flush()


# ----- sweep tables -------------------------------------------------------------------------------

def _p(v: float, signed: bool = False, unit: str = " %") -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{100 * v:+.1f}{unit}" if signed else f"{100 * v:.1f}{unit}"


def _gain(v: float) -> str:
    if not math.isfinite(v):
        return "—"
    g = 100 * v
    return f"{g:+.0f}" if abs(g) < 1000 else f"{g / 1000:+.0f}k"


def _paper(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def summary_table(sweeps: list):
    from rich import box
    from rich.table import Table

    from ..sweep import PAPER, overall, summary

    t = Table(title="ours vs the paper (§IV-C), %: client share (DP) and improvement over greedy",
              title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), caption_justify="left",
              caption="cells: where DP and greedy are both feasible / all; impr.: ratio of means; "
                      "median: of per-cell ratios (greedy > 0); exact: the exact solver's impr.")
    for col in ("model", "cells", "client", "paper", "impr.", "median", "paper", "exact"):
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for sw in sweeps:
        s = summary(sw)
        paper = s["paper"] or {}
        t.add_row(sw.model, f"{s['cells']}/{s['n_cells']}", _p(s["dp"], unit=""), _paper(paper.get("offload")),
                  _p(s["improvement"], True, ""), _p(s["improvement_median"], True, ""),
                  _paper(paper.get("improvement")), _p(s.get("exact_improvement", math.nan), True, ""))
    missed = sum(summary(sw)["dp_infeasible_greedy_feasible"] for sw in sweeps)
    if missed:
        t.caption += (f"; {missed} cells where greedy meets the deadline but the DP, rounding times up to T, "
                      "finds nothing (raise --resolution)")
    if len(sweeps) > 1:
        o = overall(sweeps)
        t.add_row("overall", str(o["cells"]), _p(o["dp"], unit=""), "—", _p(o["improvement"], True, ""),
                  _p(o["improvement_median"], True, ""), _paper(PAPER["overall"]["improvement"]), "")
    return t


def deadline_table(sw):
    """Rows: halving step; columns: sequence length; cell: DP client share and gain over greedy."""
    from rich import box
    from rich.table import Table

    from ..sweep import by_deadline

    bd = by_deadline(sw)
    t = Table(title=f"{sw.model}: DP % on client and gain % over greedy, by deadline step j "
                    f"(D_j = D_0 / 2^(j/{sw.config.per_halving})), mean over bandwidths",
              title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("j", justify="right")
    for s in bd:
        t.add_column(f"s={s}", justify="right", no_wrap=True)
    steps = sorted({j for row in bd.values() for j in row})
    for j in steps:
        cells = []
        for row in bd.values():
            a = row.get(j)
            cells.append("" if a is None else f"{_p(a['dp'], unit='')} {_gain(a['improvement'])}")
        t.add_row(str(j), *cells)
    return t


def bandwidth_table(sw):
    from rich.table import Table

    from ..sweep import by_bandwidth

    t = Table(title=f"{sw.model}: by bandwidth, mean over lengths and deadlines", title_justify="left")
    for col in ("Mbit/s", "cells", "DP on client", "greedy", "improvement"):
        t.add_column(col, justify="right")
    for b, a in by_bandwidth(sw).items():
        t.add_row(f"{b:g}", str(a["cells"]), _p(a["dp"]), _p(a["greedy"]), _p(a["improvement"], True))
    return t


def sweep_document(sweeps: list) -> dict:
    from ..sweep import by_bandwidth, by_deadline, overall, overall_rounding, summary, sweep_rows

    cfg = sweeps[0].config
    return {"schema": "splittui.sweep/1",
            "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
            "overall": overall(sweeps), "overall_rounding": overall_rounding(sweeps),
            "models": [{"model": sw.model, "summary": summary(sw), "by_deadline": by_deadline(sw),
                        "by_bandwidth": by_bandwidth(sw), "cells": sweep_rows(sw)} for sw in sweeps]}


def run_sweep_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..sweep import charts, sweep_rows

    profiles = load_models(args, args.model_default)
    _check_paths(args)
    for note in filter(None, map(estimate_note, profiles)):
        print(note, file=sys.stderr)
    sweeps = run_sweeps(profiles, config_from_args(args, exact=not args.no_exact))
    console = Console()
    for sw in sweeps:
        if not args.no_charts:
            print_charts(console, charts(sw))
        console.print(deadline_table(sw))
        console.print(bandwidth_table(sw))
    console.print(summary_table(sweeps))
    from .sweep_explain import explain_table

    console.print(explain_table(sweeps))
    if args.csv:
        path = write_csv_atomic(args.csv, [r for sw in sweeps for r in sweep_rows(sw)], force=args.force)
        print(f"wrote {sum(sw.n_cells for sw in sweeps)} cells to {path}", file=sys.stderr)
    if args.json:
        path = write_json(args.json, sweep_document(sweeps), force=args.force)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _check_paths(args) -> None:
    """Fail before the slow part when an output file would be refused."""
    for name in ("csv", "json"):
        path = getattr(args, name, None)
        if path and Path(path).exists() and not args.force:
            raise SplittuiError(f"{path}: already exists (use --force to overwrite)")
        if path and not Path(path).resolve().parent.exists():
            raise SplittuiError(f"{path}: directory {Path(path).parent} does not exist")
