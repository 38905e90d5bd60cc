"""Chart widgets: one of the four charts (`chart_kinds.py`) drawn from the app's state, a caption line
over a plotext plot. A plot is built once per change of what it shows and drawn through Textual's
line API; a chart redraws only while it is on screen, otherwise it remembers that its state changed
and redraws when its tab is shown.
"""

from __future__ import annotations

import functools

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

from ..state import AppState
from ..tier_state import TIER_NOTE
from .chart_kinds import CHARTS, Caption, View, shown_result
from .plotext_canvas import Runs, matrix_runs, plot_size, runs_text

__all__ = ["Chart", "ChartPlot", "build_chart", "drawn_from", "ready"]


def drawn_from(kind: str, st: AppState, view: View) -> tuple:
    """What a chart's plot shows of `st` (besides `view`): a new state with the same key needs no redraw.
    Arrays are keyed by identity: `complete_state` passes them on unchanged."""
    if st.error or not st.results:
        return (st.error,)
    if kind == "frontier":
        return id(st.frontier), id(st.baselines), st.scenario.deadline_ms
    if kind == "bandwidth":
        return id(st.sweep), st.scenario.up_mbps
    name, res = shown_result(st, view)
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


@functools.lru_cache(maxsize=16384)
def _at(style: VisualStyle, x: int, y: int) -> Style:
    """A style with its offset in the meta, as Textual makes it; most runs keep both from one build of
    a chart to the next, and making one costs more than drawing it."""
    return style.rich_style_with_offset(x, y)


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
                segments.append(Segment(part, _at(style, x, y)))
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
        if st.tiers is not None and not st.error:   # over tiers: one line saying so, no plot
            self._tiers_shown(st)
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

    def _tiers_shown(self, st: AppState) -> None:
        text = Text(f"The {self.kind} chart {TIER_NOTE}.", style="yellow")
        if text != self._caption:
            self.query_one(".chart-caption", Static).update(text)
            self._caption = text
        self.query_one(ChartPlot).display = False
        self.drawn(st.generation)
