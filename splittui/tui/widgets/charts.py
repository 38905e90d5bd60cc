"""Charts (plotext): the deadline frontier, per-layer FLOPs by side, server share against bandwidth,
and a timeline of the selected solver's placement.

Each chart is a caption (title and a coloured legend, which never covers the data) over a plotext
plot. Shares always run 0..100 %; the current knob (deadline or bandwidth) is a vertical line with
its value as a bracketed tick. Every series comes computed in the `AppState` (see `tui/chart_data.py`):
render() only draws. A chart redraws only while it is on screen; otherwise it remembers
that its state changed and redraws when its tab is shown.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from plotext._utility import braille_codes as BRAILLE
from plotext._utility import colors_to_ansi
from plotext._utility import no_color as NO_STYLE
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.reactive import reactive
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widgets import Static
from textual_plotext import PlotextPlot

from ...costs import layer_values
from ...model import Result
from ...report.formats import num as _num
from ...report.palette import CLIENT, DEADLINE, NETWORK, SERVER, rgb, solver_colour
from ...report.ticks import ticks_within
from ..chart_data import SWEEP_SOLVERS
from ..state import AppState
from .controls import fmt_mbps
from .strip import blocks

__all__ = ["Chart", "CHARTS", "Caption", "View", "build_chart", "bar_groups", "flops_bars", "braille_lines",
           "matrix_runs", "runs_text", "drawn_from", "ready"]

PAPER_DP = "#cc79a7"   # dp on the frontier chart: apart from exact, the optimum, drawn in the foreground
CURSOR = "#f0e442"   # the frontier cursor: a yellow apart from every solver and the deadline
Paint = Callable[[Any], None]   # draws on plotext's built matrix (the FLOPs bars)


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


def plot_size(plt, width: int, height: int) -> None:
    """Size a plot; plotsize alone caps it at the process's terminal size (textual-plotext's issue 5)."""
    plt.plotsize(width, height)
    plt._set_size(width, height)


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


# ---- braille lines ---------------------------------------------------------------------------------
Line = tuple[list[float], list[float], tuple[int, int, int]]   # x, y, colour


def braille_lines(plt, lines: list[Line]) -> Paint | None:
    """Draw `lines` as plotext's plot(..., marker="braille") would, on the built matrix: the same
    pixels by plotext's own rules (pixel rounding, line steps, 2x4 dots per cell, later lines on top;
    tests/tui/test_charts.py compares), without the ~25 list passes per point plotext makes."""
    if not lines:
        return None
    # two points far below the axes: plotext draws y ticks only for a plot with a series; at the
    # lines' least and largest x, they set the automatic x limits the lines would; off the canvas,
    # nothing of them is drawn
    xs = [x for line in lines for x in line[0]]
    plt.scatter([min(xs), max(xs)], [-1e30, -1e30], marker=" ")

    def paint(m) -> None:
        mon = plt.monitor
        (x0, x1), (y0, y1) = mon.xlim[0], mon.ylim[0]
        log_x = mon.xscale[0] == "log"
        cols, rows = m.Cols_canvas, m.Rows_canvas
        for xs, ys, colour in lines:
            for (cx, cy), char in _braille_cells([math.log10(v) for v in xs] if log_x else xs, ys,
                                                 (x0, x1, 2 * len(cols)), (y0, y1, 4 * len(rows))).items():
                if 0 <= cx < len(cols) and 0 <= cy < len(rows):
                    row, col = rows.start + cy, cols.start + cx
                    m.marker[row][col], m.fullground[row][col], m.style[row][col] = char, colour, NO_STYLE
    return paint


def _pixels(values: list[float], lo: float, hi: float, bins: int) -> list[int]:
    """plotext's get_matrix_data: value -> pixel (rounded to 8 digits, then floored; the same float steps)."""
    return [math.floor(round(0.5 + (bins - 1) * (v - lo) / (hi - lo), 8)) for v in values]


