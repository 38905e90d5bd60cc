"""`splittui run --figure attention`: the paper's Figs. 6-7 (§IV-B) as a measured experiment.

For one model (bert-base) at three sequence lengths and each attention variant (full, low-rank,
sparse), four placements: all-client, attention-on-the-server (the paper's "efficient" split) and
the DP's policy at two deadlines. The server is a CPU process with every core (the paper's
"splitCPU"), the client one thread, as in ``run --fidelity``; both processes report the threads they
compute with, and the output says so. splitGPU needs a GPU server, which the runner does not start.

Order: first every variant's planning profile (measured by a separate ``splittui profile --attention
V --threads 1 --server cpu:N`` process, or taken from the cache) and every policy chosen on it; then,
variant by variant, the client and server processes and the measurements. Nothing measured in a run
reaches a policy or a prediction.

The dp deadlines (``--deadlines``, default ``1/3,2/3``) are, per variant and length, that fraction
of the way from the least latency the planning profile allows (any placement) to its all-client
latency, so each is feasible and below all-client. Where the server is no faster (least latency
within 2 % of all-client, or above it) there is no such deadline: the row is shown as infeasible,
with both numbers. ``Fx`` (of all-client) and plain ms are accepted too.

``--budget-s`` bounds the experiment: a variant whose run, estimated from its planning profile
(:func:`estimate_s`), would end after the budget is not started, nor one whose profile would be
measured after it is spent; the output says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import SplittuiError
from ..report.charts import open_panels, select_panel
from .chains import ChainSpec
from .experiment import Case, Row, measure_rows
from .handler import live_session, stderr_console
from .kernel_link import open_link
from .planning import (
    MIN_GAP,
    all_client_ms,
    deadline_token,
    dp_deadline_ms,
    least_latency_ms,
    planning_profile,
    policy_for,
    scenario_for,
    short_ms,
)

__all__ = ["attention_figure", "AttentionFigure", "Infeasible", "Span", "attention_chart", "attention_table",
           "attention_markdown", "estimate_s", "dp_deadline_ms", "check_figure_inputs", "server_note",
           "ATTENTION_VARIANTS", "ATTENTION_SEQS", "ATTENTION_DEADLINES", "MIN_GAP", "STARTUP_S"]

ATTENTION_VARIANTS = ("full", "lowrank:64", "sparse:32")
ATTENTION_SEQS = (128, 256, 512)
ATTENTION_DEADLINES = ("1/3", "2/3")   # of the way from the least latency to all-client
FIXED = ("all-client", "attention-server")
STARTUP_S = 15.0    # two processes per variant: spawn, import torch, build the model, compare fingerprints


def server_note() -> str:
    """Which of the paper's two server kinds the figure has (splitCPU) and why not the other."""
    import torch

    why = "the runner's server is a CPU process" if torch.cuda.is_available() else "no GPU on this machine"
    return f"server: a CPU process with every core (splitCPU); splitGPU not run ({why})"


# --- inputs ------------------------------------------------------------------------------------------

def check_figure_inputs(model: str, seqs: list[int], variants: list[str], deadlines: list[str]) -> None:
    """Every variant, length and deadline checked before anything is profiled or started."""
    from ..attention import parse_attention
    from ..profiler.zoo import VARIANT_MODELS

    if not variants:
        raise SplittuiError("--variants: name at least one variant (full, lowrank:K, sparse:B)")
    for text in variants:
        attention = parse_attention(text, flag="--variants")
        attention.check_seq(seqs, flag="--seqs")
        if not attention.is_full and model not in VARIANT_MODELS:
            raise SplittuiError(f"--variants {attention.label}: model {model!r} has no attention core that the "
                                f"variants replace (they apply to {', '.join(VARIANT_MODELS)})")
    for text in deadlines:
        deadline_token(text)


# --- planning ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Infeasible:
    """A dp row that could not be planned, with the reason (shown in the table, never dropped)."""

    model: str
    seq: int
    label: str
    least_ms: float
    all_client_ms: float
    reason: str

    def to_dict(self) -> dict:
        return {"solver": self.label, "model": self.model, "seq_len": self.seq, "infeasible": self.reason,
                "least_ms": round(self.least_ms, 2), "all_client_ms": round(self.all_client_ms, 2)}


