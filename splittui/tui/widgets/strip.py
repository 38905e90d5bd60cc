"""PlacementStrip: one row per solver, one cell per layer (client and server coloured), transfers
marked with arrows, block boundaries labelled, and a cursor that names the layer under it.

When the chain is wider than the widget it wraps into segments if the height allows, otherwise
each cell covers k consecutive layers (a mixed cell is drawn half and half). Over a chain of tiers the
rows are the tier solvers' and each cell the tier's colour and letter (`tier_cells.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive

from ...costs import layer_values
from ...model import Result
from ...report.palette import CLIENT, CLIENT_CHAR, SERVER, SERVER_CHAR, no_color
from ...solvers.tiers import TierResult
from ..solver_results import dp_skipped
from ..state import AppState
from .text_lines import TextLines
from .tier_cells import tier_cell, tier_detail

__all__ = ["PlacementStrip", "CLIENT", "SERVER", "fmt_flops", "fmt_bytes", "blocks", "PIN_CLIENT", "PIN_SERVER"]

_SHORT = {"single-split": "single", "no-split": "no-split"}
PIN_CLIENT, PIN_SERVER = "C", "S"   # the pins row's marks (SPEC §10)
ROWS_KEPT = 64   # drawn rows kept per strip: a few states of every row and wrapped segment


@lru_cache(maxsize=32)
def _style(bg: str, fg: str, underline: bool, mark: bool) -> Style:
    # marks (arrows, cursor) get their own style, so a run of plain cells never ends in a glyph:
    # SVG viewers misplace a glyph that follows leading spaces inside one text run
    return Style(bgcolor=bg, color=fg, bold=mark, underline=underline)


def fmt_flops(v: float) -> str:
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} FLOP"


def fmt_bytes(v: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.0f} B"


def blocks(names: list[str]) -> list[tuple[int, str]]:
    """(first layer, label) of each run of layers sharing a name prefix (h3.attn.qkv -> h3)."""
    out: list[tuple[int, str]] = []
    for i, name in enumerate(names):
        head = name.split(".", 1)[0]
        if not out or out[-1][1] != head:
            out.append((i, head))
    return out


def pack_segments(block_starts: list[int], n: int, width: int) -> list[tuple[int, int]]:
    """Split layers 0..n-1 into rows of at most `width`, breaking at block starts where possible."""
    segs: list[tuple[int, int]] = []
    start = last = 0
    for end in [*block_starts[1:], n]:
        if end - start > width and last > start:
            segs.append((start, last))
            start = last
        while end - start > width:
            segs.append((start, start + width))
            start += width
        last = end
    return [*segs, (start, n)] if start < n else segs


def _shape(st: AppState) -> tuple[int, int, bool]:
    """What the strip's height depends on: its rows, its layers, and whether the pins row shows."""
    return len(_rows(st)), st.profile.n_layers, st.scenario.has_pins


def _rows(st: AppState) -> list:
    """(label, result) per row: the solvers' two-sided results, or over tiers the tier solvers'. A DP
    skipped for its table's size (no request deadline, `state.dp_skipped`) keeps its row, with no result: the
    strip's height stays as a deadline walks to the slider's top and back (no layout of the screen)."""
    if st.tiers is not None:
        return st.tiers.rows()
    rows: list[tuple[str, Result | None]] = list(st.rows())
    if "dp" not in st.results and dp_skipped(st.profile, st.scenario):
        rows.insert(0, ("dp", None))
    return rows


def _placement(res) -> tuple[int, ...] | None:
    """A row's placement: 1 client / 0 server per layer, or over tiers the tier of each layer."""
    if res is None:
        return None
    return res.tiers if isinstance(res, TierResult) else res.policy


@dataclass(frozen=True, slots=True)
class Layout:
    """How layers map to cells: `per_cell` layers per cell, rows of layers [a, b)."""

    per_cell: int
    segments: tuple[tuple[int, int], ...]


