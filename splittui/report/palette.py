"""splittui's colours, defined once for the app and the command line: the two sides (client,
server), transfers, solvers and the deadline.

Every view (placement strip, share bars, latency breakdown, charts, comparison screen) takes its
colours from here, so client and server look the same everywhere. Sides are a colour-blind-safe
pair (teal and orange, which stay apart under red-green deficiency); red stays free for errors and
the deadline. Solver lines in the charts use colours that are not side colours.
"""

from __future__ import annotations

__all__ = ["CLIENT", "SERVER", "NETWORK", "DEADLINE", "SOLVER_COLOURS", "rgb", "CLIENT_CHAR", "SERVER_CHAR",
           "CLIENT_STYLE", "SERVER_STYLE", "MIXED_STYLE", "SERIES_COLOURS", "side_colour", "solver_colour",
           "no_color"]

CLIENT = "#2aa1b3"     # teal
SERVER = "#e8833a"     # orange
NETWORK = "#a97bd8"    # violet: uploads and downloads
DEADLINE = "#e0454f"   # red: the deadline line in charts
SOLVER_COLOURS = {     # chart lines; "" means the theme's foreground (strongest on any theme)
    "dp": "",
    "exact": "",
    "greedy": "#9a9a9a",
    "single-split": "#c9b458",
    "no-split": "#7f8fbf",
}

SERIES_COLOURS = (CLIENT, SERVER, NETWORK, SOLVER_COLOURS["single-split"], SOLVER_COLOURS["no-split"],
                  SOLVER_COLOURS["greedy"])   # series with no fixed colour (sequence lengths) take these in turn

# Colour is decoration only: with colour off (NO_COLOR, or not a terminal) placement strips draw the
# sides with these letters instead of coloured cells, in the CLI and the app alike.
CLIENT_CHAR = "C"
SERVER_CHAR = "S"

CLIENT_STYLE = f"bold {CLIENT}"
SERVER_STYLE = f"bold {SERVER}"
MIXED_STYLE = f"{SERVER} on {CLIENT}"


def rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' as an (r, g, b) tuple, the form plotext takes (no textual import: the CLI may share
    these colours)."""
    h = colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def no_color() -> bool:
    """Whether NO_COLOR asks for no colour (set and not empty, https://no-color.org)."""
    import os

    return bool(os.environ.get("NO_COLOR"))


def side_colour(on_client: bool) -> str:
    return CLIENT if on_client else SERVER


def solver_colour(name: str, foreground: str) -> str:
    """A solver's line colour; `foreground` (the theme's text colour) for the optimum."""
    return SOLVER_COLOURS.get(name) or foreground
