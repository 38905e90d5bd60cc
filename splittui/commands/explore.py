"""`splittui explore GRID.toml`: design-space exploration over a grid of models, devices, dtypes, links,
lengths, limits and solvers; one row per cell in a Parquet (or CSV) table; `--summary OUT` reads one back
as Pareto fronts and the best configuration per question. The grid logic is `splittui.explore`; where the
chunks run and the files are `explore_exec`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import SplittuiError

__all__ = ["add_parser", "run_explore"]

_EPILOG = """\
grid file (TOML): each axis is a value or a list of values; an absent axis has the value of `splittui solve`.
  model = ["llama-3.2-1b", "qwen2.5-0.5b"]    # shipped configs, zoo profiles or files
  client_device = ["jetson-orin", "rpi5"]     # presets or aliases (`splittui devices`); "measured"
  server_device = ["a100"]                    dtype = ["bf16", "int4"]      runtime = ["roofline", "mlc"]
  bandwidth_mbps = [10, 100, [100, 20]]       # both ways, or [up, down] (one pair alone: [[100, 20]])
  delay_ms, seq_len, gen_tokens, deadline_ms, ttft_limit_ms, tpot_limit_ms ("none" = no limit), unit_ms,
  objective, client_mem_gb, server_mem_gb ("none"), pin_client / pin_server ([[0, 1], []]: sets of layers),
  radio = ["wifi", "lte"]                     # the client's radio, for its energy (wifi, lte, 5g, none)
  solver = ["dp", "greedy"]
  keep = ["feasible", "server_share", "latency_ms", "ttft_ms", "tpot_ms", "server_mem_bytes"]
                                              # also client_energy_j, client_j_per_token, server_energy_j
                                              # (estimates), server_load, memory needs, switches, solve_ms
  chunk_cells = 512                           # cells per task (whole scenarios under one profile)
