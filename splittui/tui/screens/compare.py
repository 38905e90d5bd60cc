"""The comparison view: saved slots side by side, their DP strips stacked, what differs marked.

Keys: r recall the selected slot, n rename it, d delete it (after a confirm), Escape back. The screen
dismisses with a `CompareOutcome`: the slots as they are now, and the slot to recall (or None).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, TypeGuard

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from ...errors import SplittuiError
from ...report.palette import CLIENT_STYLE, MIXED_STYLE, SERVER_STYLE
from ...solvers import APP_SOLVERS
from ..dialogs import ConfirmScreen, PromptScreen
from ..slots import EXPORT_SOLVER, Slot, delete, differences, rename, result_key
from ..widgets.footer import SteadyFooter

__all__ = ["CompareOutcome", "CompareScreen", "SlotStrips", "compress_policy"]

DIFF_STYLE = "bold #f0e442"   # a pure yellow, well apart from the server orange
COLUMN_WIDTH = 14             # a slot's column (one space before it): four and the row labels fit in 80 columns


@dataclass(frozen=True)
class CompareOutcome:
    slots: tuple[Slot, ...]
    recall: int | None


@dataclass(frozen=True)
class _Row:
    keys: tuple[str, ...]  # names from slots.differences that mark this row as differing; (): the shown cells
    label: str
    cell: Callable[[Slot], str]
    heading: bool = False  # a label over the rows below it, with empty cells

    def differs(self, slots: tuple[Slot, ...], diffs: set[str]) -> bool:
        if self.heading:
            return False
        if self.keys:
            return any(k in diffs for k in self.keys)
        return len({self.cell(s) for s in slots}) > 1


def _source(slot: Slot, key: str, default: str) -> str:
    src = slot.profile.source if isinstance(slot.profile.source, dict) else {}
    return str(src.get(key) or slot.profile.extra.get(key) or default)


def _attention(slot: Slot) -> str:
    from ...attention import split_variant_name

    try:
        return str(split_variant_name(slot.profile.origin or slot.profile.model)[1].label)
    except Exception:   # a name that is no variant's: the full model
        return "full"


def _limit(v: float | None) -> str:
    return "off" if v is None else f"{v:,.1f} ms"


def _pct(r) -> str:
    if r is None:
        return "—"
    return "infeasible" if not r.feasible else f"{100 * r.server_share:.1f} %"


def _share_cell(solver: str, slot: Slot) -> str:
    return _pct(slot.results.get(solver))


def _latency(r) -> str:
    if r is None:
        return "—"
    if not r.feasible:
        return f"min {_ms(r.min_latency_ms)} ms"
    return f"{_ms(r.latency_ms)} ms"


def _ms(v: float) -> str:
    return f"{v:,.1f}" if v < 10_000 else f"{v:,.0f}"


def _rows() -> tuple[_Row, ...]:
    sc = lambda f, fmt: (lambda s: fmt.format(getattr(s.scenario, f)))  # noqa: E731
    dp = EXPORT_SOLVER
    rows = [
        _Row(("model",), "model", lambda s: s.profile.model),
        _Row((), "client", lambda s: _source(s, "client_device", "measured")),
        _Row((), "server", lambda s: _source(s, "server_device", "measured")),
        _Row((), "dtype", lambda s: _source(s, "dtype", "fp32")),
        _Row((), "attention", _attention),
        _Row(("seq_len",), "seq len", sc("seq_len", "{}")),
        _Row(("deadline_ms",), "deadline", sc("deadline_ms", "{:,.0f} ms")),
        _Row(("up_mbps",), "up", sc("up_mbps", "{:g} Mbit/s")),
        _Row(("down_mbps",), "down", sc("down_mbps", "{:g} Mbit/s")),
        _Row(("delay_ms",), "delay", sc("delay_ms", "{:g} ms")),
        _Row(("unit_ms", "rounding"), "T", lambda s: f"{s.scenario.unit_ms:g} ms {s.scenario.rounding}"),
        _Row(("start", "end"), "start→end", lambda s: f"{s.scenario.start}→{s.scenario.end}"),
        _Row(("objective",), "objective", sc("objective", "{}")),
        _Row(("gen_tokens",), "output", lambda s: f"{s.scenario.gen_tokens} tokens"),
        _Row(("ttft_ms",), "TTFT ≤", lambda s: _limit(s.scenario.ttft_ms)),
        _Row(("tpot_ms",), "TPOT ≤", lambda s: _limit(s.scenario.tpot_ms if s.scenario.gen_tokens else None)),
    ]
    rows.append(_Row((), "server share", lambda s: "", heading=True))
    for solver in APP_SOLVERS:
        keys = (result_key(solver, "server_share"), result_key(solver, "feasible"))
        rows.append(_Row(keys, f" {solver}", partial(_share_cell, solver)))
    rows.append(_Row((result_key(dp, "latency_ms"), result_key(dp, "feasible")), f"{dp} latency",
                     lambda s: _latency(s.results.get(dp))))
    rows.append(_Row((result_key(dp, "switches"),), f"{dp} switches",
                     lambda s: "—" if (r := s.results.get(dp)) is None or r.switches is None
                     else str(r.switches)))
    return tuple(rows)


ROWS = _rows()


def compress_policy(policy: tuple[int, ...], width: int) -> list[tuple[str, str]]:
    """Fit one cell per layer into `width` cells; a cell covering both sides is drawn as mixed.

    Returns (glyph, style) pairs, min(len(policy), width) of them.
    """
    n = len(policy)
    cells = min(n, max(1, width))
    out = []
    for i in range(cells):
        part = policy[i * n // cells:(i + 1) * n // cells]
        if all(part):
            out.append(("█", CLIENT_STYLE))
        elif not any(part):
            out.append(("█", SERVER_STYLE))
        else:
            out.append(("▒", MIXED_STYLE))
    return out


def _marks_needed(policies: list[tuple[int, ...] | None]) -> TypeGuard[list[tuple[int, ...]]]:
    """Mark differences only between two or more different DP policies of the same length."""
    if len(policies) < 2 or None in policies:
        return False
    return len({len(p) for p in policies if p is not None}) == 1 and len(set(policies)) > 1


def _diff_marks(policies: list[tuple[int, ...]], width: int) -> Text:
    """A marker line under the strips: ▲ where the slots' DP policies place a layer differently."""
    n = len(policies[0])
    cells = min(n, max(1, width))
    out = Text()
    for i in range(cells):
        lo, hi = i * n // cells, (i + 1) * n // cells
        differs = len({p[lo:hi] for p in policies}) > 1
        out.append("▲" if differs else " ", style=DIFF_STYLE)
    return out


