"""`splittui simulate`: the paper's throughput experiment (Figs. 12-13) on a sweep's cells."""

from __future__ import annotations

import argparse
import sys

from .common import add_attention_arg, add_profile_args, nonneg_int, positive_float, positive_int
from .llm_args import add_llm_args
from .sweep import add_grid_args, add_output_args, bounded, model_help

MAX_REQUESTS = 10_000_000   # ~2 GiB of event arrays and ~25 s here; 10^6 takes ~3 s

__all__ = ["add_parser", "stats_table", "limits_table", "token_dist", "plan_tokens"]

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

output lengths (SPEC §8): --gen-tokens-dist draws each request's output length N (fixed:N,
geometric:MEAN on 1,2,.., uniform:A-B). Placements are planned once per cell for --gen-tokens
(default: the distribution's mean, rounded), since a request's length is unknown when it is placed;
each request then runs its own N under that placement (N is capped at the longest context the
profile covers; the count capped is shown). Service time under --service deadline: the deadline
stretched by latency(N) / latency(planned N); under --service latency: the latency at N.

memory: --server-mem-gb M gives the server M x 1e9 bytes. A request holds the KV cache of its
server-side attention layers at s+N tokens for its whole service time; the weights of the layers a
method's placements ever run on the server are loaded once and reserved (--weights shared, the
default), or held by every request (--weights per-request: SPEC §8's server_mem per request). A
request starts when enough FLOP capacity and memory are both free. Both limits are shown, as the
mean number of requests each resource holds at once; the smaller one binds.

examples:
  splittui simulate
  splittui simulate --model gpt2-like --requests 1000000 --seed 7
  splittui simulate --beta 0.01 --out sim.json --csv sim.csv
  splittui simulate --requests 10000 --json | jq .methods.dp
  splittui simulate --model gpt2-like --gen-tokens-dist geometric:64 --server-mem-gb 20"""


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="the paper's throughput experiment (Figs. 12-13): queueing under each method",
                       description="Simulate a Poisson stream of requests on a server of fixed capacity\n"
                                   "under dp, greedy and no-split placements; report waits, utilisation,\n"
                                   "throughput and the cumulative wait over time (Figs. 12-13).",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_llm_args(p)
    model_help(p, "gpt2-like")
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
    g.add_argument("--seed", type=nonneg_int, default=0, metavar="K",
                   help="random seed, integer >= 0; same seed, same result (default 0)")
    g.add_argument("--service", choices=("deadline", "latency"), default="deadline",
                   help="time a request holds the server per execution: its cell's deadline (the paper) "
                        "or its policy's latency (default deadline)")
    g.add_argument("--max-repeats", type=positive_int, default=10, metavar="R",
                   help="each request runs its model r times, r uniform in 1..R (default 10)")
    g.add_argument("--gen-tokens-dist", type=token_dist, default=None, metavar="DIST",
                   help="each request's output length: fixed:N, geometric:MEAN or uniform:A-B "
                        "(default: every request decodes --gen-tokens)")
    g.add_argument("--server-mem-gb", type=positive_float, default=None, metavar="GB",
                   help="server memory (1e9 bytes) for weights and KV caches; also caps concurrency "
                        "(default: not limited)")
    g.add_argument("--weights", choices=("shared", "per-request"), default="shared",
                   help="server weights loaded once and reserved (shared) or held by each request "
                        "(default shared)")
    add_grid_args(p)
    add_attention_arg(p)
    add_output_args(p, "the simulation (splittui.simulation/1)")
    p.set_defaults(func=run_simulate, gen_tokens=None)


def token_dist(text: str):
    """argparse type for --gen-tokens-dist (the message names the flag and the forms)."""
    from ..errors import SplittuiError
    from ..sim import parse_token_dist

    try:
        return parse_token_dist(text)
    except SplittuiError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--gen-tokens-dist ")) from None


def plan_tokens(args: argparse.Namespace) -> int:
    """--gen-tokens if given, else the distribution's mean rounded, else 0."""
    if args.gen_tokens is not None:
        return args.gen_tokens
    return 0 if args.gen_tokens_dist is None else int(round(args.gen_tokens_dist.mean))


def _decodes(dist) -> bool:
    return dist is not None and not (dist.kind == "fixed" and dist.a == 0)


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


def limits_table(res):
    """Server memory against FLOPs per method: what a request holds, both limits, which binds."""
    from rich import box
    from rich.table import Table

    t = Table(title=f"requests at once: FLOPs (Ω) and server memory ({res.server_mem_bytes / 1e9:g} GB, weights "
                    f"{res.config.weights})", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
              caption="FLOPs, memory: mean requests each resource holds at once; binds: the smaller; "
                      "weights: GB reserved (shared); mem used: within the horizon", caption_justify="left")
    for col in ("method", "GB/req", "weights", "mem used", "FLOPs", "memory", "binds"):
        t.add_column(col, justify="left" if col in ("method", "binds") else "right", no_wrap=True)
    for s in res.stats.values():
        t.add_row(s.method, f"{s.mean_mem_bytes / 1e9:.3g}", f"{s.resident_bytes / 1e9:.3g}",
                  f"{100 * s.mem_utilisation:.1f}%", _n(s.flops_limit), _n(s.mem_limit), s.binding)
    return t


def _n(v: float) -> str:
    return "∞" if v == float("inf") else f"{v:,.0f}"


def _lengths_line(res) -> str:
    """Output lengths and memory in words (empty for the paper's prefill-only stream)."""
    cfg, parts = res.config, []
    if cfg.tokens is not None:
        parts.append(f"output tokens {cfg.tokens.text} (mean drawn {res.mean_tokens:.4g}, "
                     f"{res.capped:,} capped to the profile's longest context), planned for {res.plan_tokens}")
    elif res.plan_tokens:
        parts.append(f"output tokens {res.plan_tokens} each")
    return "; ".join(parts)


def run_simulate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..errors import SplittuiError
    from ..report.documents import simulation_document
    from ..report.writers import write_csv_atomic
    from ..sim import SimConfig, simulate
    from ..sweep_sim import sim_cells
    from .output import check_out, emit
    from .sweep import config_from_args, load_models, run_sweeps

    profiles = load_models(args, "gpt2-like")
    check_out(args, args.csv)
    cfg = SimConfig(requests=args.requests, concurrency=args.concurrency, load=args.load, rate=args.rate,
                    beta=args.beta, seed=args.seed, service=args.service, max_repeats=args.max_repeats,
                    tokens=args.gen_tokens_dist, server_mem_gb=args.server_mem_gb, weights=args.weights)
    args.gen_tokens = plan_tokens(args)
    sweeps = run_sweeps(profiles, config_from_args(args, exact=False), label="workload")
    dist = args.gen_tokens_dist
    need = dist is not None or args.server_mem_gb is not None
    for prof in profiles:
        if args.server_mem_gb is not None and not prof.has_server_mem:
            raise SplittuiError(f"--server-mem-gb: {prof.model} lacks weight_bytes and kv_bytes per layer (SPEC §8)")
    cells = sim_cells(sweeps, profiles=profiles if need else None, decode=_decodes(dist))
    cols = (TextColumn("simulate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulate", total=cfg.requests * len(cfg.methods))
        res = simulate(cells, cfg, progress=lambda d, n: bar.update(task, completed=d, total=n))
    print(f"models: {', '.join(p.model for p in profiles)}; simulated in {res.elapsed_s:.2f} s", file=sys.stderr)
    if args.csv:
        path = write_csv_atomic(args.csv, [s.row() for s in res.stats.values()], force=args.force)
        print(f"wrote {path}", file=sys.stderr)
    emit(args, simulation_document(res, [p.model for p in profiles], workload=sweeps[0].config, profiles=profiles),
         lambda: _print_simulation(args, res))
    return 0


def _print_simulation(args: argparse.Namespace, res) -> None:
    from rich.console import Console

    from ..report.charts import print_charts, wait_chart
    from ..report.tables import print_table

    console = Console()
    if not args.no_charts:
        print_charts(console, [wait_chart(res)], log_y=True)
    print_table(console, stats_table(res))
    if res.server_mem_bytes is not None:
        print_table(console, limits_table(res))
    if _lengths_line(res):
        console.print(_lengths_line(res))
