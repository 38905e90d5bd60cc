"""Charts (plotext): the deadline frontier, per-layer FLOPs by side, server share against bandwidth,
and a timeline of the selected solver's placement.

Each chart is a caption (title and a coloured legend, which never covers the data) over a plotext
plot. Shares always run 0..100 %; the current knob (deadline or bandwidth) is a vertical line with
its value as a bracketed tick. Every series comes computed in the `AppState` (see `tui/chart_data.py`):
render() only draws. A chart redraws only while it is on screen; otherwise it remembers
that its state changed and redraws when its tab is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
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

__all__ = ["Chart", "CHARTS", "Caption", "View"]

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
def _frontier(plt, st: AppState, view: View) -> None:
    f = st.frontier
    assert f is not None and st.baselines is not None   # a state without an error has both
    x = np.asarray(f.deadline_ms)
    keep = np.isfinite(f.server_share)
    step = max(1, int(keep.sum()) // 120)   # plotext build time grows with points
    samples, greedy, nosplit = st.baselines
    series = (("no-split", samples, nosplit), ("greedy", samples, greedy),
              ("dp", x[keep][::step], f.server_share[keep][::step]))   # dp last: on top at 100 %
    for name, xs, ys in series:
        ok = np.isfinite(ys)
        if ok.any():
            colour = PAPER_DP if name == "dp" else solver_colour(name, view.fg)
            plt.plot(xs[ok].tolist(), (100 * ys[ok]).tolist(), color=rgb(colour), marker="braille")
    _exact_steps(plt, view, float(x[-1]) if len(x) else st.scenario.deadline_ms)
    d, hi = st.scenario.deadline_ms, float(x[-1]) if len(x) else st.scenario.deadline_ms * 1.5
    plt.vline(d, rgb(DEADLINE))
    plt.xlim(0, hi)
    _x_ticks(plt, ticks_within(0, hi, max(2, view.width // 12)), _num, d, 0.12 * hi)
    _share_axis(plt, view)
    plt.xlabel("deadline (ms)")


def _exact_steps(plt, view: View, hi: float) -> None:
    """The exact frontier as a staircase (its share holds from each Pareto point to the next) and the cursor."""
    pts = [(d, s) for d, s in view.exact if d <= hi]
    if pts:
        xs = [v for (d, _), (d2, _) in zip(pts, [*pts[1:], (hi, 0)], strict=False) for v in (d, d2)]
        ys = [100 * s for _, s in pts for _ in (0, 1)]
        plt.plot(xs, ys, color=rgb(solver_colour("exact", view.fg)), marker="braille")
    if view.cursor is not None and view.cursor <= hi:
        plt.vline(view.cursor, rgb(CURSOR))


def _frontier_caption(st: AppState, view: View) -> Caption:
    f, exact = st.frontier, st.exact
    assert f is not None and exact is not None   # a state without an error has both
    if not np.isfinite(f.server_share).any():
        return Caption(f"No placement meets any deadline up to {f.deadline_ms[-1]:,.0f} ms (least latency "
                       f"{exact.min_latency_ms:,.1f} ms)", style="bold red")
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


def _flops(plt, st: AppState, view: View) -> None:
    flops = layer_values(st.profile, "flops", st.scenario.seq_len) / 1e9
    _, res = _shown_result(st, view)
    idx = np.arange(1, len(flops) + 1)
    if res is None:
        plt.bar(idx.tolist(), flops.tolist(), color=rgb("#808080"), width=1)
    else:
        side = np.asarray(res.policy)
        for value, colour in ((1, CLIENT), (0, SERVER)):
            sel = side == value
            if sel.any():
                plt.bar(idx[sel].tolist(), flops[sel].tolist(), color=rgb(colour), width=1)
    names = [layer.name for layer in st.profile.layers]
    gap = len(names) * 7 / max(10, view.width - 8)    # keep block labels ~7 columns apart
    ticks, last = [], -math.inf
    for start, label in blocks(names):
        if start - last >= gap:
            ticks.append((start + 1, label))
            last = start
    plt.xticks([t for t, _ in ticks], [label for _, label in ticks])
    plt.xlim(0.5, len(flops) + 0.5)
    plt.ylabel("GFLOP")


def _flops_caption(st: AppState, view: View) -> Caption:
    name, res = _shown_result(st, view)
    if res is None:
        return Caption(f"FLOPs per layer: {name} has no placement (grey)", style="bold red")
    return Caption(f"FLOPs per layer (GFLOP at seq {st.scenario.seq_len}), coloured by {name}'s side:",
                   f"GFLOP per layer ({name}):", ((CLIENT, "██", "client"), (SERVER, "██", "server")))


# ---- share against bandwidth -----------------------------------------------------------------------
def _sweep(plt, st: AppState, view: View) -> None:
    if st.sweep is None:
        return
    bws, lines = st.sweep.bandwidths, st.sweep.lines
    for name, ys in lines.items():
        ok = np.isfinite(ys)
        if ok.any():
            plt.plot(bws[ok].tolist(), ys[ok].tolist(), color=rgb(solver_colour(name, view.fg)),
                     marker="braille")
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


CHARTS = {"frontier": (_frontier, _frontier_caption), "flops": (_flops, _flops_caption),
          "bandwidth": (_sweep, _sweep_caption), "timeline": (_timeline, _timeline_caption)}


def _plain_hex(value: str, fallback: str) -> str:
    """A theme colour as #rrggbb; ANSI themes name terminal colours ("ansi_default"), which neither
    rich styles nor plotext can draw, so those get `fallback`."""
    try:
        colour = Color.parse(value)
    except Exception:   # a missing or odd theme variable
        return fallback
    return fallback if colour.ansi is not None else colour.hex


class ChartPlot(PlotextPlot):
    """The plot half of a Chart; rebuilt in `render`, so a hidden chart costs nothing."""

    def __init__(self, chart: "Chart") -> None:
        super().__init__()
        self.chart = chart

    def render(self):
        chart = self.chart
        if chart.dirty and chart.state is not None:
            chart.dirty = False
            self.plt.clear_figure()
            st = chart.state
            if not (st.error or not st.results):
                view = chart.view(self.size.width, self.size.height)
                CHARTS[chart.kind][0](self.plt, st, view)
        try:
            return super().render()
        except (ValueError, ZeroDivisionError, IndexError) as exc:   # plotext on degenerate data
            return Text(f"chart unavailable here ({exc})", style="dim")


class Chart(Vertical):
    """One of CHARTS drawn from an AppState: a caption line over the plot."""

    DEFAULT_CSS = """
    Chart { height: 1fr; }
    Chart > .chart-caption { height: auto; padding: 0 1; }
    Chart > ChartPlot { height: 1fr; }
    """

    def __init__(self, kind: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind = kind
        self.state: AppState | None = None
        self.selected = "dp"
        self.dirty = False
        self._caption_lines = 0
        self.exact: tuple[tuple[float, float], ...] = ()   # frontier chart: set by the app's frontier worker
        self.cursor: float | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="chart-caption")
        yield ChartPlot(self)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def on_resize(self) -> None:
        self._redraw()   # the caption's fit and the plot's ticks depend on the size

    def view(self, width: int = 60, height: int = 15) -> View:
        theme, dark = self.app.theme_variables, self.app.current_theme.dark
        fg = _plain_hex(theme.get("foreground", ""), "#e0e0e0" if dark else "#1e1e1e")
        bg = _plain_hex(theme.get("surface", ""), "#1e1e1e" if dark else "#f0f0f0")
        return View(selected=self.selected, fg=fg, bg=bg, width=width, height=height, exact=self.exact,
                    cursor=self.cursor)

    def show_state(self, state: AppState, selected: str = "dp") -> None:
        """Take a new state; the plot is rebuilt after the frame that shows the new numbers and
        strip, so a key press reaches the screen without waiting for plotext (~10-40 ms)."""
        self.state, self.selected = state, selected
        self._redraw()

    def redraw(self) -> None:
        """Redraw after the app changed `exact` or `cursor`."""
        self._redraw()

    def _redraw(self) -> None:
        if self.state is None:
            return
        st = self.state
        waiting = st.error or not st.results or (self.kind == "bandwidth" and st.sweep is None)
        caption = (Caption(st.error or "solving…", style="dim") if waiting
                   else CHARTS[self.kind][1](st, self.view()))
        width = self.size.width - 2 or 80
        text = caption.render(width)
        lines = max(1, -(-text.cell_len // max(1, width)))   # a caption that wraps needs a new layout
        self.query_one(".chart-caption", Static).update(text, layout=lines != self._caption_lines)
        self._caption_lines = lines
        self.dirty = True
        plot = self.query_one(ChartPlot)
        self.call_after_refresh(plot.refresh)