"""


def add_parser(sub) -> None:
    p = sub.add_parser("explore", help="design-space exploration over a grid file: one solve per cell, a Parquet table",
                       description="Solve every cell of a grid (models x devices x dtypes x links x lengths x limits "
                                   "x solvers) in chunks that share one profile, on this machine's cores (the "
                                   "standard process pool by default, a Dask LocalCluster with --executor dask) or on "
                                   "a Dask cluster (--scheduler), and write one row per cell.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid", nargs="?", metavar="GRID.toml", help="the grid file")
    p.add_argument("--out", metavar="FILE", default="grid.parquet",
                   help="the table: Parquet, or CSV when FILE ends in .csv (default grid.parquet)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out file (with --summary: existing PNG plots)")
    p.add_argument("--resume", action="store_true", help="keep the cells --out already has and solve the rest")
    p.add_argument("--dry-run", action="store_true",
                   help="print the cell count and a time estimate from a timed sample")
    p.add_argument("--executor", choices=("dask", "processes", "serial"),
                   help="processes (default): the standard process pool, one worker per core; dask: a Dask "
                        "LocalCluster of as many workers; serial: this process")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:8786); its "
                                                          "workers need splittui installed")
    p.add_argument("--summary", metavar="OUT", help="print the Pareto fronts and best configurations of a table; "
                                                    "PNG plots beside it where matplotlib is installed")
    p.set_defaults(func=run_explore)


def run_explore(args: argparse.Namespace) -> int:
    if args.summary:
        if args.grid:
            raise SplittuiError("--summary OUT: reads a finished table; give no grid file with it")
        from .explore_exec import read_rows

        print_summary(read_rows(args.summary), args.summary, png=(args.summary, args.force))
        return 0
    if not args.grid:
        raise SplittuiError("explore: give a grid file (GRID.toml), or --summary OUT")
    grid = load_grid(args.grid)
    if args.dry_run:
        return _dry_run(grid, args)
    return _run(grid, args)


def load_grid(path: str):
    """The grid file, parsed; every problem one SplittuiError naming the file."""
    from ..explore import parse_grid

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise SplittuiError(f"{path}: reading a TOML grid file needs Python 3.11+") from None

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise SplittuiError(f"{path}: cannot read the grid file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SplittuiError(f"{path}: not valid TOML ({exc})") from None
    return parse_grid(doc, where=path)


def _workers(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise SplittuiError(f"--workers {args.workers}: give at least 1")
    return args.workers or os.cpu_count() or 1


def _executor(args: argparse.Namespace) -> str:
    from .explore_exec import default_executor

    if args.scheduler:
        if args.executor not in (None, "dask"):
            raise SplittuiError(f"--scheduler runs on Dask; it does not combine with --executor {args.executor}")
        return "dask"
    return args.executor or default_executor()


def _dry_run(grid, args: argparse.Namespace) -> int:
    from ..explore import chunks, estimate_cell_s

    n, w = grid.n_cells, _workers(args)
    per = estimate_cell_s(grid)
    print(f"{n:,} cells ({grid.n_profiles:,} profiles x {n // grid.n_profiles:,} cells each), "
          f"{len(chunks(grid)):,} chunks of <= {grid.chunk_cells:,} cells")
    print(f"estimate: {1e3 * per:.2f} ms a cell on one core (a timed sample of 12 scenarios) -> "
          f"{_duration(n * per)} serial, {_duration(n * per / w)} on {w} workers (if they scale linearly)")
    return 0


def _duration(s: float) -> str:
    return f"{s:,.1f} s" if s < 120 else f"{s / 60:,.1f} min" if s < 7200 else f"{s / 3600:,.1f} h"


def _previous(grid, args: argparse.Namespace) -> frozenset[int] | None:
    """The cells --resume keeps (None: no table to keep); refuses a table made from another grid, and any
    existing file without --resume or --force."""
    from .explore_exec import read_rows

    if not os.path.exists(args.out):
        if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
            raise SplittuiError(f"{args.out}: directory {os.path.dirname(args.out)} does not exist")
        return None
    if not args.resume:
        if not args.force:
            raise SplittuiError(f"{args.out}: already exists (use --force to overwrite, --resume to complete it)")
        return None
    rows = read_rows(args.out, columns=["cell", "grid_sha256"])
    if {r["grid_sha256"] for r in rows} - {grid.sha256}:
        raise SplittuiError(f"{args.out}: made from another grid (grid_sha256 differs); --resume completes a table "
                            "of the same grid file (--force starts it again)")
    return frozenset(int(r["cell"]) for r in rows)


def _where(args: argparse.Namespace, executor: str, workers: int) -> str:
    if args.scheduler:
        return f"the Dask cluster at {args.scheduler}"
    return {"dask": f"a Dask LocalCluster of {workers} worker processes", "serial": "this process",
            "processes": f"a process pool of {workers}" + (" (the default; --executor dask for a LocalCluster)"
                                                           if args.executor is None else "")}[executor]


def _cpu_s() -> tuple[float, float] | None:
    """CPU seconds of this process and of its finished child processes (the pool's or the LocalCluster's
    workers, counted once they have exited); None where the platform has no `resource` module (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), kids.ru_utime + kids.ru_stime


def _cpu_line(before: tuple[float, float], after: tuple[float, float], cells: int, wall: float, executor: str,
              workers: int) -> str:
    """CPU time a cell and the cores the run got: figures other processes' load does not inflate (a busy
    machine shows as fewer cores used, not as a dearer cell)."""
    here, kids = after[0] - before[0], after[1] - before[1]
    cores = 1 if executor == "serial" else workers
    split = ("this process" if executor == "serial"
             else f"{1e3 * kids / cells:.2f} in the workers, {1e3 * here / cells:.2f} in this process")
    return (f"splittui: CPU {1e3 * (here + kids) / cells:.2f} ms a cell ({split}); "
            f"{(here + kids) / wall if wall > 0 else 0:.2f} of {cores} core{'s' if cores > 1 else ''} used")


_SUMMARY_ROWS = 2_000_000   # above this the closing summary is left to `--summary OUT` (it reads every row)


