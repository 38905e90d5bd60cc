"""Measured beside predicted: one row per (sequence length, link, placement), and their table.

``measure_rows`` runs a list of cases through one live ``Session`` (the chain is built once per
process) and pairs each with two predictions: the *planned* one (the planning profile alone, the
headline) and the *composition check* (the same policy re-predicted from stage times re-measured in
the run's own processes). A (seq, policy, link) measured once is reused by every case that asks for
it again (dp and exact often choose the same policy). ``rows_table`` renders rows with rich,
``rows_json`` gives plain dicts for ``--json``, ``rows_markdown`` the README table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..model import Profile, Scenario
from .predict import Prediction, at_seq, in_chain_profile, planned_overhead_ms, predict
from .session import Session, summarise

__all__ = ["Case", "Row", "measure_rows", "rows_table", "rows_json", "rows_markdown", "error_pct", "TABLE_NOTE",
           "run_document", "cpu_name", "load_average", "load_note", "speed_note", "speed_probe_doc"]


@dataclass(frozen=True, slots=True)
class Case:
    label: str              # solver or placement name
    planning: Profile       # the planning profile: the policy was chosen on it, the headline predicts from it
    scenario: Scenario
    policy: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Row:
    case: Case
    planned: Prediction             # from the planning profile only
    composition: Prediction | None  # from stage times re-measured in this run (a check, not a prediction)
    measured: dict          # medians over the repeats: total_ms, client_ms, server_ms, upload_ms, ...
    repeats: int
    match: bool             # every repeat's output allclose to the unsplit forward
    max_abs_diff: float
    other_cpu_cores: float | None = None  # cores other processes kept busy during the case (profiler/busy.py)
    probe_ms: float | None = None  # the reference workload just before the case (profiler/speed.py)
    peaks: dict | None = None      # client_peak / server_peak: each side's RSS peak over the requests (bytes)

    @property
    def speed_ratio(self) -> float | None:
        """This CPU's speed before the case against the planning profile's: above 1, slower now."""
        from ..profiler.speed import profile_probe_ms, speed_ratio

        return speed_ratio(self.probe_ms, profile_probe_ms(self.case.planning.extra))

    @property
    def error_pct(self) -> float:
        return error_pct(self.planned.latency_ms, self.measured["total_ms"])

    @property
    def composition_error_pct(self) -> float:
        c = self.composition
        return float("nan") if c is None else error_pct(c.latency_ms, self.measured["total_ms"])

    @property
    def transfers(self) -> int:
        return self.planned.transfers


def error_pct(predicted: float, measured: float) -> float:
    """(predicted − measured) / measured, in %: positive means the model is pessimistic."""
    return 100.0 * (predicted - measured) / measured if measured > 0 else float("nan")


def measure_rows(session: Session, cases: list[Case], repeats: int, progress=None, shape=None) -> list[Row]:
    """``shape(up, down)`` sets the kernel link's rates before a case (None: the paced link). The
    reference workload is timed in this process just before each measured case, while the client and
    server processes wait (reported beside the row, never used to predict it)."""
    from ..profiler.speed import probe_ms

    rows, seen = [], {}
    for i, case in enumerate(cases):
        sc = case.scenario
        key = (sc.seq_len, case.policy, sc.up_mbps, sc.down_mbps, sc.delay_ms)
        if key not in seen:
            if progress:
                progress(i, len(cases), case)
            speed = probe_ms()
            seen[key] = {**_measure(session, case, repeats, shape), "probe_ms": speed}
        out = seen[key]
        planned = predict(case.planning, sc, case.policy, planned_overhead_ms(case.planning))
        rows.append(Row(case=case, planned=planned, composition=_composition(case, out),
                        measured=summarise(out["times"]), repeats=repeats, match=out["match"],
                        max_abs_diff=out["max_abs_diff"], other_cpu_cores=out.get("other_cpu_cores"),
                        probe_ms=out["probe_ms"],
                        peaks={k: out.get(k) for k in ("client_peak", "server_peak")}))
    return rows


def _measure(session: Session, case: Case, repeats: int, shape) -> dict:
    sc = case.scenario
    if shape is not None:
        shape(sc.up_mbps, sc.down_mbps)
    kernel = shape is not None  # the kernel shapes the rate; the application only adds the delay
    return session.run_watched({"seq": sc.seq_len, "policy": list(case.policy), "repeats": repeats,
                        "up_mbps": None if kernel else sc.up_mbps, "down_mbps": None if kernel else sc.down_mbps,
                        "delay_ms": sc.delay_ms})


def _composition(case: Case, out: dict) -> Prediction | None:
    """The policy re-predicted from the stage times measured between this case's requests (a side
    the policy never uses keeps the planning profile's times: they do not enter the sum) and the
    transfer overhead calibrated on the live link."""
    one = at_seq(case.planning, case.scenario.seq_len)
    if one is None:
        return None
    client, server = out.get("stage_client_ms"), out.get("stage_server_ms")
    client = client or [layer.client_ms[0] for layer in one.layers]
    server = server or [layer.server_ms[0] for layer in one.layers]
    return predict(in_chain_profile(one, client, server), case.scenario, case.policy, out["overhead_ms"])


def _f(v: float | None, nd: int = 1) -> float | None:
    return None if v is None or v != v else round(float(v), nd)


def rows_json(rows: list[Row]) -> list[dict]:
    out = []
    for r in rows:
        sc, p, res = r.case.scenario, r.planned, r.planned.result
        bd, c = p.breakdown, r.composition
        out.append({
            "solver": r.case.label, "model": r.case.planning.model, "seq_len": sc.seq_len,
            "deadline_ms": _f(sc.deadline_ms), "up_mbps": sc.up_mbps, "down_mbps": sc.down_mbps,
            "delay_ms": sc.delay_ms, "policy": list(r.case.policy), "transfers": p.transfers,
            "server_share": res.server_share,
            "predicted_ms": _f(p.latency_ms, 2), "measured_ms": _f(r.measured["total_ms"], 2),
            "error_pct": _f(r.error_pct, 2),
            "composition_ms": None if c is None else _f(c.latency_ms, 2),
            "composition_error_pct": _f(r.composition_error_pct, 2),
            "overhead_ms_per_transfer": {"planned": p.overhead_ms, "live": None if c is None else c.overhead_ms},
            "predicted_breakdown_ms": {"client": bd.client_ms, "server": bd.server_ms,
                                       "upload": bd.upload_ms, "download": bd.download_ms},
            "measured_breakdown_ms": {k: r.measured[f"{k}_ms"] for k in ("client", "server", "upload", "download")},
            "repeats": r.repeats, "output_matches_unsplit": r.match, "max_abs_diff": r.max_abs_diff,
            "other_cpu_cores": r.other_cpu_cores,
            "probe_ms": _f(r.probe_ms, 3), "speed_vs_plan": _f(r.speed_ratio, 3),
        })
    return out


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or platform.machine()


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_document(rows: list[Row], *, link: str, link_detail: str, plans: list, server_threads: int,
                 extra: dict | None = None) -> dict:
    """The `--json` document: the run's set-up, the planning profile(s) by path and sha256, the rows."""
    from ..provenance import provenance

    cpu = cpu_name()
    by_model = {plan.profile.model: plan for plan in plans}
    out_rows = []
    for r, doc in zip(rows, rows_json(rows), strict=True):
        plan = by_model.get(r.case.planning.model)
        out_rows.append({**doc, "planning_sha256": None if plan is None else plan.sha256})
    return {"schema": "splittui.run/1", "link": link, "link_detail": link_detail,
            "planning_profile": plans[0].to_dict() if len(plans) == 1 else [p.to_dict() for p in plans],
            "provenance": provenance(plans[0].profile) if plans else "",
            "client": f"1 thread, {cpu}", "server": f"cpu:{server_threads} ({server_threads} torch threads, {cpu})",
            "cpus": os.cpu_count(), "load_average": load_average(), "speed_probe": speed_probe_doc(rows, plans),
            **(extra or {}), "rows": out_rows}


