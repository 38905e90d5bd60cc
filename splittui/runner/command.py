"""The `splittui run` handler: one policy run for real, measured beside predicted (and the experiments)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from ..errors import SplittuiError
from ..model import Profile, Scenario
from .chains import ChainSpec
from .experiment import Case, Row, measure_rows, rows_json
from .predict import NAMED_POLICIES, choose_policy, in_chain_profile, measured_profile, profile_path
from .session import Session, default_server_threads

__all__ = ["run_command", "auto_deadline", "auto_scenario", "scenario_for", "policy_for", "stderr_console", "in_chain",
           "load_measured"]

DEFAULT_SEQ = 512


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the session still stops its two children."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def run_command(args: argparse.Namespace) -> int:
    _exit_on_sigterm()
    if args.start != "client" or args.end != "client":
        raise SplittuiError("splittui run: only --start client --end client are supported (the input is "
                            "made on the client and the answer checked there)")
    if args.figure or args.fidelity:
        from .figure import experiment_command

        return experiment_command(args)
    spec = ChainSpec(args.model, args.tiny, args.seed)
    threads = args.server_threads or default_server_threads()
    seq = args.seq or DEFAULT_SEQ
    isolated = load_measured(spec, seq, threads, args)
    with Session(spec, server_threads=threads, host=args.host, port=args.port,
                 max_bytes=int(args.max_frame_mb * 2**20)) as session:
        profile = in_chain(session, isolated, seq)
        sc = scenario_for(args, profile, seq)
        label, policy = policy_for(args, profile, sc)
        stderr_console().print(f"[dim]running {label}: 1 warm-up + {args.repeats} timed requests...[/]")
        row = measure_rows(session, [Case(label, profile, sc, policy, isolated)], args.repeats)[0]
    if args.json:
        json.dump(rows_json([row]), sys.stdout, indent=1)
        print()
    else:
        print_run(row, threads, args.host, profile_path(spec.model, seq, threads, tiny=spec.tiny))
    return 0 if row.match else 1


def in_chain(session: Session, isolated: Profile, seq: int, passes: int = 3) -> Profile:
    """The prediction profile: the isolated one with in-order stage times from the live processes."""
    stderr_console().print(f"[dim]timing every stage in order in the client and server processes "
                           f"(seq {seq}, {passes} passes)...[/]")
    client_ms, server_ms = session.stage_times(seq, passes)
    return in_chain_profile(isolated, client_ms, server_ms)


def load_measured(spec: ChainSpec, seq: int, threads: int, args) -> Profile:
    console = stderr_console()
    path = profile_path(spec.model, seq, threads, tiny=spec.tiny)
    if not path.exists() or args.reprofile:
        console.print(f"[dim]profiling {spec.model} at seq {seq} (client 1 thread, server cpu:{threads}) "
                      f"for the prediction; cached at {path}[/]")
    profile, path, cached = measured_profile(spec, seq, threads, repeats=args.profile_repeats,
                                             refresh=args.reprofile)
    if cached:
        console.print(f"[dim]prediction profile: {path} (cached; --reprofile to measure again)[/]")
    return profile


def auto_deadline(profile: Profile, sc: Scenario) -> float:
    """Halfway between the least latency every solver can reach and all-client, so the solvers have
    a real choice; 1.1 × that least latency when all-client is (nearly) as fast.

    "Every solver": the greedy only ever reaches no-split or a prefix starting with layer 1 on the
    client, so the low end is the later of the fastest placement and the faster of those two.
    """
    from ..costs import costs_for, min_latency
    from ..solvers.baselines import prefix_latencies

    c = costs_for(profile, sc)
    prefix = prefix_latencies(c)
    lo, all_client = max(min_latency(c), min(prefix[0], prefix[1])), prefix[-1]
    if all_client > 1.05 * lo:
        return float(lo + 0.5 * (all_client - lo))
    return float(1.1 * lo)


def scenario_for(args, profile: Profile, seq: int, *, up: float | None = None) -> Scenario:
    up = up if up is not None else args.up_mbps
    down = args.down_mbps if args.down_mbps is not None else up
    sc = Scenario(deadline_ms=args.deadline_ms or 1e6, up_mbps=up, down_mbps=down, delay_ms=args.delay_ms,
                  seq_len=seq, unit_ms=args.unit_ms, objective=args.objective, rounding=args.rounding)
    return sc if args.deadline_ms else auto_scenario(profile, sc)


def auto_scenario(profile: Profile, sc: Scenario) -> Scenario:
    """``sc`` with the automatic deadline, and a DP time unit T small enough for it: the DP (ceil
    rounding) may lose up to (2L+2)·T of the deadline, so that loss must fit in the slack above the
    fastest placement, or the DP could call a feasible deadline infeasible."""
    from ..costs import costs_for, min_latency

    deadline = auto_deadline(profile, sc)
    slack = deadline - min_latency(costs_for(profile, sc))
    return sc.replace(deadline_ms=deadline, unit_ms=min(sc.unit_ms, slack / (2 * profile.n_layers + 2)))


def policy_for(args, profile: Profile, sc: Scenario, solver: str | None = None) -> tuple[str, tuple[int, ...]]:
    if getattr(args, "policy", None):
        from ..policy import load_policy

        doc = load_policy(args.policy)
        if len(doc["policy"]) != profile.n_layers:
            raise SplittuiError(f"{args.policy}: policy has {len(doc['policy'])} entries, {profile.model} has "
                                f"{profile.n_layers} stages")
        names = [p.get("name") for p in doc.get("placement") or [] if isinstance(p, dict)]
        if names and names != [layer.name for layer in profile.layers]:
            raise SplittuiError(f"{args.policy}: its layer names do not match {profile.model}'s stages "
                                f"(made for another model or profiler version?)")
        return f"{doc.get('solver', 'file')} (from file)", tuple(int(v) for v in doc["policy"])
    solver = solver or args.solver
    if solver in ("no-split", "all-client"):
        return solver, tuple([int(solver == "all-client")] * profile.n_layers)
    policy, _ = choose_policy(profile, sc, solver)
    return solver, tuple(policy)


def _where(profile: Profile, policy) -> str:
    on_server = [layer for layer, x in zip(profile.layers, policy) if x == 0]
    if not on_server:
        return "everything on the client"
    if len(on_server) == profile.n_layers:
        return "everything on the server"
    kinds = sorted({layer.kind for layer in on_server})
    return f"{len(on_server)} of {profile.n_layers} stages on the server ({', '.join(kinds)})"


def print_run(row: Row, threads: int, host: str, path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    sc, p, m = row.case.scenario, row.prediction, row.measured
    res, bd = p.result, p.result.breakdown
    console.print(f"[bold]{row.case.profile.model}[/], seq {sc.seq_len} · up {sc.up_mbps:g} / down "
                  f"{sc.down_mbps:g} Mbit/s, delay {sc.delay_ms:g} ms · client 1 thread, server {threads} "
                  f"thread{'s' * (threads > 1)} on {host}")
    fixed = row.case.label in NAMED_POLICIES or row.case.label.endswith("(from file)")
    label = row.case.label if fixed else f"{row.case.label} (deadline {sc.deadline_ms:.1f} ms)"
    console.print(f"policy {label}: {_where(row.case.profile, row.case.policy)}; {p.transfers} transfers, "
                  f"server share {res.server_share:.1%}")
    t = Table(show_header=True, header_style="bold")
    for col in ("", "predicted ms", "measured ms", "error"):
        t.add_column(col, justify="right" if col else "left")
    parts = [("client compute", bd.client_ms, m["client_ms"]), ("server compute", bd.server_ms, m["server_ms"]),
             ("upload", bd.upload_ms, m["upload_ms"]), ("download", bd.download_ms, m["download_ms"])]
    if p.transfers:
        parts.append(("transfer overhead", p.overhead_ms * p.transfers, None))
    for name, pred, meas in parts:
        t.add_row(name, f"{pred:.1f}", "" if meas is None else f"{meas:.1f}", "")
    err = row.error_pct
    t.add_row("[bold]end to end[/]", f"[bold]{p.latency_ms:.1f}[/]", f"[bold]{m['total_ms']:.1f}[/]",
              f"[{'green' if abs(err) <= 10 else 'red'}]{err:+.1f} %[/]")
    console.print(t)
    console.print(f"measured: median of {row.repeats} requests after 1 warm-up; parts are medians each. "
                  f"predicted: splittui.evaluate on stage times measured in order in these two processes, "
                  f"plus {p.overhead_ms:.2f} ms per transfer calibrated on the live link.")
    if row.isolated is not None:
        console.print(f"from the profiler's isolated stage medians alone: {row.isolated.latency_ms:.1f} ms "
                      f"({row.isolated_error_pct:+.1f} %)")
    verdict = "[green]yes[/]" if row.match else "[red]NO[/]"
    console.print(f"output == unsplit forward (allclose): {verdict}, every run (max |diff| {row.max_abs_diff:.2g})")
    console.print(f"[dim]prediction profile: {path}[/]")