def _run(grid, args: argparse.Namespace) -> int:
    """Stream each finished chunk into the table; Ctrl-C keeps what finished (exit 130)."""
    from ..explore import chunks
    from .explore_exec import Progress, TableWriter, read_rows, run_chunks

    kept = _previous(grid, args)
    skip = kept or frozenset()
    todo = chunks(grid, skip=skip)
    executor, workers = _executor(args), _workers(args)
    print(f"splittui: {grid.n_cells - len(skip):,} of {grid.n_cells:,} cells in {len(todo):,} chunks on "
          f"{_where(args, executor, workers)}", file=sys.stderr)
    out = TableWriter(args.out, keep=args.out if kept is not None else None)
    bar = Progress(grid.n_cells, done=len(skip))
    cpu0 = _cpu_s()
    t0, code = time.perf_counter(), 0
    try:
        for cols in run_chunks(grid, todo, skip, executor=executor, workers=workers, scheduler=args.scheduler):
            before = out.rows
            out.write(cols)
            bar.update(out.rows - before)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        out.discard()
        raise
    bar.close()
    dt, new = time.perf_counter() - t0, out.rows - len(skip)
    path = out.close()
    state = "interrupted: kept" if code else "solved"
    print(f"splittui: {state} {new:,} cells in {dt:,.1f} s ({new / dt if dt > 0 else 0:,.0f} cells/s); {out.rows:,} "
          f"of {grid.n_cells:,} rows in {path}" + (" (--resume completes it)" if code else ""), file=sys.stderr)
    cpu1 = _cpu_s()
    if not code and new and not args.scheduler and cpu0 and cpu1:
        print(_cpu_line(cpu0, cpu1, new, dt, executor, workers), file=sys.stderr)
    if not code and out.rows <= _SUMMARY_ROWS:
        print_summary(read_rows(path), str(path), plots=False)
    return code


# ---------------------------------------------------------------- the summary

_AXIS_COLUMNS = ("model", "client_device", "server_device", "dtype", "runtime", "up_mbps", "down_mbps", "delay_ms",
                 "seq_len", "gen_tokens", "deadline_ms", "ttft_limit_ms", "tpot_limit_ms", "objective", "unit_ms",
                 "client_mem_gb", "server_mem_gb", "pin_client", "pin_server", "radio", "solver")


def _fmt(fig: str, v: Any) -> str:
    if v is None:
        return "—"
    if fig == "server_share" or fig == "feasible":
        return f"{100 * v:.1f} %"
    if fig.endswith("_bytes"):
        return f"{v / 1e9:,.3f} GB"
    if fig.endswith("_ms"):
        return f"{v:,.1f} ms"
    if fig.endswith("_j") or fig.endswith("_j_per_token"):
        return f"{v:#.3g} J (estimate)" if abs(v) < 100 else f"{v:,.0f} J (estimate)"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:g}"
    return str(v)


def print_summary(rows: list[dict[str, Any]], name: str, *, plots: bool = True,
                  png: tuple[str, bool] | None = None) -> None:
    """The best configuration per question and, per axis that varies, its values against the (latency,
    server share) Pareto front (with the least client energy per value where the table kept it); a plotext
    scatter of that front on a terminal; with `png` (the table's path, whether to replace) PNG plots beside
    the table where matplotlib is installed."""
    from rich.console import Console
    from rich.table import Table

    from ..explore import QUESTIONS, axis_figures, axis_rows, best_rows, pareto_front
    from ..report.tables import print_table

    console = Console()
    varying = [a for a in _AXIS_COLUMNS if rows and a in rows[0] and len({r[a] for r in rows}) > 1]
    feasible = sum(bool(r.get("feasible")) for r in rows)
    errors = sum(bool(r.get("error")) for r in rows)
    console.print(f"{name}: {len(rows):,} cells, {feasible:,} feasible, {errors:,} refused by the model "
                  f"(see the error column); varying: {', '.join(varying) or 'nothing'}", highlight=False)
    t = Table(title="best configuration per question (feasible cells)", title_justify="left")
    t.add_column("question")
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("cell", justify="right", no_wrap=True)
    t.add_column("configuration")
    for question, r in best_rows(rows):
        fig = {q: f for f, q in QUESTIONS}[question]
        t.add_row(question, _fmt(fig, r[fig]), f"{r['cell']:,}", " ".join(f"{a}={r[a]}" for a in varying))
    print_table(console, t)
    if not rows or "latency_ms" not in rows[0] or "server_share" not in rows[0]:
        return
    front = pareto_front(rows, "latency_ms", "server_share")
    extra = ("client_energy_j",) if any(r.get("client_energy_j") is not None for r in rows) else ()
    figures = axis_figures(rows, "server_share", "latency_ms", *extra)
    for axis in varying:
        a = Table(title=f"{axis}: against the (latency, server share) Pareto front", title_justify="left")
        cols = ("value", "cells", "feasible", "least server share", "least latency",
                *(["least client energy"] if extra else []), "on front")
        for col in cols:
            a.add_column(col, justify="left" if col == "value" else "right", no_wrap=col != "value")
        for r in axis_rows(rows, axis, "latency_ms", "server_share", front=front, extra=extra, figures=figures):
            a.add_row(str(r["value"]), f"{r['cells']:,}", _fmt("feasible", r["feasible"]),
                      _fmt("server_share", r["least server_share"]), _fmt("latency_ms", r["least latency_ms"]),
                      *(_fmt(f, r[f"least {f}"]) for f in extra), f"{r['on front']:,}")
        print_table(console, a)
    if plots and front and sys.stdout.isatty():
        _plot(rows, front)
    if png is not None and front:
        write_pngs(rows, front, Path(png[0]), force=png[1])


