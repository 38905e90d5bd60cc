"""The `splittui run` handler for one policy: plan, run over the link, print predicted beside measured.

Order matters: the planning profile is loaded (or measured by a separate `splittui profile`
process) and the policy chosen on it *before* the client and server processes start, so nothing
from the run can reach the prediction. ``--figure`` and ``--fidelity`` live in experiments.py, which
uses the helpers here (this module never imports it).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from ..errors import SplittuiError
from .chains import ChainSpec
from .experiment import Case, Row, load_note, measure_rows, run_document, speed_note
from .kernel_link import open_link
from .planning import Planning, planning_profile, policy_for, scenario_for
from .predict import NAMED_POLICIES
from .session import Session, default_server_threads

__all__ = ["run_command", "stderr_console", "exit_on_sigterm", "live_session", "check_ends"]

DEFAULT_SEQ = 512


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the session still stops its two children and removes the link."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def live_session(spec: ChainSpec, link, threads: int, args) -> Session:
    kernel = link if link.kind == "kernel" else None
    return Session(spec, server_threads=threads, host=args.host, port=args.port,
                   max_bytes=int(args.max_frame_mb * 2**20), kernel_link=kernel)


def check_ends(args: argparse.Namespace) -> None:
    if args.start != "client" or args.end != "client":
        raise SplittuiError("splittui run: only --start client --end client are supported (the input is "
                            "made on the client and the answer checked there)")


def planned_run(args: argparse.Namespace, *, forks: bool = True):
    """What a single-request run (two-sided or over tiers) starts from: the chain, the server's threads,
    the prompt length, a console on stderr and the planning profile (measured now or cached); `forks` as
    `planning_profile`'s (False over tiers: their processes are spawned)."""
    spec = ChainSpec(args.model, args.tiny, args.seed, attention=args.attention)
    threads = args.server_threads or default_server_threads()
    seq = args.seq or DEFAULT_SEQ
    spec.check_seqs([seq])
    console = stderr_console()
    plan = planning_profile(spec, [seq], threads, given=args.profile, repeats=args.profile_repeats,
                            refresh=args.reprofile, say=lambda m: console.print(f"[dim]{m}[/]", soft_wrap=True),
                            forks=forks)
    return spec, threads, seq, console, plan


def run_command(args: argparse.Namespace) -> int:
    exit_on_sigterm()
    check_ends(args)
    spec, threads, seq, console, plan = planned_run(args)
    sc = scenario_for(args, plan.profile, seq)
    label, policy = policy_for(args, plan.profile, sc)
    with open_link(args.link) as link, live_session(spec, link, threads, args) as session:
        _check_stages(plan, session)
        console.print(f"[dim]link: {link.kind}; running {label}: 1 warm-up + {args.repeats} timed requests...[/]")
        meter = _rapl_start()
        row = measure_rows(session, [Case(label, plan.profile, sc, policy)], args.repeats, shape=link.shape)[0]
        energy = _energy_doc(row, meter, args.repeats + 1)
        detail = link.describe()
        built = session.memory
    from .memory_report import memory_doc

    memory = memory_doc(plan.profile, sc, policy, built, row.peaks or {})
    doc = run_document([row], link=link.kind, link_detail=detail, plans=[plan], server_threads=threads,
                       extra={"memory": memory, "energy": energy})
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        print_run(row, doc, plan)
        from .memory_report import print_memory

        print_memory(_console(), memory)
        _console().print(energy["note"], soft_wrap=True)
    return 0 if row.match else 1


def _rapl_start():
    """RAPL zones, their counters and the clock now; None where package energy is not readable here."""
    import time

    from .energy_meter import rapl_status, rapl_zones, read_uj

    ok, _ = rapl_status()
    if not ok:
        return None
    zones = rapl_zones()
    return zones, read_uj(zones), time.perf_counter()


