"""Charts drawn with plotext from a `splittui.sweep_summary.Chart`, for the command line and the app alike:
the caption (title and coloured legend, drawn above the plot so it never covers data), the plot with
round ticks, and the chart of a simulation's cumulative waits (Figs. 12-13).

rich and plotext are imported inside functions only, so `splittui --help` stays light.
"""

from __future__ import annotations

import math
import sys

from .formats import num
from .palette import CLIENT, NETWORK, SERIES_COLOURS, SERVER, SOLVER_COLOURS, rgb
from .ticks import nice_ticks, ticks_within

__all__ = ["draw_chart", "chart_text", "caption", "legend", "series_colours", "print_charts", "wait_chart"]

_MARKERS = ("o", "x", "+", "*", "#", "@", "%", "=")


def series_colours(labels: list[str]) -> list[str]:
    """One '#rrggbb' per series, from the app's palette: dp teal (work kept on the client), no-split
    orange (all on the server), greedy grey; other series (sequence lengths) take the palette in turn."""
    fixed = {"dp": CLIENT, "dp vs greedy": CLIENT, "no-split": SERVER, "exact": NETWORK,
             "greedy": SOLVER_COLOURS["greedy"], "single-split": SOLVER_COLOURS["single-split"]}
    if all(label in fixed for label in labels):
        return [fixed[label] for label in labels]
    return [SERIES_COLOURS[k % len(SERIES_COLOURS)] for k in range(len(labels))]


def legend(chart, *, color: bool = True) -> list[tuple[str, str, str]]:
    """(colour, glyph, label) per series, as drawn by `draw_chart`."""
    labels = [label for label, _, _ in chart.series]
    colours = series_colours(labels)
    glyphs = ["━━" if color else _MARKERS[k % len(_MARKERS)] * 2 for k in range(len(labels))]
    return list(zip(colours, glyphs, labels, strict=False))


def caption(chart, *, color: bool = True, log_y: bool = False, width: int = 100, title: str | None = None):
    """rich Text drawn above the plot so the legend never covers data: the title and the legend
    (coloured keys) on one line, or on two when that is wider than `width`."""
    from rich.style import Style
    from rich.text import Text

    empty = [label for label, _, ys in chart.series
             if not any(math.isfinite(y) and (y > 0 or not log_y) for y in ys)]

    def keys(gap: str, short: bool) -> Text:
        out = Text()
        for k, (colour, glyph, label) in enumerate(legend(chart, color=color)):
            if short and k and label.startswith("s="):
                label = label[2:]   # "━ s=128 ━ 256 ━ 512": the prefix once
            out.append(gap + (glyph[:1] if short else glyph), Style(color=colour if color else None, bold=True))
            out.append(" " + label)
        if empty:
            out.append(f"{gap}({'all 0' if log_y else 'no data'}: {', '.join(empty)})", style="dim")
        return out

    text = Text(chart.title if title is None else title, style="bold")
    line = keys("  ", False)
    if text.cell_len + line.cell_len <= width:
        return text.append_text(line)
    line = keys("  ", False)[2:]
    if line.cell_len > width:   # narrow: one-cell keys, one space apart
        line = keys(" ", True)[1:]
    return text.append("\n").append_text(line)


