"""Measured beside predicted: one row per (sequence length, link, placement), and their table.

``measure_rows`` runs a list of cases through one live ``Session`` (the chain is built once per
process) and pairs each with its prediction; ``rows_table`` renders them with rich;
``rows_json`` gives plain dicts for ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Profile, Scenario
from .predict import Prediction, predict
from .session import Session, summarise

__all__ = ["Case", "Row", "measure_rows", "rows_table", "rows_json", "rows_markdown", "error_pct", "TABLE_NOTE"]


@dataclass(frozen=True, slots=True)
class Case:
    label: str              # solver or placement name
    profile: Profile        # in-chain profile for this sequence length: the prediction
    scenario: Scenario
    policy: tuple[int, ...]
    isolated: Profile | None = None  # the profiler's isolated stage medians, for comparison


@dataclass(frozen=True, slots=True)
class Row:
    case: Case
    prediction: Prediction
    isolated: Prediction | None  # the same policy predicted from the isolated profile
    measured: dict          # medians over the repeats: total_ms, client_ms, server_ms, upload_ms, ...
    repeats: int
    match: bool             # every repeat's output allclose to the unsplit forward
    max_abs_diff: float

    @property
    def error_pct(self) -> float:
        return error_pct(self.prediction.latency_ms, self.measured["total_ms"])

    @property
    def isolated_error_pct(self) -> float:
        return float("nan") if self.isolated is None else error_pct(self.isolated.latency_ms, self.measured["total_ms"])


def error_pct(predicted: float, measured: float) -> float:
    """(predicted − measured) / measured, in %: positive means the model is pessimistic."""
    return 100.0 * (predicted - measured) / measured if measured > 0 else float("nan")


def measure_rows(session: Session, cases: list[Case], repeats: int, progress=None) -> list[Row]:
    rows = []
    for i, case in enumerate(cases):
        if progress:
            progress(i, len(cases), case)
        sc = case.scenario
        out = session.run({"seq": sc.seq_len, "policy": list(case.policy), "up_mbps": sc.up_mbps,
                           "down_mbps": sc.down_mbps, "delay_ms": sc.delay_ms, "repeats": repeats})
        profile = _interleaved(case.profile, out)
        pred = predict(profile, sc, case.policy, out["overhead_ms"])
        iso = None if case.isolated is None else predict(case.isolated, sc, case.policy, out["overhead_ms"])
        rows.append(Row(case=case, prediction=pred, isolated=iso, measured=summarise(out["times"]), repeats=repeats,
                        match=out["match"], max_abs_diff=out["max_abs_diff"]))
    return rows


def _interleaved(profile: Profile, out: dict) -> Profile:
    """The in-chain profile with the stage times measured between this case's requests, where the
    case measured them (a side the policy never uses keeps the times measured before)."""
    from .predict import in_chain_profile

    client, server = out.get("stage_client_ms"), out.get("stage_server_ms")
    if client is None and server is None:
        return profile
    client = client or [layer.client_ms[0] for layer in profile.layers]
    server = server or [layer.server_ms[0] for layer in profile.layers]
    return in_chain_profile(profile, client, server)


def rows_json(rows: list[Row]) -> list[dict]:
    out = []
    for r in rows:
        sc, p, res = r.case.scenario, r.prediction, r.prediction.result
        bd = res.breakdown
        out.append({
            "label": r.case.label, "model": r.case.profile.model, "seq_len": sc.seq_len,
            "up_mbps": sc.up_mbps, "down_mbps": sc.down_mbps, "delay_ms": sc.delay_ms,
            "policy": list(r.case.policy), "server_share": res.server_share, "transfers": p.transfers,
            "predicted_ms": p.latency_ms, "model_ms": p.model_ms, "overhead_ms_per_transfer": p.overhead_ms,
            "predicted_breakdown_ms": {"client": bd.client_ms, "server": bd.server_ms,
                                       "upload": bd.upload_ms, "download": bd.download_ms},
            "measured_ms": r.measured["total_ms"],
            "measured_breakdown_ms": {k: r.measured[f"{k}_ms"] for k in ("client", "server", "upload", "download")},
            "error_pct": r.error_pct,
            "isolated_profile_predicted_ms": None if r.isolated is None else r.isolated.latency_ms,
            "isolated_profile_error_pct": None if r.isolated is None else r.isolated_error_pct,
            "repeats": r.repeats, "output_matches_unsplit": r.match,
            "max_abs_diff": r.max_abs_diff,
        })
    return out


def rows_table(rows: list[Row], title: str = ""):
    """Rich table: one line per row, predicted beside measured, error in %."""
    from rich.table import Table

    t = Table(title=title or None, title_justify="left")
    for col in ("model", "seq", "Mbit/s", "placement", "server", "xfers", "predicted", "measured",
                "error", "isolated", "same"):
        t.add_column(col, justify="left" if col in ("model", "placement") else "right", no_wrap=True)
    for r in rows:
        sc, p = r.case.scenario, r.prediction
        err = r.error_pct
        style = "green" if abs(err) <= 10 else "red"
        t.add_row(r.case.profile.model, str(sc.seq_len), f"{sc.up_mbps:g}", r.case.label,
                  f"{p.result.server_share:.0%}", str(p.transfers), f"{p.latency_ms:.1f}",
                  f"{r.measured['total_ms']:.1f}", f"[{style}]{err:+.1f}%[/]",
                  "" if r.isolated is None else f"{r.isolated_error_pct:+.1f}%", "yes" if r.match else "[red]NO[/]")
    return t


TABLE_NOTE = ("server: server share of the FLOPs; xfers: network transfers; predicted / measured: end-to-end "
              "ms (measured = median of the repeats); error: predicted vs measured; isolated: the error "
              "had the prediction used the profiler's isolated stage medians; same: output allclose to the "
              "unsplit forward in every repeat.")


def rows_markdown(rows: list[Row]) -> str:
    """The same table as GitHub markdown (for the README and reports)."""
    lines = ["| model | seq | Mbit/s | placement | server share | transfers | predicted ms | measured ms | error "
             "| isolated-profile error | output = unsplit |", "|" + "---|" * 11]
    for r in rows:
        sc, p = r.case.scenario, r.prediction
        iso = "" if r.isolated is None else f"{r.isolated_error_pct:+.1f} %"
        lines.append(f"| {r.case.profile.model} | {sc.seq_len} | {sc.up_mbps:g} | {r.case.label} | "
                     f"{p.result.server_share:.0%} | {p.transfers} | {p.latency_ms:.1f} | "
                     f"{r.measured['total_ms']:.1f} | "
                     f"{r.error_pct:+.1f} % | {iso} | {'yes' if r.match else 'NO'} |")
    return "\n".join(lines)