@dataclass(frozen=True, slots=True)
class Span:
    """Where one (variant, length)'s dp deadlines came from: the planning profile's two ends."""

    model: str
    seq: int
    least_ms: float
    all_client_ms: float
    deadlines: tuple[tuple[str, float | None], ...]   # (token, ms or None when infeasible)

    def to_dict(self) -> dict:
        return {"model": self.model, "seq_len": self.seq, "least_ms": round(self.least_ms, 2),
                "all_client_ms": round(self.all_client_ms, 2),
                "deadlines_ms": {t: None if ms is None else round(ms, 2) for t, ms in self.deadlines}}

    def describe(self) -> str:
        ds = ", ".join(f"{t} {short_ms(ms)}" if ms is not None else f"{t} none" for t, ms in self.deadlines)
        return (f"seq {self.seq}: least {short_ms(self.least_ms)}, all-client {short_ms(self.all_client_ms)} "
                f"-> {ds} ms")


def _plan_seq(args, profile, seq: int, deadlines: list[str]) -> tuple[list, Span]:
    """The cases (and infeasible dp rows) of one variant at one length, all chosen on the planning profile."""
    sc = scenario_for(args, profile, seq)
    items: list = [Case(label, profile, sc, policy_for(args, profile, sc, label)[1]) for label in FIXED]
    least, ac = least_latency_ms(profile, sc), all_client_ms(profile, sc)
    chosen = []
    for token in deadlines:
        label = f"dp {token}" + (" ms" if deadline_token(token)[0] == "ms" else "")
        ms, why = dp_deadline_ms(token, least, ac)
        chosen.append((token, ms))
        if ms is None:
            items.append(Infeasible(profile.model, seq, label, least, ac, why))
            continue
        sc_d = scenario_for(args, profile, seq, deadline=repr(ms))
        try:
            items.append(Case(label, profile, sc_d, policy_for(args, profile, sc_d, "dp")[1]))
        except SplittuiError as exc:
            items.append(Infeasible(profile.model, seq, label, least, ac, f"infeasible: {exc}"))
    return items, Span(profile.model, seq, least, ac, tuple(chosen))


def estimate_s(cases: list[Case], repeats: int) -> float:
    """Seconds the run of these cases should take, from their planning profile alone: per distinct
    (length, policy) one warm-up and ``repeats`` requests at the predicted latency plus, before each
    request, one in-order stage pass on each side the policy uses; per length one unsplit reference
    forward; plus the processes' start (``STARTUP_S``)."""
    from ..generation import request_costs
    from .predict import planned_overhead_ms, predict

    total, seen, refs = STARTUP_S, set(), set()
    for case in cases:
        sc = case.scenario
        c = request_costs(case.planning, sc)
        if sc.seq_len not in refs:
            refs.add(sc.seq_len)
            total += float(sum(c.client_ms)) / 1e3
        if (sc.seq_len, case.policy) in seen:
            continue
        seen.add((sc.seq_len, case.policy))
        latency = predict(case.planning, sc, case.policy, planned_overhead_ms(case.planning)).latency_ms
        passes = (float(sum(c.client_ms)) if 1 in case.policy else 0.0) + \
                 (float(sum(c.server_ms)) + 12 * sc.delay_ms if 0 in case.policy else 0.0)  # + link calibration
        total += ((1 + repeats) * latency + repeats * passes) / 1e3
    return total


# --- the experiment ----------------------------------------------------------------------------------