def speed_probe_doc(rows: list[Row], plans: list) -> dict:
    """The reference workload's times: per planning profile (when it was measured) and per row (now)."""
    from ..profiler.speed import WORKLOAD, profile_probe_ms

    return {"workload": WORKLOAD, "planning_ms": {str(p.path): _f(profile_probe_ms(p.profile.extra), 3) for p in plans},
            "run_ms": [_f(r.probe_ms, 3) for r in rows]}


def speed_note(rows: list[Row]) -> str:
    """One line: the reference workload when the planning profile(s) were measured and before the rows,
    and how much slower or faster this CPU ran; empty when nothing was timed."""
    from ..profiler.speed import profile_probe_ms

    then = [v for r in rows if (v := profile_probe_ms(r.case.planning.extra)) is not None]
    now = [r.probe_ms for r in rows if r.probe_ms is not None]
    ratios = [v for r in rows if (v := r.speed_ratio) is not None]
    if not now:
        return ""
    line = (f"reference workload (1-thread matmul, ~0.1 s): {_span(now)} ms before the "
            f"{'rows' if len(now) > 1 else 'row'}")
    if not then:
        return line + "; the planning profile did not time it (made before splittui recorded it)"
    line += (f", {_span(then)} ms while the planning profile was measured: this CPU ran it {_span(ratios)}x"
             " as slow (a sample of how much this CPU's speed moves, not its speed over the row; predictions are "
             "not corrected for it")
    return line + ")"