class PlacementStrip(TextLines, can_focus=True):
    """The placements of every solver, stacked; ←/→ move the layer cursor."""

    DEFAULT_CSS = """
    PlacementStrip { height: 1fr; min-height: 4; text-wrap: nowrap; text-overflow: ellipsis; }
    PlacementStrip:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "layer −", show=False),
        Binding("right", "move(1)", "layer +", show=False),
        Binding("shift+left,pagedown", "block(-1)", "block −", show=False),
        Binding("shift+right,pageup", "block(1)", "block +", show=False),
        Binding("home", "move(-100000)", show=False),
        Binding("end", "move(100000)", show=False),
        Binding("up", "app.focus_previous", show=False),
        Binding("down", "app.focus_next", show=False),
    ]

    state: reactive[AppState | None] = reactive(None, always_update=True, repaint=False)   # see NumbersPanel
    cursor: reactive[int] = reactive(0)
    selected: reactive[str] = reactive("dp")   # the solver whose label is highlighted

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[tuple, Text] = {}   # drawn policy rows (see _policy_row)
        self._blocks_of: tuple | None = None

    def validate_state(self, st: AppState | None) -> AppState | None:
        """Keep the last state with every solver's row: the worker adds the rows a chart tab does not
        show after that tab's frame (and the app dims this widget if it is shown meanwhile)."""
        return st if st is None or st.has_rows or self.state is None else self.state

    def validate_cursor(self, value: int) -> int:
        n = self.state.profile.n_layers if self.state else 1
        return max(0, min(n - 1, value))

    def watch_state(self, old: AppState | None, state: AppState | None) -> None:
        if state is None or state is old:
            return
        self.cursor = self.cursor  # re-clamp to the (maybe new) profile
        # a height: auto strip grows or shrinks with the rows
        self.refresh(layout=old is None or _shape(old) != _shape(state))

    def action_move(self, delta: int) -> None:
        self.cursor += delta

    def action_block(self, direction: int) -> None:
        if self.state is None:
            return
        starts = [i for i, _ in self._blocks(self.state.profile)]
        if direction > 0:
            self.cursor = next((s for s in starts if s > self.cursor), self.cursor)
        else:
            self.cursor = next((s for s in reversed(starts) if s < self.cursor), 0)

    def _blocks(self, profile) -> list[tuple[int, str]]:
        """`blocks` of the profile's layer names, kept for the last profile (read several times a frame)."""
        if self._blocks_of is None or self._blocks_of[0] is not profile:
            self._blocks_of = (profile, blocks([layer.name for layer in profile.layers]))
        return self._blocks_of[1]

    @property
    def _drawn(self) -> AppState:
        """The state being laid out or drawn (those run only once a state has arrived)."""
        assert self.state is not None
        return self.state

    # geometry
    def _label_width(self) -> int:
        """Room for the longest row label (a loaded policy's "file:exact"), at least 9 columns."""
        names = [_SHORT.get(name, name) for name, _ in _rows(self.state)] if self.state else []
        return max(9, min(16, 1 + max(map(len, names), default=0)))

    def _layout(self, width: int | None = None, height: int | None = None) -> Layout:
        """Wrapped rows if they fit in `height` (default: the widget's size), else compressed cells."""
        width = self.size.width if width is None else width
        height = self.size.height if height is None else height
        st = self._drawn
        n = st.profile.n_layers
        avail = max(1, width - self._label_width())
        rows = len(_rows(st)) + self._heads()
        starts = [i for i, _ in self._blocks(st.profile)]
        segs = pack_segments(starts, n, avail)
        for width in range(math.ceil(n / len(segs)), avail):   # balance the rows' lengths ...
            balanced = pack_segments(starts, n, width)
            if len(balanced) <= len(segs):
                # ... unless that leaves a third of a wide strip empty: then fill each row
                segs = balanced if 3 * max(b - a for a, b in balanced) >= 2 * avail else segs
                break
        if len(segs) == 1 or len(segs) * rows + 2 <= height:
            return Layout(1, tuple(segs))
        per = math.ceil(n / avail)
        return Layout(per, ((0, n),))

    def get_content_height(self, container, viewport, width: int) -> int:
        """With `height: auto` (tall screens) take what the wrapped rows need."""
        if self.state is None:
            return 1
        lay = self._layout(width, 10_000)
        return len(lay.segments) * (len(_rows(self.state)) + self._heads()) + 2

    def _heads(self) -> int:
        """Rows above each segment's policies: the block names, and the pins when there are any."""
        return 1 + (self.state is not None and self.state.scenario.has_pins)

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor to the layer; ctrl+click also cycles its pin (as P does)."""
        if self.state is None:
            return
        lay = self._layout()
        col = event.x - self._label_width()
        seg = event.y // (len(_rows(self.state)) + self._heads())
        if col >= 0 and seg < len(lay.segments):
            first, last = lay.segments[seg]
            self.cursor = min(last - 1, first + col * lay.per_cell)
            if event.ctrl:
                self.post_message(self.PinToggled(self.cursor))

    @dataclass
    class PinToggled(Message):
        """ctrl+click on a layer: cycle its pin (the app owns the scenario)."""

        layer: int

    # drawing
    def render(self) -> Text:
        if self.state is None or self.state.error:
            return Text((self.state.error or "") if self.state else "", style="red")
        lay = self._layout()
        out = Text(no_wrap=True, overflow="crop")
        rows = _rows(self.state)
        fit = max(1, self.size.height - 1 - self._heads()) if len(lay.segments) == 1 else len(rows)
        shown, hidden = (rows, 0) if len(rows) <= fit else (rows[: fit - 1], len(rows) - fit + 1)
        for first, last in lay.segments:
            out.append_text(self._label_row(first, last, lay.per_cell))
            if self._heads() > 1:
                out.append("\n").append_text(self._pin_row(first, last, lay.per_cell))
            for name, res in shown:
                out.append("\n")
                out.append_text(self._policy_row(name, res, first, last, lay.per_cell))
            out.append("\n")
        if hidden:   # a short terminal: say what is cut rather than cut it silently
            more = ", ".join(name for name, _ in rows[len(shown):])
            out.append(f"… {hidden} more row{'s' if hidden > 1 else ''} ({more}): make the terminal taller\n",
                       "yellow")
        used = len(lay.segments) * (len(shown) + self._heads()) + bool(hidden)
        out.append_text(self._detail(lay, 2 if self.size.height - used >= 2 else 1))
        return out

    def _label_row(self, first: int, last: int, per: int) -> Text:
        """Block names over their cells: each label stays within its own block (cut to fit), so a
        one-layer block (embed) never hides the next block's name."""
        lw = self._label_width()
        cells = [" "] * ((last - first + per - 1) // per)
        starts = self._blocks(self._drawn.profile)
        for k, (start, label) in enumerate(starts):
            end = min(last, starts[k + 1][0] if k + 1 < len(starts) else last)
            if not first <= start < last:
                continue
            col = (start - first) // per
            span = max(1, (end - first) // per - col if end < last else len(cells) - col)   # up to the next label
            mark = ("┊" + label) if span > len(label) else "┊"   # a whole name or none: never a wrong one
            for j, ch in enumerate(mark[: min(span, len(cells) - col)]):
                cells[col + j] = ch
        text = Text("layer".ljust(lw), style="dim")
        text.append("".join(cells), style="dim")
        cur = (self.cursor - first) // per
        if first <= self.cursor < last:   # the header only highlights: ▼ marks the cursor in the rows below
            text.stylize(Style(reverse=True, bold=True), lw + cur, lw + cur + 1)
        return text

    def _pin_row(self, first: int, last: int, per: int) -> Text:
        """The pins under the block names: C pinned to the client, S to the server, ± a cell holding both
        (letters, so NO_COLOR keeps them)."""
        sc = self._drawn.scenario
        client, server = set(sc.pin_client), set(sc.pin_server)
        lw = self._label_width()
        text = Text("pinned".ljust(lw), style="dim")
        for a in range(first, last, per):
            span = set(range(a, min(a + per, last)))
            c, s = bool(span & client), bool(span & server)
            glyph = "±" if c and s else PIN_CLIENT if c else PIN_SERVER if s else " "
            text.append(glyph, Style(color=CLIENT if c and not s else SERVER if s and not c else None, bold=True)
                        if glyph != " " else Style())
        return text

    def _policy_row(self, name: str, res, first: int, last: int, per: int) -> Text:
        """One solver's cells (kept per placement and cursor: a key press changes a few rows)."""
        sc = self._drawn.scenario
        key = (name, _placement(res), sc.start, sc.end, first, last, per, name == self.selected, self._label_width(),
               self.cursor if first <= self.cursor < last else -1)
        row = self._rows.get(key)
        if row is None:
            if len(self._rows) > ROWS_KEPT:
                self._rows.clear()
            row = self._rows[key] = self._build_row(name, res, first, last, per)
        return row

    def _build_row(self, name: str, res, first: int, last: int, per: int) -> Text:
        lw = self._label_width()
        text = Text().append(_SHORT.get(name, name)[: lw - 1], "bold reverse" if name == self.selected else "bold")
        text.append(" " * (lw - text.cell_len))
        policy = _placement(res)
        if policy is None:
            width = (last - first + per - 1) // per
            if res is None:   # not solved (see _rows)
                return text.append("·" * width if first else ("skipped: see the note " + "·" * width)[:width], "dim")
            return text.append("·" * width if first else ("infeasible " + "·" * width)[:width], "red dim")
        tiers = self._drawn.tiers
        if tiers is not None:   # over tiers: each tier's colour and letter
            topo = tiers.topology
            path = [topo.start, *policy, topo.end]
            cells = [tier_cell(path, a + 1, min(a + per, last) + 1, a <= self.cursor < a + per, topo.letters)
                     for a in range(first, last, per)]
        else:
            sides = self._sides(policy)
            cells = [self._cell(sides, a + 1, min(a + per, last) + 1, a <= self.cursor < a + per)
                     for a in range(first, last, per)]
        for style, run in groupby(cells, key=lambda cell: cell[1]):   # one span per run of equal cells
            text.append("".join(glyph for glyph, _ in run), style)
        return text

    def _sides(self, policy) -> list[int]:
        sc = self._drawn.scenario
        return [int(sc.start == "client"), *policy, int(sc.end == "client")]

    @staticmethod
    def _cell(sides: list[int], a: int, b: int, at_cursor: bool) -> tuple[str, Style]:
        """Cell for policy positions a..b-1 of `sides` (which holds start and end at the ends)."""
        part = sides[a:b]
        n = len(sides) - 2
        moves = [i for i in range(a, b) if sides[i] != sides[i - 1]]
        if b == n + 1 and sides[n + 1] != sides[n]:
            moves.append(n + 1)   # the answer crosses after the last layer
        up = any(sides[i] == 0 for i in moves)
        down = any(sides[i] == 1 for i in moves)
        plain = no_color()   # NO_COLOR: the sides as letters, since the cells' colours are gone
        if all(part):
            bg, fg, glyph = CLIENT, "white", CLIENT_CHAR if plain else " "
        elif not any(part):
            bg, fg, glyph = SERVER, "white", SERVER_CHAR if plain else " "
        else:
            bg, fg, glyph = SERVER, CLIENT, "▚"
        if up or down:
            glyph, fg = ("↕" if up and down else "↑" if up else "↓"), "white"
        glyph = "▼" if at_cursor and glyph == " " else glyph
        return glyph, _style(bg, fg, at_cursor, glyph != " ")

    def _detail(self, lay: Layout, lines: int) -> Text:
        """The layer under the cursor (one or two lines; the second adds times and the legend)."""
        st = self._drawn
        i = self.cursor
        if st.tiers is not None:
            return tier_detail(st.tiers, i, lay.per_cell, lines)
        layer = st.profile.layers[i]
        val = {f: float(layer_values(st.profile, f, st.scenario.seq_len)[i])
               for f in ("flops", "client_ms", "server_ms", "in_bytes")}
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{i + 1}/{st.profile.n_layers} ", "dim").append(layer.name, "bold")
        text.append(f" ({layer.kind}) · {fmt_flops(val['flops'])} · in {fmt_bytes(val['in_bytes'])} · ")
        pin = "client" if i in st.scenario.pin_client else "server" if i in st.scenario.pin_server else ""
        if pin:
            text.append(f"pinned to the {pin} · ", "bold")
        times = f"client {val['client_ms']:.3g} ms · server {val['server_ms']:.3g} ms"
        text.append("side ", "dim")
        for _, res in st.rows():
            on_client = res.policy is not None and res.policy[i]
            text.append("·" if res.policy is None else "C" if on_client else "S",
                        Style(color=CLIENT if on_client else SERVER, bold=True))
        text.append(" · " if lines < 2 else "\n").append(times + "  ")
        if lines < 2:
            return text
        text.append(" ", Style(bgcolor=CLIENT)).append("client ").append(" ", Style(bgcolor=SERVER))
        text.append("server ↑up ↓down ▼cursor · side: each row's side here (C/S) · ? explains")
        if lay.per_cell > 1:
            text.append(" ").append("▚", Style(color=CLIENT, bgcolor=SERVER)).append(f"mixed·{lay.per_cell}/cell")
        return text
