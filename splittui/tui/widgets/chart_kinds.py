"""The app's four charts as plotext drawings: the deadline frontier, per-layer FLOPs by side, server
share against bandwidth, and a timeline of the selected solver's placement; each with its caption
(title and a coloured legend, which never covers the data).

Shares always run 0..100 %; the current knob (deadline or bandwidth) is a vertical line with its value
as a bracketed tick. Every series comes computed in the `AppState` (see `tui/chart_data.py`): these
functions only draw. A draw function may return a `Paint` that finishes the chart on plotext's built
matrix (see `plotext_canvas.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.style import Style
from rich.text import Text

from ...costs import layer_values
from ...model import Result
from ...report.formats import num as _num
from ...report.palette import CLIENT, DEADLINE, NETWORK, SERVER, rgb, solver_colour
from ...report.ticks import ticks_within
from ..chart_data import SWEEP_SOLVERS
from ..state import AppState
from .controls import fmt_mbps
from .plotext_canvas import Label, Line, Paint, draw_lines, plot_size
from .strip import blocks

__all__ = ["CHARTS", "Caption", "View", "Bars", "bar_groups", "flops_bars", "shown_result"]

PAPER_DP = "#cc79a7"   # dp on the frontier chart: apart from exact, the optimum, drawn in the foreground
CURSOR = "#f0e442"   # the frontier cursor: a yellow apart from every solver and the deadline


@dataclass(frozen=True, slots=True)
class View:
    """What a chart needs besides the state: the selected solver, the theme's text colour, the size."""

    selected: str = "dp"
    fg: str = "#e0e0e0"
    bg: str = "#1e1e1e"   # the plot's canvas (the theme's surface), behind text labels
    width: int = 60
    height: int = 15
    exact: tuple[tuple[float, float], ...] = ()   # the exact frontier's (deadline, share) points, if computed
    cursor: float | None = None                    # the frontier cursor's deadline


def _x_ticks(plt, ticks: list[float], fmt, mark: float | None, near: float) -> None:
    """Set x ticks, with `mark` (the current knob) as a bracketed tick that pushes near ones out."""
    pairs = [(t, fmt(t)) for t in ticks if mark is None or abs(t - mark) > near]
    if mark is not None:
        pairs.append((mark, f"[{fmt(mark)}]"))
    pairs.sort()
    plt.xticks([p for p, _ in pairs], [label for _, label in pairs])


def _share_axis(plt, view: View) -> None:
    """Server share always on 0..100 %, with round ticks."""
    plt.ylim(0, 100)
    ticks = [0, 25, 50, 75, 100] if view.height >= 14 else [0, 50, 100]
    plt.yticks(ticks, [f"{t}%" for t in ticks])


@dataclass(frozen=True, slots=True)
class Caption:
    """A chart's title (and a shorter one for narrow charts) and its legend: (colour, glyph, label)."""

    title: str
    short: str = ""
    legend: tuple[tuple[str, str, str], ...] = ()
    style: str = "bold"

    def render(self, width: int) -> Text:
        """One line if it fits: the full title, else the short one, then the legend's last keys dropped
        (the last is the knob marker, which the bracketed x tick also names)."""
        full = len(self.legend)
        for title, n in [(self.title, full), *(((self.short or self.title), k) for k in range(full, -1, -1))]:
            text = self._build(title, n)
            if text.cell_len <= width:
                return text
        return self._build(self.short or self.title, full)   # wraps

    def _build(self, title: str, n: int) -> Text:
        text = Text(title, style=self.style)
        for colour, glyph, label in self.legend[:n]:
            text.append("  " + glyph, Style(color=colour, bold=True)).append(" " + label)
        return text


