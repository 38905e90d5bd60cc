"""The placement strip's cells over a chain of tiers: one colour and one letter per tier (the topology's
letters: initials, else tier numbers), arrows where an activation crosses hops (↑ away from the first
tier, ↓ towards it), and the line under the strip naming the layer at the cursor and each row's tier there.

Colours: the first tier the client's teal, the last the server's orange (so two tiers would read as the
two-sided app), the tiers between green and violet-pink; the letter stays, so NO_COLOR loses nothing.
"""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style
from rich.text import Text

from ...costs import layer_values
from ...report.palette import CLIENT, SERVER
from ..tier_state import TierView

__all__ = ["tier_colours", "tier_cell", "tier_detail"]

_MIDDLE = ("#5f9e3f", "#b0589c")   # the tiers between the first and the last


def tier_colours(k: int) -> tuple[str, ...]:
    return (CLIENT, *_MIDDLE[: k - 2], SERVER)


@lru_cache(maxsize=64)
def _style(bg: str, fg: str, underline: bool, bold: bool) -> Style:
    return Style(bgcolor=bg, color=fg, bold=bold, underline=underline)


def tier_cell(path: list[int], a: int, b: int, at_cursor: bool, letters: str) -> tuple[str, Style]:
    """Cell for path positions a..b-1 (`path` holds the start tier, each layer's tier, the end tier): the
    tier's letter on its colour; a cell of several tiers shows the first on the colour of the last; an
    arrow where the activation moves (after the last layer: the answer's way to the end tier)."""
    n = len(path) - 2
    part = path[a:b]
    colours = tier_colours(len(letters))
    moves = [(path[i - 1], path[i]) for i in range(a, b) if path[i] != path[i - 1]]
    if b == n + 1 and path[n + 1] != path[n]:
        moves.append((path[n], path[n + 1]))
    up = any(j > i for i, j in moves)
    down = any(j < i for i, j in moves)
    glyph = letters[part[0]]
    bold = False
    if up or down:
        glyph, bold = ("↕" if up and down else "↑" if up else "↓"), True
    elif at_cursor:
        glyph, bold = "▼", True
    return glyph, _style(colours[part[-1]], "white", at_cursor, bold)


def tier_detail(view: TierView, i: int, per_cell: int, lines: int) -> Text:
    """The layer under the cursor, each row's tier there and (on two lines) the tiers' legend."""
    profile = view.profiles[-1]
    layer = profile.layers[i]
    topo = view.topology
    colours = tier_colours(topo.k)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{i + 1}/{profile.n_layers} ", "dim").append(layer.name, "bold")
    flops = float(layer_values(profile, "flops", view.scenario.seq_len)[i])
    text.append(f" ({layer.kind}) · {flops / 1e9:.3g} GFLOP · ")
    text.append("tier ", "dim")
    for _, res in view.rows():
        t = None if res.tiers is None else res.tiers[i]
        text.append("·" if t is None else topo.letters[t], Style(color=None if t is None else colours[t], bold=True))
    times = " · ".join(f"{topo.letters[k]} {view.phases.composite().time[k][i]:.3g} ms" for k in range(topo.k))
    text.append(" · " if lines < 2 else "\n").append(times + "  ")
    if lines < 2:
        return text
    for k, tier in enumerate(topo.tiers):
        text.append(f" {topo.letters[k]} ", Style(bgcolor=colours[k], color="white", bold=True))
        text.append(f" {tier.name} ")
    text.append("↑up ↓down ▼cursor · tier: each row's tier here · ? explains")
    if per_cell > 1:
        text.append(f" · {per_cell} layers/cell (the first's letter, the last's colour)")
    return text