def _span(vs: list[float]) -> str:
    """One value, or the range of several, to two decimals."""
    return f"{vs[0]:.2f}" if len(set(vs)) == 1 else f"{min(vs):.2f}-{max(vs):.2f}"


def load_note(profiles: list[Profile], run_cores: list[float | None]) -> str:
    """One line: how many cores other processes kept busy while the planning profile(s) and the run were
    measured (a cached profile's figure belongs to when it was made: its time is said), and a warning when
    either was not quiet (a server using every core is slowed by them far more than the 1-thread client, so
    its planned times stop matching)."""
    from ..profiler.busy import BUSY_CORES

    prof = [p.source.get("other_cpu_cores") for p in profiles]
    prof_v = [float(v) for v in prof if isinstance(v, (int, float))]
    run_v = [float(v) for v in run_cores if v is not None]

    def span(vs: list[float]) -> str:
        return _span(vs) if vs else "unknown"

    made = sorted({str(c)[:16].replace("T", " ") for p in profiles if (c := p.source.get("created"))})
    when = f" (measured {made[0]}{' to ' + made[-1] if len(made) > 1 else ''} UTC)" if made else ""
    line = (f"other processes kept {span(run_v)} cores busy during the run, {span(prof_v)} during the planning "
            f"profile{when}")
    if any(v > BUSY_CORES for v in prof_v + run_v):
        line += (f" (above {BUSY_CORES:g}: not a quiet machine; a server on every core then runs slower than "
                 "planned, or the plan's server is too slow: rerun both on a quiet machine)")
    return line


def _err(v: float) -> str:
    return "" if v != v else f"[{'green' if abs(v) <= 10 else 'red'}]{v:+.1f}%[/]"


def rows_table(rows: list[Row], title: str = ""):
    """Rich table: one line per row, planned prediction beside measured, error in %."""
    from rich.table import Table

    t = Table(title=title or None, title_justify="left")
    for col in ("model", "seq", "Mbit/s", "deadline", "policy by", "server", "xfers", "predicted", "measured",
                "error", "composition", "CPU vs plan", "same"):
        t.add_column(col, justify="left" if col in ("model", "policy by") else "right", no_wrap=True)
    for r in rows:
        sc, p = r.case.scenario, r.planned
        c = r.composition
        t.add_row(r.case.planning.model, str(sc.seq_len), f"{sc.up_mbps:g}", f"{sc.deadline_ms:.0f}", r.case.label,
                  f"{p.result.server_share:.0%}", str(p.transfers), f"{p.latency_ms:.1f}",
                  f"{r.measured['total_ms']:.1f}", _err(r.error_pct),
                  "" if c is None else f"{c.latency_ms:.1f} ({r.composition_error_pct:+.1f}%)",
                  _ratio(r.speed_ratio), "yes" if r.match else "[red]NO[/]")
    return t


TABLE_NOTE = ("predicted: the planning profile alone (measured by `splittui profile` before the run) plus its "
              "per-transfer overhead; measured: median of the repeats; error: predicted vs measured; "
              "composition: the composition check, the same policy re-predicted from stage times re-measured "
              "in this run's processes (shows the parts add up, predicts nothing); server: server share of the "
              "FLOPs; xfers: network transfers; CPU vs plan: a reference workload's time (~0.1 s) just before the row "
              "over its time while the planning profile was measured (above 1: this CPU ran it slower; a sample "
              "of how much the CPU's speed moves, never used to predict); same: output allclose to the unsplit "
              "forward in every repeat.")


def _ratio(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}x"


def rows_markdown(rows: list[Row]) -> str:
    """The same table as GitHub markdown (for the README and reports)."""
    lines = ["| model | seq | Mbit/s | deadline ms | policy by | server share | transfers | predicted ms | "
             "measured ms | error | composition check | CPU vs plan | output = unsplit |", "|" + "---|" * 13]
    for r in rows:
        sc, p, c = r.case.scenario, r.planned, r.composition
        comp = "" if c is None else f"{c.latency_ms:.1f} ({r.composition_error_pct:+.1f} %)"
        lines.append(f"| {r.case.planning.model} | {sc.seq_len} | {sc.up_mbps:g} | {sc.deadline_ms:.0f} | "
                     f"{r.case.label} | {p.result.server_share:.0%} | {p.transfers} | {p.latency_ms:.1f} | "
                     f"{r.measured['total_ms']:.1f} | {r.error_pct:+.1f} % | {comp} | {_ratio(r.speed_ratio)} | "
                     f"{'yes' if r.match else 'NO'} |")
    return "\n".join(lines)