class SlotStrips(Widget):
    """Each slot's DP placement strip, one row per slot, squeezed to the widget's width."""

    DEFAULT_CSS = "SlotStrips { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.slots: tuple[Slot, ...] = ()
        self.selected: int | None = None

    def show(self, slots: tuple[Slot, ...], selected: int | None) -> None:
        self.slots, self.selected = slots, selected
        self.refresh(layout=True)

    def _policies(self) -> list[tuple[int, ...] | None]:
        return [(r.policy if (r := s.results.get(EXPORT_SOLVER)) else None) for s in self.slots]

    def get_content_height(self, container, viewport, width: int) -> int:
        return 1 + len(self.slots) + _marks_needed(self._policies())

    def render(self) -> Text:
        label_w = min(16, max((len(self._label(s)) for s in self.slots), default=4))
        strip_w = max(4, self.size.width - label_w - 1)
        out = Text.assemble(" " * (label_w + 1), ("█", CLIENT_STYLE), " client  ", ("█", SERVER_STYLE),
                            " server  ", ("▒", MIXED_STYLE), " both  (DP, input → output)")
        out.no_wrap = True
        for slot, policy in zip(self.slots, self._policies(), strict=False):
            style = "reverse" if slot.number == self.selected else ""
            out.append("\n")
            out.append(self._label(slot)[:label_w].rjust(label_w), style=style)
            out.append(" ")
            self._append_strip(out, slot, policy, strip_w)
        policies = self._policies()
        if _marks_needed(policies):
            out.append("\n" + "differs".rjust(label_w) + " ", style=DIFF_STYLE)
            out.append_text(_diff_marks(policies, strip_w))
        return out

    @staticmethod
    def _label(slot: Slot) -> str:
        return f"#{slot.number} {slot.name}"

    @staticmethod
    def _append_strip(out: Text, slot: Slot, policy, width: int) -> None:
        if policy is None:
            r = slot.results.get(EXPORT_SOLVER)
            why = f"infeasible: least latency {r.min_latency_ms:,.1f} ms" if r else "no DP result"
            out.append(why[:width], style="red")
            return
        for glyph, style in compress_policy(policy, width):
            out.append(glyph, style=style)


