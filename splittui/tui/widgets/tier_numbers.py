"""The numbers table over a chain of tiers: per tier solver (dp, exact, no-split, all-client, and a loaded
tier policy) each tier's share of the work, the latency against the deadline (with output tokens the whole
request's, TTFT and TPOT), the hops crossed and the solve time; then which two-sided solvers have no tier
version, the selected row's time per tier and per hop, and what it breaks.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from ...report.palette import NETWORK
from ...solvers.tiers import TierResult
from ..state import AppState
from ..tier_state import TWO_SIDES_ONLY, TierView
from .tier_cells import tier_colours

__all__ = ["tier_table", "tier_lines"]

_PLAIN = Style(italic=False)   # see numbers.py: cell text never shares a run with the padding before it


def _ms(v: float) -> str:
    return f"{v:,.1f}" if v < 10_000 else f"{v:,.0f}"


def tier_lines(st: AppState) -> int:
    """The table's height: a header, a row per solver, the two-sided note, the breakdown, the last line."""
    assert st.tiers is not None
    return len(st.tiers.rows()) + 4 + bool(st.note)


def tier_table(st: AppState, selected: str, width: int, show_timings: bool) -> Text:
    view = st.tiers
    assert view is not None
    gen = st.scenario.gen_tokens > 0
    topo = view.topology
    colours = tier_colours(topo.k)
    share_w = [max(8, len(t.name) + 2) for t in topo.tiers]
    cols = [("solver", 12), *((f"{t.name}", w) for t, w in zip(topo.tiers, share_w, strict=True)),
            ("request / deadline" if gen else "latency / deadline", 20)]
    if gen:
        cols += [("TTFT", 9), ("TPOT", 8)]
    cols.append(("hops", 4))
    if show_timings:
        cols.append(("solve", 9))
    text = Text(no_wrap=True)
    for i, (h, w) in enumerate(cols):
        style = Style(bold=True, color=colours[i - 1]) if 0 < i <= topo.k else Style(bold=True)
        text.append((h.ljust(w) if i == 0 else h.rjust(w)) + " ", style)
    for name, res in view.rows():
        text.append("\n")
        cells = _row(name, res, selected, topo.k, st.scenario.deadline_ms, gen, show_timings)
        for i, (cell, (_h, w)) in enumerate(zip(cells, cols, strict=False)):
            cell = cell if isinstance(cell, Text) else Text().append(cell, _PLAIN)
            pad = " " * max(0, w - cell.cell_len)
            text.append_text(cell + Text(pad) if i == 0 else Text(pad) + cell).append(" ")
    text.append("\n").append(f"{', '.join(TWO_SIDES_ONLY)}, attention-*: two sides only (no tier version)", "dim")
    text.append("\n").append_text(_breakdown(view, selected))
    if st.note:
        text.append("\n").append(st.note, "yellow")
    last = _last_line(view, selected, st.solve_ms if show_timings else None)
    return text.append("\n").append_text(last)


def _row(name: str, r: TierResult, selected: str, k: int, deadline: float, gen: bool, timings: bool) -> list:
    label = Text().append(name[:12], "bold reverse" if name == selected else "bold")
    timing = [f"{r.solve_ms:.1f} ms"] if timings else []
    times = [_opt(r.ttft_ms), _opt(r.tpot_ms, 2)] if gen else []
    if not r.feasible or r.shares is None or r.latency_ms is None:
        why = _why_not(r)
        lat = f"min {_ms(r.min_latency_ms)} ms" if r.latency_ms is None else f"{_ms(r.latency_ms)} ms"
        return [label, Text().append(why, "bold red"), *[""] * (k - 1), Text().append(lat, "red"), *times,
                "-" if r.crossings is None else str(r.crossings), *timing]
    shares = [f"{100 * s:.1f} %" for s in r.shares]
    dl = f"{deadline:,.0f}" if deadline >= 100 and deadline == round(deadline) else _ms(deadline)
    return [label, *shares, f"{_ms(r.latency_ms)} / {dl} ms", *times, str(r.crossings), *timing]


def _opt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f} ms"


def _why_not(r: TierResult) -> str:
    if any(v.startswith("does not fit") for v in r.violations):
        return "no fit"
    broken = [lim for lim in ("TTFT", "TPOT") if any(v.startswith(lim) for v in r.violations)]
    return "breaks " + "+".join(broken) if broken else "infeasible"


def _breakdown(view: TierView, selected: str) -> Text:
    """The selected row's time on each tier and over each hop (up + down), summing to its latency."""
    r = dict(view.rows()).get(selected) or view.results.get("dp")
    if r is None or r.compute_ms is None or r.hop_ms is None or r.latency_ms is None:
        return Text("")
    topo = view.topology
    colours = tier_colours(topo.k)
    text = Text(f"{r.solver}: ", style="dim")
    parts: list[tuple[str, float, str]] = [(t.name, ms, colours[k])
                                           for k, (t, ms) in enumerate(zip(topo.tiers, r.compute_ms, strict=True))]
    parts += [(f"{topo.letters[h]}→{topo.letters[h + 1]}", up + down, NETWORK) for h, (up, down) in enumerate(r.hop_ms)]
    for i, (label, v, colour) in enumerate(parts):
        text.append(f"{label} ", style=colour).append(_ms(v)).append(" + " if i < len(parts) - 1 else "")
    return text.append(f" = {_ms(r.latency_ms)} ms")


def _last_line(view: TierView, selected: str, solve_ms: float | None) -> Text:
    r = dict(view.rows()).get(selected)
    text = Text()
    if r is not None and r.violations:
        text.append(f"{selected}: {r.violations[0]}", "yellow")
    if solve_ms is not None:
        text.append((" · " if text.plain else "") + f"all solved in {solve_ms:.1f} ms", "dim")
    return text