def _energy_doc(row: Row, meter, requests: int) -> dict[str, object]:
    """Predicted client joules per request (docs/energy.md) beside RAPL's package joules where readable."""
    from .energy_meter import measure, rapl_status

    predicted = row.planned.result.client_energy_j
    out: dict[str, object] = {"predicted_client_j": predicted, "estimate": True, "measured_package_j": None}
    pred = "—" if predicted is None else f"{predicted:.3g} J"
    if meter is None:
        why = rapl_status()[1]
        out["note"] = (f"energy: predicted client {pred} per request is an estimate (docs/energy.md); not measured: "
                       f"{why}")
        return out
    got = measure(*meter)
    per = got.joules / max(requests, 1)
    out["measured_package_j"] = per
    out["note"] = (f"energy: predicted client {pred} per request (estimate, docs/energy.md); measured CPU package "
                   f"{per:.3g} J per request (RAPL, {requests} requests incl. warm-up: client and server processes "
                   "and anything else on this package, so an upper bound on the client's share)")
    return out

def _console():
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def _check_stages(plan: Planning, session: Session) -> None:
    if session.stages != plan.profile.n_layers:
        raise SplittuiError(f"planning profile {plan.path}: {plan.profile.n_layers} layers, the model has "
                            f"{session.stages} stages (a profile of another model?)")


def _where(row: Row) -> str:
    profile, policy = row.case.planning, row.case.policy
    on_server = [layer for layer, x in zip(profile.layers, policy, strict=True) if x == 0]
    if not on_server:
        return "everything on the client"
    if len(on_server) == profile.n_layers:
        return "everything on the server"
    kinds = sorted({layer.kind for layer in on_server})
    return f"{len(on_server)} of {profile.n_layers} stages on the server ({', '.join(kinds)})"


def print_run(row: Row, doc: dict, plan: Planning) -> None:
    # a report of fixed shape: header, the policy, the parts table, four notes
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    sc, p, m = row.case.scenario, row.planned, row.measured
    bd = p.breakdown
    console.print(f"[bold]{row.case.planning.model}[/], seq {sc.seq_len} · up {sc.up_mbps:g} / down "
                  f"{sc.down_mbps:g} Mbit/s, delay {sc.delay_ms:g} ms")
    console.print(f"client {doc['client']} · server {doc['server']}")
    console.print(f"link: {doc['link_detail']}")
    fixed = row.case.label in NAMED_POLICIES or row.case.label.endswith("(from file)")
    label = row.case.label if fixed else f"{row.case.label} (deadline {sc.deadline_ms:.1f} ms)"
    console.print(f"policy {label}: {_where(row)}; {p.transfers} transfers, server share {p.result.server_share:.1%}")
    t = Table(show_header=True, header_style="bold")
    for col in ("", "predicted ms", "measured ms", "error"):
        t.add_column(col, justify="right" if col else "left")
    parts = [("client compute", bd.client_ms, m["client_ms"]), ("server compute", bd.server_ms, m["server_ms"]),
             ("upload", bd.upload_ms, m["upload_ms"]), ("download", bd.download_ms, m["download_ms"])]
    if p.transfers:
        parts.append(("transfer overhead (profiled)", p.overhead_ms * p.transfers, None))
    for name, pred, meas in parts:
        t.add_row(name, f"{pred:.1f}", "" if meas is None else f"{meas:.1f}", "")
    err = row.error_pct
    t.add_row("[bold]end to end[/]", f"[bold]{p.latency_ms:.1f}[/]", f"[bold]{m['total_ms']:.1f}[/]",
              f"[{'green' if abs(err) <= 10 else 'red'}]{err:+.1f} %[/]")
    console.print(t)
    console.print(f"predicted: the planning profile {plan.path} (sha256 {plan.sha256[:16]}…; "
                  f"{doc['provenance']}), measured before this run; measured: median of {row.repeats} requests "
                  f"after 1 warm-up.")
    if row.composition is not None:
        console.print(f"composition check (stage times re-measured in this run, not a prediction): "
                      f"{row.composition.latency_ms:.1f} ms ({row.composition_error_pct:+.1f} %)")
    console.print(load_note([plan.profile], [row.other_cpu_cores]))
    if speed := speed_note([row]):
        console.print(speed)
    verdict = "[green]yes[/]" if row.match else "[red]NO[/]"
    console.print(f"output == unsplit forward (allclose): {verdict}, every run (max |diff| {row.max_abs_diff:.2g})")
