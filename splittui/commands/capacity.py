"""`splittui capacity`: how many clients one server holds under TTFT/TPOT percentile targets (issue 27).

Compares (a) all on server, (b) the paper's greedy, (c) exact per class under per-request limits and
(d) a joint choice of canonical cuts, each by a capacity search over a discrete-event simulation of the
batched server (docs/capacity.md).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from .common import add_generation_args, add_profile_args, add_scenario_args, nonneg_int, positive_float, positive_int
from .llm_args import add_llm_args

__all__ = ["add_parser", "parse_clients", "capacity_table"]

_EPILOG = """model (docs/capacity.md): the server holds the weights of every layer any class sends it once, and
each admitted request's KV cache for its server layers (s + N - 1 tokens, reserved whole); decode steps of
all requests whose server ranges share a layer are batched (weights read once, FLOPs and KV reads per
request, the server device's roofline); prefills run one at a time (--prefill prefill-first: decoding
stalls; chunked: --chunk-tokens ride beside each decode iteration).

search: Poisson arrivals at a rate; a rate is met when every seed's run (--requests arrivals, the first
10 % left out) drops nothing and meets every target; the rate doubles while met, then bisects until
the bracket is within --tol of its lower end. 'clients' is the time-average number of requests in the
server at that rate (Little's law).

examples:
  splittui capacity --model llama-3.1-8b --client-device jetson-orin --server-device a100-80gb \\
      --up-mbps 20 --down-mbps 100 --seq 1024 --gen-tokens 256 --ttft-p90-ms 1000 --tpot-p99-ms 50
  splittui capacity --model llama-3.1-8b --clients jetson-orin:0.5,phone-soc@10/50:0.5 --gen-tokens 128 \\
      --ttft-p90-ms 2000 --tpot-p99-ms 80 --prefill chunked --json
  splittui capacity --model llama-3.1-8b --target p50:e2e:20000 --target p99:ttft:3000 --out cap.json"""


def add_parser(sub) -> None:
    from ..sim.capacity import PREFILL_POLICIES
    from ..sim.strategies import STRATEGIES
    from .output import add_output_flags

    p = sub.add_parser("capacity", help="how many clients one server holds under TTFT/TPOT percentile targets",
                       description="Largest arrival rate (and clients at once) one server sustains under\n"
                                   "percentile targets, for each placement strategy (issue 27).",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_llm_args(p)
    add_scenario_args(p)
    add_generation_args(p, limits=False)
    g = p.add_argument_group("targets and clients")
    g.add_argument("--ttft-p90-ms", type=positive_float, default=None, metavar="MS", help="P90 TTFT target, ms")
    g.add_argument("--tpot-p99-ms", type=positive_float, default=None, metavar="MS", help="P99 TPOT target, ms")
    g.add_argument("--target", action="append", default=[], metavar="pXX:METRIC:MS",
                   help="further target, METRIC ttft|tpot|e2e, e.g. p50:e2e:20000 (repeatable)")
    g.add_argument("--clients", metavar="MIX",
                   help="client classes: DEVICE[@UP/DOWN][:WEIGHT], comma separated, e.g. "
                        "jetson-orin:0.7,phone-soc@10/50:0.3 (links in Mbit/s; default: one class, "
                        "--client-device on --up-mbps/--down-mbps)")
    g.add_argument("--strategies", default=",".join(STRATEGIES), metavar="LIST",
                   help=f"comma separated, from {','.join(STRATEGIES)} (default all)")
    s = p.add_argument_group("server and search")
    s.add_argument("--prefill", choices=PREFILL_POLICIES, default="prefill-first",
                   help="prefill scheduling (default %(default)s)")
    s.add_argument("--chunk-tokens", type=positive_int, default=512, metavar="N",
                   help="prompt tokens per chunk with --prefill chunked (default %(default)s)")
    s.add_argument("--decode-phase", choices=("aligned", "random"), default="aligned",
                   help="aligned: the server starts a decode iteration as the requests due return from their "
                        "clients; random: they return at random phases and wait out half an iteration the others "
                        "keep busy (default %(default)s)")
    s.add_argument("--max-batch", type=nonneg_int, default=0, metavar="N",
                   help="requests in the server at once, 0 = no cap but memory (default 0)")
    s.add_argument("--trace", metavar="FILE",
                   help="replay a trace instead of searching: rows 'arrival_s, prompt, output' (comma or space "
                        "separated, '#' comments); each strategy's placements serve it, and the table shows its "
                        "percentiles against the targets")
    s.add_argument("--requests", type=positive_int, default=1500, metavar="N",
                   help="arrivals simulated per rate and seed (default %(default)s)")
    s.add_argument("--seeds", default="0", metavar="LIST",
                   help="comma separated seeds; a rate must pass all (default 0)")
    s.add_argument("--tol", type=positive_float, default=0.03, metavar="F",
                   help="bisection stops when (missed - met) / met <= F (default %(default)s)")
    add_output_flags(p, "the capacity document (splittui.capacity/1)")
    p.set_defaults(func=run_capacity)


def parse_clients(text: str, default_up: float, default_down: float) -> list[tuple[str, float, float, float]]:
    """``jetson-orin@20/100:0.7,phone-soc:0.3`` → [(device, weight, up, down), ...]."""
    from ..errors import SplittuiError

    out = []
    for part in (t.strip() for t in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        name, _, link = name.partition("@")
        try:
            w = float(weight) if weight else 1.0
            up, _, down = link.partition("/")
            u = float(up) if up else default_up
            d = float(down) if down else (u if up else default_down)
        except ValueError:
            raise SplittuiError(f"--clients {part!r}: want DEVICE[@UP/DOWN][:WEIGHT], "
                                "e.g. jetson-orin@20/100:0.5") from None
        if not (w > 0 and u > 0 and d > 0 and all(map(math.isfinite, (w, u, d)))):
            raise SplittuiError(f"--clients {part!r}: weight and bandwidths must be finite numbers > 0")
        out.append((name.strip(), w, u, d))
    if not out:
        raise SplittuiError("--clients: no class given")
    return out


def _targets(args: argparse.Namespace) -> tuple:
    from ..errors import SplittuiError
    from ..sim.search import Target, parse_target

    out = [Target("ttft", 90, args.ttft_p90_ms)] if args.ttft_p90_ms else []
    out += [Target("tpot", 99, args.tpot_p99_ms)] if args.tpot_p99_ms else []
    out += [parse_target(t) for t in args.target]
    if not out:
        raise SplittuiError("capacity: give a target (--ttft-p90-ms, --tpot-p99-ms or --target pXX:METRIC:MS)")
    if any(t.metric == "tpot" for t in out) and (args.gen_tokens or 0) < 2:
        raise SplittuiError("capacity: a TPOT target needs --gen-tokens >= 2 (TPOT is the mean decode step)")
    return tuple(out)


def _specs(args: argparse.Namespace) -> tuple[list, Any]:
    """One ClassSpec per client class (its profile timed on its device) and the server device."""
    from ..devices import DEFAULT_CLIENT, DEFAULT_SERVER, resolve_device
    from ..errors import SplittuiError
    from ..sim.strategies import ClassSpec
    from .common import scenario_from_args
    from .llm_args import _user_devices, profile_from_llm_args

    seq = args.seq or 512
    extra = [seq, seq + max(args.gen_tokens - 1, 0)]
    down = args.down_mbps or args.up_mbps
    mix = parse_clients(args.clients, args.up_mbps, down) if args.clients else \
        [(args.client_device or DEFAULT_CLIENT, 1.0, args.up_mbps, down)]
    specs = []
    for name, w, up, dn in mix:
        ns = argparse.Namespace(**{**vars(args), "client_device": name})
        prof = profile_from_llm_args(ns, "llama-3.1-8b", include_seq=extra)
        sc = scenario_from_args(ns, prof).replace(up_mbps=up, down_mbps=dn)
        label = name if len(mix) == 1 or f"{up:g}/{dn:g}" == f"{args.up_mbps:g}/{down:g}" else f"{name}@{up:g}/{dn:g}"
        specs.append(ClassSpec(label, w, prof, sc))
    if not (specs[0].profile.has_decode and specs[0].profile.has_server_mem):
        raise SplittuiError(f"capacity: {specs[0].profile.model} lacks decode costs or weight/KV bytes; use an LLM "
                            "config (--model llama-3.1-8b, --hf-config PATH)")
    server = args.server_device or specs[0].profile.source.get("server_device") or DEFAULT_SERVER
    return specs, resolve_device(server, user=_user_devices(args), flag="--server-device")


def _options(args: argparse.Namespace):
    from ..errors import SplittuiError
    from ..sim.capacity import SimOptions
    from ..sim.search import SearchOptions

    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        raise SplittuiError(f"--seeds {args.seeds!r}: want comma separated integers") from None
    return SearchOptions(requests=max(args.requests, 10), seeds=seeds, rel_tol=min(args.tol, 0.99),
                         sim=SimOptions(prefill=args.prefill, chunk_tokens=args.chunk_tokens, max_batch=args.max_batch,
                                        phase=args.decode_phase))


def run_capacity(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..errors import SplittuiError
    from ..sim.strategies import STRATEGIES, compare
    from .output import check_out, emit

    if args.trace:
        return run_trace(args)
    chosen = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    bad = [s for s in chosen if s not in STRATEGIES]
    if bad or not chosen:
        raise SplittuiError(f"--strategies: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(STRATEGIES)}")
    targets = _targets(args)
    opt = _options(args)
    check_out(args)
    specs, device = _specs(args)
    _note(specs)
    t0 = time.perf_counter()
    cols = (TextColumn("{task.description}"), BarColumn(), TextColumn("probe {task.completed:.0f}"),
            TimeElapsedColumn())
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("capacity", total=len(chosen) * 14)
        count = [0]

        def tick(name: str, i: int, n: int) -> None:
            count[0] += 1
            bar.update(task, description=f"capacity {name}", completed=count[0])

        res = compare(specs, device, targets, opt, strategies=chosen, mem_gb=getattr(args, "server_mem_gb", None),
                      progress=tick)
    elapsed = time.perf_counter() - t0
    print(f"capacity: {len(res)} strategies, {count[0]} simulated rates ({opt.requests} requests x "
          f"{len(opt.seeds)} seed(s) each, fewer for (d)'s candidates) in {elapsed:.1f} s", file=sys.stderr)
    doc = capacity_document(specs, device, targets, opt, res, args)
    emit(args, doc, lambda: _print(specs, device, targets, opt, res), what="the capacity document")
    return 0


def _note(specs) -> None:
    from .llm_args import estimate_note

    for note in dict.fromkeys(estimate_note(s.profile) for s in specs):
        if note:
            print(f"splittui: note: {note}", file=sys.stderr)


def run_trace(args: argparse.Namespace) -> int:
    """--trace FILE: each strategy's placements (joint: as (c)) serve the trace; percentiles vs targets."""
    from pathlib import Path

    from ..errors import SplittuiError
    from ..sim.capacity import parse_trace, simulate_server, trace_workload
    from ..sim.server import client_class, server_model
    from ..sim.strategies import STRATEGIES, class_policy
    from .output import check_out, emit

    targets = _targets(args)
    opt = _options(args)
    check_out(args)
    try:
        rows = parse_trace(Path(args.trace).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SplittuiError(f"--trace {args.trace}: {exc.strerror or exc}") from None
    specs, device = _specs(args)
    _note(specs)
    out: dict[str, Any] = {}
    for s in (x for x in STRATEGIES if x != "joint"):
        pols = [class_policy(c, s, targets)[0] for c in specs]
        classes = [client_class(c.profile, c.scenario, p, name=c.name, weight=c.weight) for c, p in zip(specs, pols)]
        server = server_model(specs[0].profile, specs[0].scenario, device, classes,
                              mem_gb=getattr(args, "server_mem_gb", None))
        run = simulate_server(trace_workload(rows, classes, seed=opt.seeds[0]), classes, server, opt.sim)
        vals = [run.percentile(t.metric, t.q) for t in targets]
        out[s] = {"label": s, "client_layers": [sum(p) for p in pols], "meets": all(v <= t.ms for v, t in
                                                                                    zip(vals, targets)),
                  **{t.key: v for t, v in zip(targets, vals)}, "at_capacity": _run_doc(run)}
    doc = {"schema": "splittui.capacity-trace/1", "trace": args.trace, "requests": len(rows),
           "server_device": device.name, "targets": [t.label for t in targets], "strategies": out}
    emit(args, doc, lambda: _print_trace(doc, targets), what="the trace document")
    return 0


def _print_trace(doc: dict[str, Any], targets) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from ..report.tables import print_table

    t = Table(title=f"trace {doc['trace']} · {doc['requests']} requests · server {doc['server_device']}",
              title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    for col in ("strategy", "client layers", *(x.label for x in targets), "meets", "busy", "peak GB", "dropped"):
        t.add_column(col, justify="left" if col in ("strategy", "client layers", "meets") else "right", no_wrap=True)
    for name, r in doc["strategies"].items():
        run = r["at_capacity"]
        t.add_row(name, " / ".join(map(str, r["client_layers"])), *(f"{r[x.key]:,.1f}" for x in targets),
                  "yes" if r["meets"] else "no", f"{100 * run['utilisation']:.0f}%", f"{run['peak_mem_gb']:,.1f}",
                  f"{run['dropped']:,}")
    print_table(Console(), t)


def capacity_document(specs, device, targets, opt, res, args) -> dict[str, Any]:
    return {
        "schema": "splittui.capacity/1",
        "model": specs[0].profile.model,
        "server_device": device.name,
        "dtype": specs[0].profile.extra.get("dtype"),
        "seq_len": specs[0].scenario.seq_len, "gen_tokens": specs[0].scenario.gen_tokens,
        "classes": [{"name": s.name, "weight": s.weight, "client_device": s.profile.source.get("client_device"),
                     "up_mbps": s.scenario.up_mbps, "down_mbps": s.scenario.down_mbps,
                     "delay_ms": s.scenario.delay_ms} for s in specs],
        "targets": [{"metric": t.metric, "percentile": t.q, "ms": t.ms} for t in targets],
        "search": {"requests": opt.requests, "seeds": list(opt.seeds), "rel_tol": opt.rel_tol, "warmup": opt.warmup,
                   "prefill": opt.sim.prefill, "decode_phase": opt.sim.phase, "chunk_tokens": opt.sim.chunk_tokens,
                   "max_batch": opt.sim.max_batch,
                   "server_mem_gb": getattr(args, "server_mem_gb", None)},
        "strategies": {k: _strategy_doc(r, targets) for k, r in res.items()},
    }


def _strategy_doc(r, targets) -> dict[str, Any]:
    c = r.capacity
    return {"label": r.label, "capacity_req_per_s": c.rate_per_s, "unbounded": c.rate_per_s == math.inf,
            "missed_req_per_s": c.missed_rate_per_s,
            "clients_at_once": c.concurrency, "binding_target": c.binding, "saturated": c.resource,
            "client_layers": list(r.client_layers()), "policies": [list(p) for p in r.policies],
            "unloaded": [{"ttft_ms": a, "tpot_ms": b} for a, b in r.unloaded], "notes": list(r.notes),
            "at_capacity": _run_doc(r.run),
            "probes": [{"rate_per_s": p.rate_per_s, "ok": p.ok, "dropped": p.dropped,
                        **{t.key: v for t, v in zip(targets, p.values)}, "utilisation": p.utilisation,
                        "mean_batch": p.mean_batch, "peak_mem_frac": p.peak_mem_frac,
                        "prefill_share": p.prefill_share, "compute_share": p.compute_share,
                        "clients_at_once": p.in_server} for p in c.probes]}


def _run_doc(run) -> dict[str, Any] | None:
    """A run at the capacity: percentiles, the server's utilisation, batch, memory over time (<= 200 points)."""
    if run is None:
        return None
    step = max(len(run.mem_t_ms) // 200, 1)
    pct = {f"{m}_p{q}_ms": run.percentile(m, q) for m in ("ttft", "tpot", "e2e") for q in (50, 90, 99)}
    return {**pct, "utilisation": run.utilisation, "mean_batch": run.mean_batch,
            "clients_at_once": run.in_server_mean, "peak_mem_gb": run.peak_mem_bytes / 1e9,
            "mem_limit_gb": run.mem_limit_bytes / 1e9, "completed": run.completed, "dropped": run.dropped,
            "memory_over_time": [[t / 1e3, b / 1e9] for t, b in zip(run.mem_t_ms[::step], run.mem_bytes[::step])]}


def _n(v: float, digits: int = 3) -> str:
    return "∞" if v == math.inf else f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"


def capacity_table(specs, device, targets, opt, res):
    from rich import box
    from rich.table import Table

    names = " + ".join(f"{s.name} {s.weight:g}" for s in specs) if len(specs) > 1 else specs[0].name
    sc = specs[0].scenario
    t = Table(title=f"{specs[0].profile.model} · server {device.name} · clients {names} · seq {sc.seq_len} · "
                    f"{sc.gen_tokens} output tokens · targets {', '.join(x.label for x in targets)} · "
                    f"{opt.sim.prefill}", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
              caption=f"req/s: the largest rate met (bisection to {opt.rel_tol:g}, seeds {list(opt.seeds)}, "
                      f"{opt.requests} requests a rate); clients: requests in the server at once at that rate; "
                      "client layers per class; alone: TTFT/TPOT ms of one request alone; at cap: the targets' "
                      "values at the capacity; busy, batch, peak GB: the server in a run at the capacity (busy time, "
                      "decode requests per iteration, weights + KV caches)", caption_justify="left")
    for col in ("strategy", "req/s", "clients", "client layers", "alone ms", "at cap ms", "busy", "batch", "peak GB",
                "binds", "saturates"):
        t.add_column(col, justify="right" if col in ("req/s", "clients", "busy", "batch", "peak GB") else "left",
                     no_wrap=col not in ("binds", "saturates", "strategy"), overflow="fold")
    for r in res.values():
        c = r.capacity
        cap = c.at_capacity
        t.add_row(r.label, _n(c.rate_per_s), _n(c.concurrency, 4), " / ".join(str(k) for k in r.client_layers()),
                  " ; ".join(f"{a:,.0f}/{b:,.1f}" for a, b in r.unloaded),
                  " ; ".join(f"{v:,.1f}" for v in cap.values) if cap is not None else "-",
                  *_server_cells(r.run), c.binding, c.resource)
    return t


def _server_cells(run) -> tuple[str, str, str]:
    if run is None:
        return "-", "-", "-"
    return f"{100 * run.utilisation:.0f}%", f"{run.mean_batch:.3g}", f"{run.peak_mem_bytes / 1e9:,.1f}"


def _print(specs, device, targets, opt, res) -> None:
    from rich.console import Console

    from ..report.tables import print_table

    console = Console()
    print_table(console, capacity_table(specs, device, targets, opt, res))
    best = max(res.values(), key=lambda r: r.capacity.rate_per_s)
    console.print(f"best: {best.label}, {best.capacity.rate_per_s:.3g} req/s, "
                  f"{best.capacity.concurrency:.3g} clients at once")
    for r in res.values():
        for note in r.notes:
            console.print(f"note: {r.label}: {note}")
