"""Drawing on plotext's built matrix and reading it back, for the app's charts: lines (braille or
block markers) and labels drawn by plotext's own rules without its per-point list passes, and the
matrix as runs of equally styled text (what `Text.from_ansi` of plotext's ANSI canvas holds, without
writing and parsing that string).

Plotext internals used (here and in the FLOPs chart's paint): its matrix (marker, fullground, style,
background per cell; `Cols_canvas`/`Rows_canvas`; `add_multiple_horizontal_strings`), its monitor's
final limits and its braille table; tests/tui/test_charts.py checks the results against plotext's
own output (plotext is pinned <6).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from plotext._matrix import matrix_class
from plotext._utility import braille_codes as BRAILLE
from plotext._utility import colors_to_ansi
from plotext._utility import no_color as NO_STYLE
from plotext._utility import space as SPACE
from rich.style import Style
from rich.text import Text

__all__ = ["Paint", "Line", "Label", "Runs", "plot_size", "draw_lines", "matrix_runs", "runs_text"]


def _set_matrices(self) -> None:
    """plotext's `matrix_class.set_matrices` (the four per-cell matrices of a new canvas: blank markers and
    colours, the canvas colour inside the canvas area and the axes colour outside it), built a row at a time
    instead of calling a lambda per cell (~2 ms of a 120x40 chart's ~10 ms build). Installed below for every
    plotext matrix; tests/tui/test_charts.py checks it against plotext's own."""
    rows, cols = self.rows, self.cols
    lo = min(max(self.Cols_canvas.start, 0), cols)
    hi = max(lo, min(self.Cols_canvas.stop, cols))
    inside = [self.axes_color] * lo + [self.canvas_color] * (hi - lo) + [self.axes_color] * (cols - hi)
    outside = [self.axes_color] * cols
    self.marker = [[SPACE] * cols for _ in range(rows)]
    self.fullground = [[NO_STYLE] * cols for _ in range(rows)]
    self.background = [(inside if row in self.Rows_canvas else outside)[:] for row in range(rows)]
    self.style = [[NO_STYLE] * cols for _ in range(rows)]


PLOTEXT_SET_MATRICES = matrix_class.set_matrices   # plotext's own (the tests compare)
matrix_class.set_matrices = _set_matrices

Paint = Callable[[Any], None]   # draws on plotext's built matrix (the FLOPs bars, braille lines)


def plot_size(plt, width: int, height: int) -> None:
    """Size a plot; plotsize alone caps it at the process's terminal size (textual-plotext's issue 5)."""
    plt.plotsize(width, height)
    plt._set_size(width, height)


Line = tuple[list[float], list[float], tuple[int, int, int]]   # x, y, colour
Label = tuple[str, float, float, tuple[int, int, int], tuple[int, int, int]]   # text centred at x, y; fg, bg


def draw_lines(plt, lines: list[Line], marker: str = "braille", labels: list[Label] | None = None) -> Paint | None:
    """Draw `lines` (then `labels`) as plotext's plot(..., marker=marker) and text(..., alignment="center")
    would, on the built matrix: the same cells by plotext's own rules (pixel rounding, line steps, 2x4
    braille dots per cell, later lines on top, labels over them; tests/tui/test_charts.py compares),
    without the ~25 list passes per point plotext makes."""
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
        fx, fy = (2, 4) if marker == "braille" else (1, 1)
        for xs, ys, colour in lines:
            cells = _line_cells(tuple(xs), tuple(ys), log_x, (x0, x1, fx * len(cols)), (y0, y1, fy * len(rows)),
                                marker)
            for (cx, cy), char in cells:
                if 0 <= cx < len(cols) and 0 <= cy < len(rows):
                    row, col = rows.start + cy, cols.start + cx
                    m.marker[row][col], m.fullground[row][col], m.style[row][col] = char, colour, NO_STYLE
        for text, x, y, colour, back in labels or ():
            cx, cy = _pixels([x], x0, x1, len(cols))[0], _pixels([y], y0, y1, len(rows))[0]
            m.add_multiple_horizontal_strings(cols.start + cx, rows.start + cy, text, colour, NO_STYLE, back,
                                              "center", False, True)
    return paint


@functools.lru_cache(maxsize=64)
def _line_cells(xs: tuple[float, ...], ys: tuple[float, ...], log_x: bool, xlim: tuple[float, float, int],
                ylim: tuple[float, float, int], marker: str) -> tuple[tuple[tuple[int, int], str], ...]:
    """The cells (and their characters) of one line at these limits. Kept: a key that moves only a marker
    line (the deadline on the frontier, the uplink on the bandwidth chart) redraws the same lines, and their
    pixels were most of a build (issue 32)."""
    dots = _line_dots([math.log10(v) for v in xs] if log_x else list(xs), list(ys), xlim, ylim)
    cells = _braille(dots) if marker == "braille" else dict.fromkeys(dots, marker)
    return tuple(cells.items())


def _pixels(values: list[float], lo: float, hi: float, bins: int) -> list[int]:
    """plotext's get_matrix_data: value -> pixel (rounded to 8 digits, then floored; the same float steps)."""
    return [math.floor(round(0.5 + (bins - 1) * (v - lo) / (hi - lo), 8)) for v in values]


def _line_dots(xs: list[float], ys: list[float], xlim: tuple[float, float, int],
               ylim: tuple[float, float, int]) -> set[tuple[int, int]]:
    """The pixels of one line through the points, as plotext's get_lines steps between them."""
    px, py = _pixels(xs, *xlim), _pixels(ys, *ylim)
    dots: set[tuple[int, int]] = {(px[-1], py[-1])}
    for i in range(len(px) - 1):
        a, b, c, d = px[i], px[i + 1], py[i], py[i + 1]
        n = max(abs(b - a), abs(d - c)) + 1   # get_line: that many steps, truncated toward zero
        sx, sy = ((b - a) / (n - 1), (d - c) / (n - 1)) if n > 1 else (0, 0)
        dots.update((int(a + k * sx), int(c + k * sy)) for k in range(n - 1))
    return dots


def _braille(dots: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Cell -> braille character of the dots in it (plotext's hd_group: 2 columns x 4 rows per cell)."""
    cells: dict[tuple[int, int], list[int]] = {}
    for x, y in dots:
        bits = cells.setdefault((x // 2, y // 4), [0] * 8)
        bits[2 * (3 - y % 4) + x % 2] = 1   # rows top first, two dots each
    return {cell: BRAILLE[tuple(bits)] for cell, bits in cells.items()}


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
            if x == m.cols or fg[x] != fg[x0] or style[x] != style[x0] or bg[x] != bg[x0]:
                row.append(("".join(marks[x0:x]), _style_of(fg[x0], style[x0], bg[x0])))
                x0 = x
        rows.append(row)
    return rows


def _style_of(fg, style, bg) -> Style | None:
    try:
        return _cell_style((fg, style, bg))
    except TypeError:   # a colour given as a list
        return _cell_style(tuple(tuple(c) if isinstance(c, list) else c for c in (fg, style, bg)))


def runs_text(rows: Runs) -> Text:
    """Runs as rich Text, equal (text and spans) to `Text.from_ansi` of plotext's canvas."""
    text = Text()
    for row in rows:
        for part, style in row:
            text.append(part, style)
        text.append("\n")   # from_ansi keeps the canvas's last newline too
    return text