def _braille_cells(xs: list[float], ys: list[float], xlim: tuple[float, float, int],
                   ylim: tuple[float, float, int]) -> dict[tuple[int, int], str]:
    """Cell -> braille character of one line through the points, as plotext joins and groups them."""
    px, py = _pixels(xs, *xlim), _pixels(ys, *ylim)
    dots: set[tuple[int, int]] = {(px[-1], py[-1])}
    for i in range(len(px) - 1):
        a, b, c, d = px[i], px[i + 1], py[i], py[i + 1]
        n = max(abs(b - a), abs(d - c)) + 1   # get_line: that many steps, truncated toward zero
        sx, sy = ((b - a) / (n - 1), (d - c) / (n - 1)) if n > 1 else (0, 0)
        dots.update((int(a + k * sx), int(c + k * sy)) for k in range(n - 1))
    cells: dict[tuple[int, int], list[int]] = {}
    for x, y in dots:
        bits = cells.setdefault((x // 2, y // 4), [0] * 8)
        bits[2 * (3 - y % 4) + x % 2] = 1   # rows top first, two dots each (plotext's hd_group)
    return {cell: BRAILLE[tuple(bits)] for cell, bits in cells.items()}


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
    return braille_lines(plt, lines)


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
def _shown_result(st: AppState, view: View) -> tuple[str, Result | None]:
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
    _, res = _shown_result(st, view)
    colours = ([rgb("#808080")] * len(flops) if res is None or res.policy is None
               else [rgb(CLIENT if side else SERVER) for side in res.policy])
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
            for colour, v in sorted(tops.items(), key=lambda item: -item[1]):   # the shorter side in front
                top = min(len(rows), math.floor(round(0.5 + (len(rows) - 1) * v / bars.hi, 8)) + 1)
                for y in range(rows.start, rows.start + top):
                    for x in range(cols.start + g * per, min(cols.stop, cols.start + (g + 1) * per)):
                        m.marker[y][x], m.fullground[y][x] = "█", colour
    return paint


def _flops_caption(st: AppState, view: View) -> Caption:
    name, res = _shown_result(st, view)
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
    return braille_lines(plt, lines)


def _sweep_caption(st: AppState, view: View) -> Caption:
    sc = st.scenario
    legend = tuple((solver_colour(name, view.fg), "━━", name) for name in reversed(SWEEP_SOLVERS))
    return Caption(f"Server share vs bandwidth at deadline {_num(sc.deadline_ms)} ms:", "Share vs bandwidth:",
                   (*legend, (view.fg, "┃", f"now {fmt_mbps(sc.up_mbps)}")))


# ---- timeline --------------------------------------------------------------------------------------
TIMELINE_ROWS = {"server": (3, SERVER), "up": (2, NETWORK), "down": (2, NETWORK), "client": (1, CLIENT)}


def _timeline(plt, st: AppState, view: View) -> None:
    name, res = _shown_result(st, view)
    d = st.scenario.deadline_ms
    split = st.prefill_end_ms.get(name)     # with output tokens: prefill, then one decode step
    segs = st.timelines.get(name, ())
    if split is not None:
        limit = st.scenario.ttft_ms
        hi = max(segs[-1][2] if segs else split, limit or 0.0) * 1.05
    else:
        hi = max(d, res.latency_ms if res is not None and res.latency_ms is not None else d) * 1.05
    if res is not None:
        rows = max(3, view.height - 4)                 # plot rows; each band fills ~60 % of its third
        thick = np.arange(-0.3, 0.3 + 1e-9, 1.5 / rows) if rows >= 9 else [0.0]   # half-row steps
        for row, t0, t1 in segs:
            y, colour = TIMELINE_ROWS[row]
            for dy in thick:
                plt.plot([t0, max(t1, t0 + hi * 1e-4)], [y + dy, y + dy], color=rgb(colour), marker="█")
            if row in ("up", "down") and (t1 - t0) * view.width >= 7 * hi:   # room for "↑12 ms"
                # on the bar itself: above it the label fell into the server lane on short plots
                plt.text(f"{'↑' if row == 'up' else '↓'}{t1 - t0:,.0f} ms", x=(t0 + t1) / 2, y=2,
                         color=rgb("#ffffff"), background=rgb(NETWORK), alignment="center")
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


def _timeline_caption(st: AppState, view: View) -> Caption:
    name, res = _shown_result(st, view)
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


def drawn_from(kind: str, st: AppState, view: View) -> tuple:
    """What a chart's plot shows of `st` (besides `view`): a new state with the same key needs no redraw.
    Arrays are keyed by identity: `complete_state` passes them on unchanged."""
    if st.error or not st.results:
        return (st.error,)
    if kind == "frontier":
        return id(st.frontier), id(st.baselines), st.scenario.deadline_ms
    if kind == "bandwidth":
        return id(st.sweep), st.scenario.up_mbps
    name, res = _shown_result(st, view)
    if kind == "flops":
        return id(st.profile), st.scenario.seq_len, name, res.policy if res is not None else None
    sc = st.scenario
    return (name, st.timelines.get(name), st.prefill_end_ms.get(name), sc.deadline_ms, sc.ttft_ms,
            None if res is None else (res.latency_ms, res.policy))


def ready(kind: str, st: AppState, selected: str) -> bool:
    """Whether `st` holds what the chart draws (the worker adds hidden tabs' parts after a frame); an
    error state is ready at once, with nothing to draw."""
    if st.error is not None:
        return True
    if not st.results:
        return False
    need = {"frontier": st.parts.frontier, "bandwidth": st.sweep is not None, "timeline": st.parts.timelines}
    return need.get(kind, True) and (kind in ("frontier", "bandwidth") or selected in st.parts.solvers)


@functools.lru_cache(maxsize=1024)
def _cell_style(colours: tuple) -> Style | None:
    """The rich style plotext's ANSI codes for (fullground, style, background) decode to."""
    text = Text.from_ansi(colors_to_ansi(*colours) + "x")
    return text.spans[0].style if text.spans else None  # type: ignore[return-value]


Runs = list[list[tuple[str, Style | None]]]   # per row, top first: runs of text in one style


def matrix_runs(m) -> Runs:
    """A built plotext matrix as runs of equal colours per row: what `Text.from_ansi` of plotext's
    canvas string holds, without writing and parsing that string (most of a chart's time)."""
    rows = []
    for y in range(m.rows - 1, -1, -1):
        marks, fg, style, bg = m.marker[y], m.fullground[y], m.style[y], m.background[y]
        row: list[tuple[str, Style | None]] = []
        x0 = 0
        for x in range(1, m.cols + 1):
            if x == m.cols or (fg[x], style[x], bg[x]) != (fg[x0], style[x0], bg[x0]):
                row.append(("".join(marks[x0:x]), _cell_style(_hashable((fg[x0], style[x0], bg[x0])))))
                x0 = x
        rows.append(row)
    return rows


def _hashable(run: tuple) -> tuple:
    return tuple(tuple(c) if isinstance(c, list) else c for c in run)


def runs_text(rows: Runs) -> Text:
    """Runs as rich Text, equal (text and spans) to `Text.from_ansi` of plotext's canvas."""
    text = Text()
    for row in rows:
        for part, style in row:
            text.append(part, style)
        text.append("\n")   # from_ansi keeps the canvas's last newline too
    return text


def build_chart(plt, kind: str, st: AppState, view: View, theme: str | None = None) -> Runs:
    """Draw one of CHARTS on `plt` (a textual-plotext Plot) at the view's size, as runs per row."""
    plt.clear_figure()
    plot_size(plt, view.width, view.height)   # a chart may narrow it
    paint = CHARTS[kind][0](plt, st, view) if not (st.error or not st.results) else None
    if theme is not None:
        plt.theme(theme)
    try:
        plt._set_sizes()
        plt._build_matrix()
        if paint is not None:
            paint(plt.monitor.matrix)
        return matrix_runs(plt.monitor.matrix)
    except (ValueError, ZeroDivisionError, IndexError) as exc:   # plotext on degenerate data
        return [[(f"chart unavailable here ({exc})", Style(dim=True))]]


def _plain_hex(value: str, fallback: str) -> str:
    """A theme colour as #rrggbb; ANSI themes name terminal colours ("ansi_default"), which neither
    rich styles nor plotext can draw, so those get `fallback`."""
    try:
        colour = Color.parse(value)
    except Exception:   # a missing or odd theme variable
        return fallback
    return fallback if colour.ansi is not None else colour.hex


class ChartPlot(PlotextPlot):
    """The plot half of a Chart. It draws lines itself (Textual's line API): a plot is built once per
    change of what it shows, straight into strips, and a hidden plot is never built. Its strips hold
    what rendering `runs_text` would (tests/tui/test_charts.py compares them)."""

    def __init__(self, chart: "Chart") -> None:
        super().__init__()
        self.chart = chart
        self._key: tuple | None = None
        self._kept: AppState | None = None   # keeps the objects the key names by id alive
        self._runs: Runs = []
        self._stamp: tuple | None = None
        self._strips: list[Strip] = []

    def key(self) -> tuple | None:
        """What a build now would draw; None while the state lacks what the chart draws."""
        chart, (width, height) = self.chart, self.size
        if chart.state is None or not ready(chart.kind, chart.state, chart.selected):
            return None
        view = chart.view(width, height)
        return drawn_from(chart.kind, chart.state, view), view, self.app.theme

    def runs(self) -> Runs:
        """The current plot as runs per row, built if what it shows changed (kept while waiting)."""
        key = self.key()
        chart = self.chart
        if key is not None and key != self._key:
            assert chart.state is not None
            self._key, self._kept = key, chart.state
            self._runs = build_chart(self.plt, chart.kind, chart.state, key[1],
                                     self._get_plotext_theme_name(self.app.theme))
            chart.drawn(chart.state.generation)
        return self._runs

    def render(self) -> Text:
        return runs_text(self.runs())

    def render_line(self, y: int) -> Strip:
        stamp = (self.chart.stamp, self.size, self.visual_style, self.app.ansi_theme)
        if stamp != self._stamp:   # the chart redrew, or the size or the CSS changed
            self._stamp = stamp
            self._strips = self._to_strips(self.runs())
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _to_strips(self, rows: Runs) -> list[Strip]:
        """Runs as Textual renders their Text: each run's style over the widget's, with its offset in the
        style's meta (which also keeps runs of equal look apart when a screenshot joins segments)."""
        base = self.visual_style
        ansi = self.app.ansi_theme
        styles: dict[Style | None, VisualStyle] = {}
        strips = []
        for y, row in enumerate(rows):
            segments, x = [], 0
            for part, rich in row:
                style = styles.get(rich)
                if style is None:
                    span = [] if rich is None else [VisualStyle.from_rich_style(rich, ansi)]
                    style = styles[rich] = base + VisualStyle.combine([base, *span])
                segments.append(Segment(part, style.rich_style_with_offset(x, y)))
                x += len(part)
            strips.append(Strip(segments))
        return strips


class Chart(Vertical):
    """One of CHARTS drawn from the app's state (bound down): a caption line over the plot. A hidden
    chart only notes that it is out of date, and redraws when shown."""

    DEFAULT_CSS = """
    Chart { height: 1fr; }
    Chart > .chart-caption { height: auto; padding: 0 1; }
    Chart > ChartPlot { height: 1fr; }
    """

    state: reactive[AppState | None] = reactive(None, always_update=True, repaint=False)
    selected: reactive[str] = reactive("dp", repaint=False)

    def __init__(self, kind: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind = kind
        self.stamp = 0               # counts redraws: the plot's strips are checked when it moves
        self.shown_generation = -1   # the generation of the state the plot shows (benchmarks read it)
        self._shown = False
        self._caption: Text | None = None
        self.exact: tuple[tuple[float, float], ...] = ()   # frontier chart: set by the app's frontier worker
        self.cursor: float | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="chart-caption")
        yield ChartPlot(self)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())

    def on_show(self) -> None:
        self._shown = True
        self.redraw()

    def on_hide(self) -> None:
        self._shown = False

    def on_resize(self) -> None:
        self.redraw()   # the caption's fit and the plot's ticks depend on the size

    def watch_state(self) -> None:
        self.redraw()

    def watch_selected(self) -> None:
        self.redraw()

    def view(self, width: int = 60, height: int = 15) -> View:
        theme, dark = self.app.theme_variables, self.app.current_theme.dark
        fg = _plain_hex(theme.get("foreground", ""), "#e0e0e0" if dark else "#1e1e1e")
        bg = _plain_hex(theme.get("surface", ""), "#1e1e1e" if dark else "#f0f0f0")
        return View(selected=self.selected, fg=fg, bg=bg, width=width, height=height, exact=self.exact,
                    cursor=self.cursor)

    def drawn(self, generation: int) -> None:
        """The plot shows the state of this generation (built now, or unchanged by it)."""
        self.shown_generation = generation

    def redraw(self) -> None:
        """Caption and plot for the current state, selected solver, size, theme, `exact` and `cursor`;
        the plot is rebuilt (when next drawn) only if what it shows changed."""
        st = self.state
        self.stamp += 1
        if st is None or not self._shown:
            return
        drawable = ready(self.kind, st, self.selected)
        caption = (Caption(st.error or "solving…", style="dim") if st.error is not None or not drawable
                   else CHARTS[self.kind][1](st, self.view()))
        width = max(1, self.size.width - 2)
        text = caption.render(width)
        if text != self._caption:
            old = self._caption
            # only a caption that wraps onto more or fewer lines needs a new layout
            layout = old is None or -(-text.cell_len // width) != -(-old.cell_len // width)
            self.query_one(".chart-caption", Static).update(text, layout=layout)
            self._caption = text
        plot = self.query_one(ChartPlot)
        if not drawable:
            return
        if plot.key() != plot._key:
            plot.refresh()
        else:
            self.drawn(st.generation)