@dataclass
class AttentionFigure:
    """What the figure ran: table entries in order (a measured Row, or an Infeasible dp row) and how."""

    entries: list = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    threads: list[dict] = field(default_factory=list)     # per variant: requested and reported
    estimates: dict[str, float] = field(default_factory=dict)
    deadlines: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        return [e for e in self.entries if isinstance(e, Row)]

    @property
    def infeasible(self) -> list[Infeasible]:
        return [e for e in self.entries if isinstance(e, Infeasible)]

    def rule(self) -> str:
        ways = [t for t in self.deadlines if deadline_token(t)[0] == "way"]
        text = "dp deadlines: " + ", ".join(self.deadlines)
        if ways:
            text += (f" ({' and '.join(ways)} of the way from the least latency the planning profile allows, any "
                     f"placement, to its all-client latency, per variant and length; infeasible where the least "
                     f"latency is within {MIN_GAP:.0%} of all-client or above it)")
        return text

    def notes(self) -> list[str]:
        lines = [self.rule()]
        for model in dict.fromkeys(s.model for s in self.spans):
            lines.append(f"  {model}: " + "; ".join(s.describe() for s in self.spans if s.model == model))
        lines += [_threads_line(t) for t in self.threads]
        if self.estimates:
            lines.append("estimated run time from the planning profiles: " +
                         ", ".join(f"{m} {s:.0f} s" for m, s in self.estimates.items()))
        return lines

    def extra(self) -> dict:
        return {"dp_deadlines": {"rule": self.rule(), "by_length": [s.to_dict() for s in self.spans]},
                "infeasible": [i.to_dict() for i in self.infeasible], "threads": self.threads,
                "estimated_run_s": {m: round(s, 1) for m, s in self.estimates.items()}}


def _threads_line(t: dict) -> str:
    client, server = t.get("client"), t.get("server")
    line = f"threads reported by the processes ({t['model']}): client {client}, server {server}"
    if client is None or server is None:
        return line + " [not reported]"
    if server <= client:
        return line + " [the server has no more threads than the client: a CPU server cannot be faster here]"
    return line + f" (requested: client 1, server {t['requested']})"


def attention_figure(args, threads: int, seqs: list[int], variants: list[str], budget_s: float, plans: list,
                     skipped: list, links: list) -> AttentionFigure:
    deadlines = args.deadlines.split(",") if args.deadlines else list(ATTENTION_DEADLINES)
    check_figure_inputs(args.model, seqs, variants, deadlines)
    t0, fig = time.perf_counter(), AttentionFigure(deadlines=deadlines)
    planned = []
    for variant in variants:   # every planning profile and policy before any run starts
        spent = time.perf_counter() - t0
        if spent > budget_s:
            skipped.append(f"{args.model} {variant}: not profiled, the --budget-s {budget_s:g} s was spent "
                           f"({spent:.0f} s)")
            continue
        planned.append(_plan_variant(args, variant, seqs, threads, deadlines, fig, plans))
    for variant, spec, model, items, cases in planned:
        spent, need = time.perf_counter() - t0, fig.estimates[model]
        if spent + need > budget_s:
            skipped.append(f"{args.model} {variant}: not run, its estimated {need:.0f} s would end after the "
                           f"--budget-s {budget_s:g} s ({spent:.0f} s spent)")
            continue
        rows = _run_variant(args, spec, model, threads, cases, fig, links)
        measured = iter(rows)  # measure_rows keeps the order of the cases
        fig.entries += [next(measured) if isinstance(i, Case) else i for i in items]
    return fig


def _plan_variant(args, variant: str, seqs: list[int], threads: int, deadlines: list[str], fig: AttentionFigure,
                  plans: list) -> tuple:
    """The variant's planning profile (a separate `splittui profile` process, or the cache), then its
    cases and infeasible dp rows at every length, chosen on that profile alone."""
    console = stderr_console()
    spec = ChainSpec(args.model, args.tiny, args.seed, attention=variant)
    plan = planning_profile(spec, seqs, threads, given=None, repeats=args.profile_repeats, refresh=args.reprofile,
                            say=lambda m: console.print(f"[dim]{m}[/]", soft_wrap=True))
    plans.append(plan)
    model, items = plan.profile.model, []
    for seq in seqs:
        got, span = _plan_seq(args, plan.profile, seq, deadlines)
        items += got
        fig.spans.append(span)
    cases = [i for i in items if isinstance(i, Case)]
    fig.estimates[model] = estimate_s(cases, args.repeats)
    console.print(f"[dim]{model}: {len(cases)} cases planned, its run should take about "
                  f"{fig.estimates[model]:.0f} s[/]")
    return variant, spec, model, items, cases


def _run_variant(args, spec: ChainSpec, model: str, threads: int, cases: list[Case], fig: AttentionFigure,
                 links: list) -> list[Row]:
    console = stderr_console()

    def progress(i, n, case):
        console.print(f"[dim]{model} [{i + 1}/{n}] seq {case.scenario.seq_len}, {case.label}[/]")

    with open_link(args.link) as link, live_session(spec, link, threads, args) as session:
        fig.threads.append({"model": model, "requested": threads, **session.threads})
        rows = measure_rows(session, cases, args.repeats, progress, shape=link.shape)
        links.append((link.kind, link.describe()))
    return rows