# ---- frontier --------------------------------------------------------------------------------------
def _frontier(plt, st: AppState, view: View) -> Paint | None:
    f = st.frontier
    assert f is not None and st.baselines is not None   # a ready state has both
    x = np.asarray(f.deadline_ms)
    keep = np.isfinite(f.server_share)
    step = max(1, int(keep.sum()) // 120)   # the line's points: a few per braille column is plenty
    samples, greedy, nosplit = st.baselines
    series = (("no-split", samples, nosplit), ("greedy", samples, greedy),
              ("dp", x[keep][::step], f.server_share[keep][::step]))   # dp last: on top at 100 %
    lines = []
    for name, xs, ys in series:
        ok = np.isfinite(ys)
        if ok.any():
            colour = PAPER_DP if name == "dp" else solver_colour(name, view.fg)
            lines.append((xs[ok].tolist(), (100 * ys[ok]).tolist(), rgb(colour)))
    d, hi = st.scenario.deadline_ms, float(x[-1]) if len(x) else st.scenario.deadline_ms * 1.5
    lines += _exact_steps(plt, view, hi)
    plt.vline(d, rgb(DEADLINE))
    plt.xlim(0, hi)
    _x_ticks(plt, ticks_within(0, hi, max(2, view.width // 12)), _num, d, 0.12 * hi)
    _share_axis(plt, view)
    plt.xlabel("deadline (ms)")
    return draw_lines(plt, lines)


def _exact_steps(plt, view: View, hi: float) -> list[Line]:
    """The exact frontier as a staircase (its share holds from each Pareto point to the next) and the cursor."""
    if view.cursor is not None and view.cursor <= hi:
        plt.vline(view.cursor, rgb(CURSOR))
    pts = [(d, s) for d, s in view.exact if d <= hi]
    if not pts:
        return []
    xs = [v for (d, _), (d2, _) in zip(pts, [*pts[1:], (hi, 0)], strict=False) for v in (d, d2)]
    ys = [100 * s for _, s in pts for _ in (0, 1)]
    return [(xs, ys, rgb(solver_colour("exact", view.fg)))]


def _frontier_caption(st: AppState, view: View) -> Caption:
    f = st.frontier
    assert f is not None and st.results   # a ready state has both
    if not np.isfinite(f.server_share).any():
        least = next(iter(st.results.values())).min_latency_ms   # every solver's result carries it
        return Caption(f"No placement meets any deadline up to {f.deadline_ms[-1]:,.0f} ms (least latency "
                       f"{least:,.1f} ms)", style="bold red")
    exact_key = (((solver_colour("exact", view.fg), "━━", "exact = the optimum"),) if view.exact else ())
    cursor = ((CURSOR, "┃", "cursor"),) if view.cursor is not None else ()
    return Caption(f"Server share vs deadline (dp = the paper's DP at T = {st.frontier_unit_ms:g} ms"
                   f"{'' if view.exact else '; f: exact optimum + cursor'}):",
                   "Share vs deadline:",
                   (*exact_key, (PAPER_DP, "━━", "dp (paper)"),
                    (solver_colour("greedy", view.fg), "━━", "greedy"),
                    (solver_colour("no-split", view.fg), "━━", "no-split"),
                    *cursor, (DEADLINE, "┃", f"deadline {_num(st.scenario.deadline_ms)} ms")))


# ---- FLOPs per layer -------------------------------------------------------------------------------
def shown_result(st: AppState, view: View) -> tuple[str, Result | None]:
    """The selected solver's result if it has a placement, else DP's (else None)."""
    for name in (view.selected, "dp"):
        res = st.results.get(name)
        if res is not None and res.policy is not None:
            return name, res
    return view.selected, None


def bar_groups(names: list[str], columns: int) -> tuple[list[tuple[int, int]], int]:
    """Layers [a, b) per bar, and columns per bar, for a bar chart `columns` wide: k consecutive layers
    of one block per bar with the least k that fits, so identical blocks get identical bars (one bar
    per layer spread over the columns drew identical blocks 2 and 3 columns wide)."""
    n, columns = len(names), max(1, columns)
    runs = [(a, b) for (a, _), (b, _) in zip(blocks(names), [*blocks(names)[1:], (n, "")], strict=False)]
    if len(runs) > columns:   # more blocks than columns: plain runs of k layers
        runs = [(0, n)]
    for k in range(max(1, n // columns), n + 1):
        groups = [(a, min(a + k, b)) for start, b in runs for a in range(start, b, k)]
        if len(groups) <= columns:
            return groups, columns // len(groups)
    return [(0, n)], columns


@dataclass(frozen=True, slots=True)
class Bars:
    """The FLOPs chart's layout: layers [a, b) per bar, columns per bar, the y axis and the plot width."""

    groups: list[tuple[int, int]]
    per: int
    hi: float
    ticks: list[float]
    width: int


def flops_bars(flops: np.ndarray, names: list[str], view: View) -> Bars:
    hi = float(flops.max()) if len(flops) and flops.max() > 0 else 1.0
    ticks = ticks_within(0, hi, max(2, (view.height - 4) // 4))
    room = view.width - 2 - max(len(f"{t:g}") for t in ticks)   # plotext's canvas: the frame and y labels
    groups, per = bar_groups(names, room)
    return Bars(groups, per, hi, ticks, view.width - room + len(groups) * per)   # the frame ends at the bars


def _flops(plt, st: AppState, view: View) -> Paint:
    """Per-layer FLOPs as bars coloured by side; plotext draws the axes, `paint` the bars (plotext's own
    bars cost ~0.3 ms each and round their edges per bar)."""
    flops = layer_values(st.profile, "flops", st.scenario.seq_len) / 1e9
    _, res = shown_result(st, view)
    grey, client, server = rgb("#808080"), rgb(CLIENT), rgb(SERVER)
    colours = ([grey] * len(flops) if res is None or res.policy is None
               else [client if side else server for side in res.policy])
    names = [layer.name for layer in st.profile.layers]
    bars = flops_bars(flops, names, view)
    groups, per = bars.groups, bars.per
    plot_size(plt, bars.width, view.height)
    starts = {start for start, _ in blocks(names)}
    xticks, last = [], -math.inf
    for g, (a, _b) in enumerate(groups):
        if a in starts and g * per - last >= 7:   # keep block labels ~7 columns apart
            xticks.append((g * per + (per - 1) / 2, names[a].split(".", 1)[0]))
            last = g * per
    plt.scatter([0], [-1e30], marker=" ")   # plotext draws no axes without a series; this one is off the plot
    plt.xticks([t for t, _ in xticks], [label for _, label in xticks])
    plt.xlim(0, len(groups) * per - 1)
    plt.ylim(0, bars.hi)
    plt.yticks(bars.ticks, [f"{t:g}" for t in bars.ticks])
    plt.ylabel("GFLOP")

    def paint(m) -> None:
        cols, rows = m.Cols_canvas, m.Rows_canvas
        for g, (a, b) in enumerate(groups):
            tops: dict[tuple[int, int, int], float] = {}
            for v, colour in zip(flops[a:b].tolist(), colours[a:b], strict=False):
                tops[colour] = max(v, tops.get(colour, 0.0))
            x0, x1 = cols.start + g * per, min(cols.stop, cols.start + (g + 1) * per)
            for colour, v in sorted(tops.items(), key=lambda item: -item[1]):   # the shorter side in front
                top = min(len(rows), math.floor(round(0.5 + (len(rows) - 1) * v / bars.hi, 8)) + 1)
                for y in range(rows.start, rows.start + top):
                    m.marker[y][x0:x1] = ["█"] * (x1 - x0)
                    m.fullground[y][x0:x1] = [colour] * (x1 - x0)
    return paint


def _flops_caption(st: AppState, view: View) -> Caption:
    name, res = shown_result(st, view)
    if res is None:
        return Caption(f"FLOPs per layer: {name} has no placement (grey)", style="bold red")
    return Caption(f"FLOPs per layer (GFLOP at seq {st.scenario.seq_len}), coloured by {name}'s side:",
                   f"GFLOP per layer ({name}):", ((CLIENT, "██", "client"), (SERVER, "██", "server")))


# ---- share against bandwidth -----------------------------------------------------------------------
def _sweep(plt, st: AppState, view: View) -> Paint | None:
    if st.sweep is None:
        return None
    bws = st.sweep.bandwidths
    lines = [(bws[ok].tolist(), ys[ok].tolist(), rgb(solver_colour(name, view.fg)))
             for name, ys in st.sweep.lines.items() if (ok := np.isfinite(ys)).any()]
    plt.xscale("log")
    up = st.scenario.up_mbps
    pairs: list[tuple[float, str]]
    pairs = [(t, lbl) for t, lbl in zip((1, 10, 100, 1000, 10_000), ("1M", "10M", "100M", "1G", "10G"), strict=False)
             if abs(math.log10(t / up)) > 0.35]
    pairs = sorted([*pairs, (up, f"[{fmt_mbps(up).replace(' Mbit/s', 'M').replace(' Gbit/s', 'G')}]")])
    plt.xticks([p for p, _ in pairs], [label for _, label in pairs])
    plt.vline(up, rgb(view.fg))
    _share_axis(plt, view)
    plt.xlabel("bandwidth, up = down (bit/s)")
    return draw_lines(plt, lines)


def _sweep_caption(st: AppState, view: View) -> Caption:
    sc = st.scenario
    legend = tuple((solver_colour(name, view.fg), "━━", name) for name in reversed(SWEEP_SOLVERS))
    return Caption(f"Server share vs bandwidth at deadline {_num(sc.deadline_ms)} ms:", "Share vs bandwidth:",
                   (*legend, (view.fg, "┃", f"now {fmt_mbps(sc.up_mbps)}")))


# ---- timeline --------------------------------------------------------------------------------------
TIMELINE_ROWS = {"server": (3, SERVER), "up": (2, NETWORK), "down": (2, NETWORK), "client": (1, CLIENT)}


def _timeline(plt, st: AppState, view: View) -> Paint | None:
    name, res = shown_result(st, view)
    d = st.scenario.deadline_ms
    split = st.prefill_end_ms.get(name)     # with output tokens: prefill, then one decode step
    segs = st.timelines.get(name, ())
    if split is not None:
        limit = st.scenario.ttft_ms
        hi = max(segs[-1][2] if segs else split, limit or 0.0) * 1.05
    else:
        hi = max(d, res.latency_ms if res is not None and res.latency_ms is not None else d) * 1.05
    lines: list[Line] = []
    labels: list[Label] = []
    if res is not None:
        rows = max(3, view.height - 4)                 # plot rows; each band fills ~60 % of its third
        thick = np.arange(-0.3, 0.3 + 1e-9, 1.5 / rows) if rows >= 9 else [0.0]   # half-row steps
        for row, t0, t1 in segs:
            y, colour = TIMELINE_ROWS[row]
            lines += [([t0, max(t1, t0 + hi * 1e-4)], [y + dy, y + dy], rgb(colour)) for dy in thick]
            if row in ("up", "down") and (t1 - t0) * view.width >= 7 * hi:   # room for "↑12 ms"
                # on the bar itself: above it the label fell into the server lane on short plots
                labels.append((f"{'↑' if row == 'up' else '↓'}{t1 - t0:,.0f} ms", (t0 + t1) / 2, 2,
                               rgb("#ffffff"), rgb(NETWORK)))
    mark = d if split is None else split
    if split is None:
        plt.vline(d, rgb(DEADLINE))
    else:
        plt.vline(split, rgb(view.fg))
        if st.scenario.ttft_ms is not None:
            plt.vline(st.scenario.ttft_ms, rgb(DEADLINE))
    plt.yticks([1, 2, 3], ["client", "network", "server"])
    plt.ylim(0.5, 3.5)
    plt.xlim(0, hi)
    _x_ticks(plt, ticks_within(0, hi, max(2, view.width // 12)), _num, mark, 0.12 * hi)
    plt.xlabel("time (ms)" if split is None else "time (ms): prefill, then one decode step")
    return draw_lines(plt, lines, "█", labels)


def _timeline_caption(st: AppState, view: View) -> Caption:
    name, res = shown_result(st, view)
    d = st.scenario.deadline_ms
    if res is None:
        return Caption(f"Timeline: {name} finds no placement that meets {_num(d)} ms", style="bold red")
    legend = ((CLIENT, "██", "client"), (SERVER, "██", "server"), (NETWORK, "██", "transfer"))
    split = st.prefill_end_ms.get(name)
    if split is not None and res.ttft_ms is not None and res.tpot_ms is not None:
        limit = (DEADLINE, "┃", "TTFT limit") if st.scenario.ttft_ms is not None else (view.fg, "┃", "first token")
        return Caption(f"{name}: prefill {res.ttft_ms:,.1f} ms (TTFT), then a decode step {res.tpot_ms:,.1f} ms "
                       f"(TPOT) × {st.scenario.gen_tokens}; request {res.latency_ms:,.0f} of {_num(d)} ms:",
                       f"{name} TTFT {res.ttft_ms:,.0f} + TPOT {res.tpot_ms:,.1f} ms:", (*legend, limit))
    return Caption(f"Timeline of {name}: {res.latency_ms:,.1f} ms of {_num(d)} ms:",
                   f"{name} {res.latency_ms:,.0f}/{_num(d)} ms:", (*legend, (DEADLINE, "┃", "deadline")))


CHARTS: dict[str, tuple[Callable[[Any, AppState, View], Paint | None], Callable[[AppState, View], Caption]]] = {
    "frontier": (_frontier, _frontier_caption), "flops": (_flops, _flops_caption),
    "bandwidth": (_sweep, _sweep_caption), "timeline": (_timeline, _timeline_caption)}