def write_pngs(rows: list[dict[str, Any]], front: list[dict[str, Any]], table: Path, *,
               force: bool = False) -> list[Path]:
    """`TABLE.front.png` (request latency against server share: feasible cells and the Pareto front) and,
    where the table kept client energy, `TABLE.energy.png` (server share against client joules, estimates),
    through matplotlib if it is installed (else one line says so). An existing file is kept unless `force`."""
    try:
        import matplotlib
    except ImportError:
        print("splittui: PNG plots need matplotlib (pip install 'splittui[plots]'); the tables above have the "
              "same figures", file=sys.stderr)
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("feasible") and None not in (r.get("latency_ms"), r.get("server_share"))]
    pick = ok[:: max(1, len(ok) // 20_000)]
    plots = [("front", "request latency (ms)", "server share (%)", "latency_ms", "server_share", True)]
    if any(r.get("client_energy_j") is not None for r in ok):
        plots.append(("energy", "client energy per request (J, estimate)", "server share (%)", "client_energy_j",
                      "server_share", False))
    written = []
    for tag, xl, yl, x, y, log in plots:
        out = table.with_name(f"{table.name}.{tag}.png")
        if out.exists() and not force:
            print(f"splittui: kept the existing {out} (--force replaces it)", file=sys.stderr)
            continue
        pts = [r for r in pick if r.get(x) is not None]
        fr = front if tag == "front" else _energy_front(ok)
        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        ax.scatter([r[x] for r in pts], [100 * r[y] for r in pts], s=4, alpha=0.35, label="feasible cells")
        ax.plot([r[x] for r in fr], [100 * r[y] for r in fr], "x-", color="C3", label="Pareto front")
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(f"{table.name}: {len(ok):,} feasible cells" + (" (estimates)" if tag == "energy" else ""))
        ax.legend()
        fig.tight_layout()
        tmp = out.with_name(f".{out.name}.tmp")
        fig.savefig(tmp, format="png")
        plt.close(fig)
        tmp.replace(out)
        print(f"splittui: wrote {out}", file=sys.stderr)
        written.append(out)
    return written


def _energy_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from ..explore import pareto_front

    return pareto_front(rows, "client_energy_j", "server_share")


def _plot(rows: list[dict[str, Any]], front: list[dict[str, Any]]) -> None:
    """Feasible cells (up to 4,000, evenly picked) and the front: request latency against server share."""
    import shutil

    import plotext as plt

    ok = [r for r in rows if r.get("feasible") and None not in (r.get("latency_ms"), r.get("server_share"))]
    pick = ok[:: max(1, len(ok) // 4000)]
    plt.clear_figure()
    plt.scatter([r["latency_ms"] for r in pick], [100 * r["server_share"] for r in pick], marker="dot",
                label="feasible cells")
    plt.scatter([r["latency_ms"] for r in front], [100 * r["server_share"] for r in front], marker="x",
                label="Pareto front")
    plt.xscale("log")
    plt.xlabel("request latency (ms)")
    plt.ylabel("server share (%)")
    plt.plotsize(max(40, min(100, shutil.get_terminal_size((100, 24)).columns)), 20)
    plt.show()