class CompareScreen(Screen[CompareOutcome]):
    """Saved slots side by side; the table's cursor column is the selected slot."""

    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #compare-title { height: 1; width: 100%; text-style: bold; padding: 0 1; }
    CompareScreen #compare-table { height: 1fr; }
    CompareScreen #compare-strips { max-height: 40%; padding: 0 1; border-top: solid $primary; }
    CompareScreen #compare-empty { padding: 1 2; color: $text-muted; }
    """
    BINDINGS = [
        Binding("r", "recall", "Recall"),
        Binding("n", "rename", "Rename"),
        Binding("d", "delete", "Delete"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, slots: tuple[Slot, ...]) -> None:
        super().__init__()
        self.slots = tuple(slots)

    def compose(self) -> ComposeResult:
        yield Label("", id="compare-title")
        yield DataTable(cursor_type="column", cell_padding=0, id="compare-table")   # cells bring their own space
        yield Static("No saved scenarios yet: save one from the main view first.", id="compare-empty")
        yield SlotStrips(id="compare-strips")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self._rebuild(0)
        self.query_one("#compare-table", DataTable).focus()

    @property
    def selected(self) -> Slot | None:
        if not self.slots:
            return None
        column = self.query_one("#compare-table", DataTable).cursor_column
        return self.slots[min(max(column, 0), len(self.slots) - 1)]

    def _rebuild(self, column: int) -> None:
        """Refill the table and strips from self.slots, with the cursor on `column`."""
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        diffs = differences(self.slots)
        n = len(self.slots)
        title = f"Compare {n} saved scenario{'s' if n != 1 else ''}"
        if diffs:
            title += "  ·  ≠ and yellow: differs between slots"
        self.query_one("#compare-title", Label).update(title)
        self.query_one("#compare-empty").display = n == 0
        table.display = n > 0
        for slot in self.slots:
            table.add_column(Text(" " + f"#{slot.number} {slot.name}"[:COLUMN_WIDTH], justify="right"),
                             key=str(slot.number))
        for row in ROWS:
            differs = row.differs(self.slots, diffs)
            style = DIFF_STYLE if differs else "bold" if row.heading else ""
            label = Text(("≠" if differs else " ") + row.label + " ", style=style)
            cells = [Text(" " + row.cell(s), style=style, justify="right") for s in self.slots]
            if n:
                table.add_row(*cells, label=label)
        if n:
            table.move_cursor(column=min(column, n - 1))
        self._show_strips()

    def _show_strips(self) -> None:
        slot = self.selected
        self.query_one(SlotStrips).show(self.slots, None if slot is None else slot.number)

    @on(DataTable.ColumnHighlighted, "#compare-table")
    def _column_moved(self, event: DataTable.ColumnHighlighted) -> None:
        self._show_strips()

    def action_back(self) -> None:
        self.dismiss(CompareOutcome(self.slots, None))

    def action_recall(self) -> None:
        if (slot := self._need_slot()) is not None:
            self.dismiss(CompareOutcome(self.slots, slot.number))

    def action_rename(self) -> None:
        if (slot := self._need_slot()) is not None:
            self.app.push_screen(PromptScreen(f"Rename slot #{slot.number}", slot.name),
                                 lambda name: self._renamed(slot.number, name))

    def action_delete(self) -> None:
        if (slot := self._need_slot()) is not None:
            self.app.push_screen(ConfirmScreen(f"Delete slot #{slot.number} “{slot.name}”?"),
                                 lambda yes: self._deleted(slot.number, yes))

    def _need_slot(self) -> Slot | None:
        slot = self.selected
        if slot is None:
            self.notify("No saved scenarios.", severity="warning")
        return slot

    def _renamed(self, number: int, name: str | None) -> None:
        if name is None:
            return
        try:
            self.slots = rename(self.slots, number, name)
        except SplittuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self._rebuild(self.query_one("#compare-table", DataTable).cursor_column)

    def _deleted(self, number: int, yes: bool | None) -> None:
        if not yes:
            return
        column = self.query_one("#compare-table", DataTable).cursor_column
        self.slots = delete(self.slots, number)
        self._rebuild(max(0, column - (column >= len(self.slots))))
