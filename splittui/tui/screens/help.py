"""The help screen: every key the app binds, with what it does, grouped into sections and wrapped to
the terminal (a long description never gets cut at 80 columns); it scrolls when it is taller."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

__all__ = ["HelpScreen", "keys_table", "SCREEN_KEYS", "LEGEND"]

SCREEN_KEYS = [   # the keys of the other screens, listed after the main view's own bindings
    ("", "Goal (g) and frontier cursor (f)"),
    ("g, type 50, enter", "least deadline for server share ≤ 50 %: exact (the optimum) and dp (the paper's DP "
     "at T), meeting the TTFT/TPOT limits; enter on an answer sets the deadline knob"),
    ("g, tab, →", "seek the least uplink at the current deadline instead (enter sets the upload knob)"),
    ("f, ←/→, enter", "cursor on the exact frontier (Frontier tab): deadline, share, policy; enter sets the deadline"),
    ("enter or = on a knob", "type a value (2201.7, 2.5 s, 50M, 1G, a model name); bad input is refused with why"),
    ("", "Comparison view (c)"),
    ("←/→", "select a saved slot (column)"),
    ("r", "recall the selected slot into the main view"),
    ("n", "rename the selected slot"),
    ("d", "delete the selected slot (asks first)"),
    ("esc", "back to the main view"),
    ("", "Export dialog (e)"),
    ("tab, then ←/→", "choose which solver's policy to write (starts at the selected solver, v)"),
    ("enter", "write the file; an existing file is replaced only after y"),
    ("", "Experiments (x)"),
    ("r · c · j", "rerun · export CSV · export JSON"),
    ("esc", "close (cancels a running sweep)"),
    ("", "Capacity (k)"),
    ("r", "search again: the rate and clients one server holds under P90 TTFT / P99 TPOT (the TTFT/TPOT "
     "limits, else 1,000 / 50 ms) for all-server, greedy, exact per class and joint cuts"),
    ("esc", "close (cancels a running search)"),
    ("", "Energy (j)"),
    ("r", "solve again: exact at deadlines up to the scenario's and at caps on the client's joules, each answer "
     "polished to a Pareto-optimal one; charts of server share and latency against client J, and their table "
     "(estimates, the radio knob's radio)"),
    ("esc", "close (cancels a running solve)"),
    ("", "Tiers (--tier/--hop, --topology)"),
    ("P→E up/down/delay", "over a chain of tiers (also a policy file with tiers): each hop's knobs, named by "
     "the tiers' letters; ←/→ step, shift+←/→ a large step, enter types a value; every move re-solves dp, "
     "exact, no-split and all-client"),
    ("e (tiers)", "export the selected tier solver's placement: a splittui.policy file with its tiers section, which "
     "`splittui evaluate --policy` re-scores and `splittui --policy` reopens"),
    ("g f s c E P m o l x k j p", "two sides only: over tiers each of these says so in one line"),
]

LEGEND = [   # what the table, the strip and the frontier chart show
    ("", "What the numbers and marks mean"),
    ("vs greedy", "the paper's metric: how much more of the model stays on the client than greedy keeps, "
     "(client share − greedy's) / greedy's; ×N when greedy keeps almost nothing (N times greedy's share)"),
    ("hops", "client↔server transfers in the placement (each crossing sends activations over the link)"),
    ("side SSCC…", "the layer under the strip cursor: its side in each row, top to bottom (C client, S server, "
     "· no placement)"),
    ("▼", "the strip's layer cursor (←/→ on the strip); the layer is named below the strip"),
    ("exact / dp", "exact is the optimum; dp is the paper's DP at time unit T (deadlines rounded to whole T)"),
    ("pinned C S", "the strip's pins row: C a layer every solver must keep on the client, S on the server "
     "(P or ctrl+click cycles the cursor's layer; --pin-client/--pin-server at start)"),
    ("pins: … (without pins …)", "the cost of privacy: the selected solver's server share with the pins and "
     "without them"),
    ("P E C (tiers)", "over tiers: each layer's tier in the strip, one colour and one letter per tier (the "
     "topology's initials, else 1 2 3 4); the table gives each tier's share of the work"),
    ("memory (…, estimate)", "with a memory limit (m, --client-mem-gb): the selected placement's memory per side "
     "against it; a row that breaks a limit says 'does not fit'"),
]


def keys_table(rows: list[tuple[str, str]]) -> Table:
    """(key, description) rows; a row with an empty key is a section heading."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, description in rows:
        if key:
            table.add_row(key, description)
        else:
            table.add_row(Text(description, style="bold underline"), "")
    return table


class HelpScreen(ModalScreen[None]):
    """Show (key, description) pairs; Escape, q or ? closes; ↑/↓ PgUp/PgDn scroll."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 96; max-width: 100%; height: 100%;
        border: thick $primary; background: $panel; padding: 0 1;
    }
    HelpScreen .title { text-style: bold; width: 100%; }
    HelpScreen VerticalScroll { height: 1fr; }   /* inside the border, so the last rows scroll into view */
    HelpScreen #keys { height: auto; }
    HelpScreen .hint { color: $text-muted; width: 100%; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = list(bindings)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Keys", classes="title")
            yield Label("Esc, q or ? closes · ↑/↓ scroll · every action is also in the command palette "
                        "(ctrl+p)", classes="hint")
            with VerticalScroll(id="keys-scroll"):
                yield Static(keys_table(self.keys), id="keys")

    def on_mount(self) -> None:
        self.query_one("#keys-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