# --- output ------------------------------------------------------------------------------------------

_COLUMNS = ("model", "seq", "policy by", "deadline ms", "server", "xfers", "predicted ms", "measured ms", "error",
            "composition", "same")


def _cells(e, markup: bool) -> list[str]:
    """One table line's cells for a Row or an Infeasible dp row."""
    if isinstance(e, Infeasible):
        return [e.model, str(e.seq), e.label, "—", "—", "—", e.reason, "—", "", "", "—"]
    sc, p, c = e.case.scenario, e.planned, e.composition
    fixed = e.case.label in FIXED
    err = e.error_pct
    err_text = "" if err != err else f"{err:+.1f}%"
    if markup and err_text:
        err_text = f"[{'green' if abs(err) <= 10 else 'red'}]{err_text}[/]"
    same = "yes" if e.match else ("[red]NO[/]" if markup else "NO")
    return [e.case.planning.model, str(sc.seq_len), e.case.label, "—" if fixed else f"{sc.deadline_ms:.0f}",
            f"{p.result.server_share:.0%}", str(p.transfers), f"{p.latency_ms:.1f}", f"{e.measured['total_ms']:.1f}",
            err_text, "" if c is None else f"{c.latency_ms:.1f} ({e.composition_error_pct:+.1f}%)", same]


def attention_table(entries: list, title: str = ""):
    """Rich table: measured rows beside the planning profile's prediction; infeasible dp rows say why."""
    from rich.table import Table

    t = Table(title=title or None, title_justify="left")
    for col in _COLUMNS:
        t.add_column(col, justify="left" if col in ("model", "policy by") else "right", no_wrap=col != "predicted ms")
    for e in entries:
        t.add_row(*_cells(e, markup=True))
    return t


def attention_markdown(entries: list) -> str:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cells(e, markup=False)) + " |" for e in entries]
    return "\n".join(lines)


def _marks(labels: list[str]) -> dict[str, str]:
    """One letter per label (its first free letter), so the chart reads without colour."""
    fixed = {"all-client": "a", "attention-server": "e"}
    out = {label: fixed[label] for label in labels if label in fixed}
    for label in labels:
        if label not in out:
            free = [ch for ch in label + "pqrstuvwxyz" if ch.isalpha() and ch not in out.values()]
            out[label] = free[0] if free else "?"
    return {label: out[label] for label in labels}


def attention_chart(rows: list[Row], width: int = 120, height: int = 22, infeasible: list | None = None) -> str:
    """plotext: latency against sequence length, one panel per attention variant; capital letters are
    measured, small ones predicted (a: all-client, e: attention-server, then dp at each deadline).
    Infeasible dp rows have no point; the key says how many."""
    import plotext as plt

    variants = list(dict.fromkeys(r.case.planning.model for r in rows))
    labels = list(dict.fromkeys(r.case.label for r in rows))
    marks = _marks(labels)
    values = [v for r in rows for v in (r.measured["total_ms"], r.planned.latency_ms)]
    open_panels(plt, len(variants))
    plt.plot_size(width, height)
    plt.theme("clear")
    for j, variant in enumerate(variants, start=1):
        select_panel(plt, j, len(variants))
        plt.title(variant)
        plt.xlabel("sequence length")
        plt.ylabel("latency ms")
        if values and min(values) > 0 and max(values) > 20 * min(values):
            plt.yscale("log")
        for label in labels:
            sel = sorted((r for r in rows if r.case.label == label and r.case.planning.model == variant),
                         key=lambda r: r.case.scenario.seq_len)
            if not sel:
                continue
            xs = [r.case.scenario.seq_len for r in sel]
            plt.plot(xs, [r.measured["total_ms"] for r in sel], marker=marks[label].upper())
            plt.plot(xs, [r.planned.latency_ms for r in sel], marker=marks[label])
    key = ", ".join(f"{m.upper()}/{m} {label}" for label, m in marks.items())
    none = f"; {len(infeasible)} infeasible dp row(s) not drawn (see the table)" if infeasible else ""
    return plt.build() + f"\n{key}; capital = measured, small = predicted{none}"