def draw_chart(plt, chart, *, color: bool = True, log_y: bool = False, height: int = 18) -> None:
    """Draw a `splittui.sweep_summary.Chart` on a plotext module/object (CLI) or PlotextPlot.plt (app).

    No title or legend inside the plot (see `caption`, drawn above it). y ticks are round numbers:
    0/25/50/75/100 on shares (chart.ylim), 1, 2, 2.5 or 5 x 10^k steps otherwise. log_y plots
    log10(y) with 1eK tick labels (plotext's own log scale re-applies itself on every build, which
    breaks a widget that renders more than once).
    """
    plt.clear_data()
    plt.xlabel(chart.xlabel)
    plt.ylabel(chart.ylabel)
    xs_all, ys_all = [], []
    for k, ((_, xs, ys), (colour, _, _)) in enumerate(zip(chart.series, legend(chart, color=color), strict=True)):
        pts = [(x, math.log10(y) if log_y else y) for x, y in zip(xs, ys, strict=False)
               if math.isfinite(y) and (y > 0 or not log_y)]
        if not pts:
            continue
        style = {"marker": "braille", "color": rgb(colour)} if color else {"marker": _MARKERS[k % len(_MARKERS)]}
        plt.plot([p[0] for p in pts], [p[1] for p in pts], **style)
        xs_all += [p[0] for p in pts]
        ys_all += [p[1] for p in pts]
    if not xs_all:
        return
    if log_y:
        _decade_ticks(plt, ys_all)
    else:
        _round_y_ticks(plt, chart, ys_all, height)
    if chart.xticks is not None:
        plt.xticks(list(chart.xticks[0]), list(chart.xticks[1]))
    else:   # the x range of every point, zeros dropped from a log plot included
        xs = [x for _, sx, sy in chart.series for x, y in zip(sx, sy, strict=False) if math.isfinite(y)]
        lo, hi = min(xs), max(xs)
        plt.xlim(lo, hi)
        ticks = ticks_within(lo, hi, 5)
        plt.xticks(ticks, [num(t) for t in ticks])


def _round_y_ticks(plt, chart, ys: list[float], height: int) -> None:
    count = 4 if height >= 12 else 2
    if chart.ylim is not None:
        lo, hi = chart.ylim
        lo, hi = min(lo, min(ys)), max(hi, max(ys))
    else:
        lo, hi = min(0.0, min(ys)), max(0.0, max(ys))
        if hi == lo:
            hi = lo + 1.0
    ticks = nice_ticks(lo, hi, count)
    plt.ylim(ticks[0], ticks[-1])
    plt.yticks(ticks, [num(t) for t in ticks])


def _decade_ticks(plt, logs: list[float]) -> None:
    lo, hi = math.floor(min(logs)), math.ceil(max(logs))
    step = max(1, (hi - lo + 5) // 6)
    ks = list(range(lo, hi + 1, step))
    plt.ylim(lo, max(hi, lo + 1))
    plt.yticks([float(k) for k in ks], [f"1e{k}" for k in ks])


def fresh_figure(plt) -> None:
    """Reset plotext's global figure. `plt.clear_figure()` only re-creates the *active* subplot, so
    after a figure with panels the next chart would be drawn (and `subplots` nested) inside the old
    grid's last panel, keeping its settings (a log scale, a title). Make the top figure active first."""
    from plotext import _core

    _core._figure._active = _core._figure
    plt.clear_figure()


def open_panels(plt, n: int) -> None:
    """A fresh plotext figure of `n` panels side by side (one panel: no grid, the figure itself)."""
    fresh_figure(plt)
    if n > 1:
        plt.subplots(1, n)


def select_panel(plt, j: int, n: int) -> None:
    """Draw into panel `j` (1-based) of a figure opened by `open_panels(plt, n)`."""
    if n > 1:
        plt.subplot(1, j)


def chart_text(chart, *, width: int, height: int = 18, color: bool = True, log_y: bool = False) -> str:
    """The plot alone (no caption), as text."""
    import plotext as plt

    fresh_figure(plt)
    plt.plotsize(width, height)
    plt.theme("clear")
    if not color:
        plt.clear_color()
    draw_chart(plt, chart, color=color, log_y=log_y, height=height)
    text = plt.build()
    return text if color else plt.uncolorize(text)


def print_charts(console, charts, *, log_y: bool = False) -> None:
    """Each chart: a caption line (title and legend) over the plot, 60..100 columns wide."""
    color = console.is_terminal
    width = max(60, min(console.width, 100))
    for chart in charts:
        console.print(caption(chart, color=color, log_y=log_y, width=width), width=width, overflow="fold")
        text = chart_text(chart, width=width, color=color, log_y=log_y)
        console.file.flush()
        sys.stdout.write(text + "\n\n")
        sys.stdout.flush()


def wait_chart(res):
    """Figs. 12-13: cumulative queue wait (s) against arrival time, one line per method."""
    from ..sweep_summary import Chart

    series = tuple((m, tuple(s.curve_t.tolist()), tuple(s.curve_cum_wait_s.tolist())) for m, s in res.stats.items())
    return Chart(f"Figs. 12-13: cumulative wait, β {res.beta_s:.3g} s", "arrival time, s",
                 "cum. wait, s", series)
