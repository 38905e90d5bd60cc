"""`splittui simulate`: the paper's throughput experiment (Figs. 12-13) on a sweep's cells."""

from __future__ import annotations

import argparse
import sys

from .common import add_profile_args, positive_float, positive_int
from .llm_args import add_llm_args
from .sweep import add_grid_args, add_output_args, bounded, model_help


def seed_int(text: str) -> int:
    """A random seed: an integer >= 0 (numpy's generators refuse negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


MAX_REQUESTS = 10_000_000   # ~2 GiB of event arrays and ~25 s here; 10^6 takes ~3 s

__all__ = ["add_parser", "stats_table"]

_EPILOG = """workload: the grid of `splittui sweep` (see its --help for the deadline rule) is solved
with dp, greedy and no-split; the cells where all three are feasible form the workload. Requests
arrive as a Poisson process; each draws a cell uniformly and a repeat count r in 1..--max-repeats.

service: under each method a request holds server_load / t of the capacity for t * r seconds,
t = the cell's deadline (--service deadline, the paper) or the policy's latency (--service latency).
Capacity Ω = N x the mean no-split demand over the cells (N = --concurrency, default 500: the
server runs N whole-model requests at once on average). FIFO: the head request starts as soon as
enough capacity is free; requests with everything on the client need no server and never wait.

arrival rate: --load ρ (default 1.05) sets λ so the no-split offered work fills ρ of Ω; or give
--rate λ (requests/s) or --beta β (the paper's β behaves as a mean inter-arrival time: λ = 1/β s).

reported per method: served (finished by the last arrival), wait mean/p50/p95/p99/max, utilisation
(capacity used within the horizon), throughput (served / horizon), cumulative wait over time.

examples:
  splittui simulate
  splittui simulate --model gpt2-like --requests 1000000 --seed 7
  splittui simulate --beta 0.01 --json sim.json --csv sim.csv"""


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="the paper's throughput experiment (Figs. 12-13): queueing under each method",
                       description="Simulate a Poisson stream of requests on a server of fixed capacity\n"
                                   "under dp, greedy and no-split placements; report waits, utilisation,\n"
                                   "throughput and the cumulative wait over time (Figs. 12-13).",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_llm_args(p)
    model_help(p, "all")
    g = p.add_argument_group("simulation")
    g.add_argument("--requests", type=bounded(positive_int, MAX_REQUESTS), default=100_000, metavar="N",
                   help=f"arrivals to simulate, per method, at most {MAX_REQUESTS:,} (default 100000; "
                        "10^6 takes ~3 s, 10^7 ~25 s and ~2 GB)")
    g.add_argument("--concurrency", type=positive_float, default=500.0, metavar="N",
                   help="server capacity Ω, in no-split requests served at once on average (default 500)")
    rate = g.add_mutually_exclusive_group()
    rate.add_argument("--load", type=positive_float, default=1.05, metavar="RHO",
                      help="offered load ρ: no-split work offered per second / capacity (default 1.05)")
    rate.add_argument("--rate", type=positive_float, default=None, metavar="LAMBDA",
                      help="arrival rate λ, requests per second (default: from --load)")
    rate.add_argument("--beta", type=positive_float, default=None, metavar="S",
                      help="the paper's β: mean inter-arrival time in seconds (λ = 1/β; default: from --load)")
    g.add_argument("--seed", type=seed_int, default=0, metavar="K",
                   help="random seed, integer >= 0; same seed, same result (default 0)")
    g.add_argument("--service", choices=("deadline", "latency"), default="deadline",
                   help="time a request holds the server per execution: its cell's deadline (the paper) "
                        "or its policy's latency (default deadline)")
    g.add_argument("--max-repeats", type=positive_int, default=10, metavar="R",
                   help="each request runs its model r times, r uniform in 1..R (default 10)")
    add_grid_args(p)
    add_output_args(p)
    p.set_defaults(func=run_simulate)


def _s(v: float) -> str:
    return "0" if v == 0 else f"{v:.0e}" if v < 0.01 else f"{v:.3g}"


def stats_table(res):
    from rich import box
    from rich.table import Table

    offered = " · ".join(f"{m} {100 * s.offered_load:.0f}%" for m, s in res.stats.items())
    t = Table(title=f"{res.config.requests:,} requests · {res.cells} cells · λ {res.rate_per_s:.4g}/s "
                    f"(β {res.beta_s:.4g} s) · Ω = {res.config.concurrency:g} no-split requests · "
                    f"horizon {res.horizon_s:,.1f} s · seed {res.config.seed} · offered load: {offered}",
              title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
              caption="waits in s; util.: capacity used within the horizon; served: done by the last arrival",
              caption_justify="left")
    for col in ("method", "served", "mean", "p50", "p95", "p99", "max", "util.", "req/s"):
        t.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for s in res.stats.values():
        waits = (s.mean_wait_s, s.p50_wait_s, s.p95_wait_s, s.p99_wait_s, s.max_wait_s)
        t.add_row(s.method, f"{s.served:,}", *(_s(v) for v in waits), f"{100 * s.utilisation:.1f}%",
                  f"{s.throughput_per_s:.4g}")
    return t


def run_simulate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..report.charts import print_charts, wait_chart
    from ..report.documents import simulation_document
    from ..report.writers import check_paths, write_csv_atomic, write_json
    from ..sim import SimConfig, simulate
    from ..sweep import sim_cells
    from .sweep import config_from_args, load_models, run_sweeps

    profiles = load_models(args, "all")
    check_paths((args.csv, args.json), force=args.force)
    cfg = SimConfig(requests=args.requests, concurrency=args.concurrency, load=args.load, rate=args.rate,
                    beta=args.beta, seed=args.seed, service=args.service, max_repeats=args.max_repeats)
    sweeps = run_sweeps(profiles, config_from_args(args, exact=False), label="workload")
    cells = sim_cells(sweeps)
    cols = (TextColumn("simulate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulate", total=cfg.requests * len(cfg.methods))
        res = simulate(cells, cfg, progress=lambda d, n: bar.update(task, completed=d, total=n))
    console = Console()
    if not args.no_charts:
        print_charts(console, [wait_chart(res)], log_y=True)
    console.print(stats_table(res))
    print(f"models: {', '.join(p.model for p in profiles)}; simulated in {res.elapsed_s:.2f} s", file=sys.stderr)
    if args.csv:
        path = write_csv_atomic(args.csv, [s.row() for s in res.stats.values()], force=args.force)
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        path = write_json(args.json, simulation_document(res, [p.model for p in profiles]), force=args.force)
        print(f"wrote {path}", file=sys.stderr)
    return 0
