"""NumbersPanel: per solver the server FLOP share (bar), latency against the deadline, switches,
improvement over greedy (SPEC §5) and solve time; then DP's latency breakdown and the DP–exact gap.
Over a chain of tiers, the tier table of `tier_numbers.py` instead.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive

from ...model import Result
from ...policy import improvement_over_greedy
from ...report.formats import gain as fmt_gain
from ...report.palette import CLIENT, NETWORK, SERVER
from ...report.tables import joules
from ..privacy import memory_line, privacy_line
from ..state import APP_SOLVERS, AppState
from .banner import dp_breaks_limits
from .text_lines import TextLines
from .tier_numbers import tier_lines, tier_table

__all__ = ["NumbersPanel", "share_bar"]

_EIGHTHS = " ▏▎▍▌▋▊▉█"
# cell text gets a (visually neutral) style of its own so that it never shares a text run with the
# padding before it: SVG viewers misplace text that follows leading spaces inside one run
_PLAIN = Style(italic=False)


def share_bar(share: float, width: int) -> Text:
    """A horizontal bar filled to `share` (0..1) with eighth-cell precision."""
    cells = max(0.0, min(1.0, share)) * width
    full = int(cells)
    part = _EIGHTHS[int((cells - full) * 8)].strip() if full < width else ""
    bar = Text().append("█" * full + part, style=SERVER)
    return bar.append("·" * (width - full - len(part)), style="dim")


def _ms(v: float) -> str:
    return f"{v:,.1f}" if v < 10_000 else f"{v:,.0f}"


def _opt_ms(v: float | None) -> str:
    return "-" if v is None else f"{_ms(v)} ms"


def _bold(text: str) -> Text:
    return Text().append(text, "bold")   # a span, so padding appended later stays plain


def _deadline(v: float) -> str:
    """The deadline beside a latency: as it is when that is exact (1,500 ms), else with the latency's
    precision, so that a met deadline never looks missed ("3,925.4 / 3,925 ms")."""
    short = f"{v:,.0f}" if v >= 100 else f"{v:g}"
    return short if float(short.replace(",", "")) == v else _ms(v)


def _why_not(r: Result) -> str:
    """A row's reason in a few words: the memory it does not fit, the pins or limits it breaks."""
    if any(v.startswith("does not fit") for v in r.violations):
        return "does not fit"
    broken = [lim for lim in ("TTFT", "TPOT") if any(v.startswith(lim) for v in r.violations)]
    if any(" is pinned to the " in v for v in r.violations):
        broken.append("pins")
    return "breaks " + "+".join(broken) if broken else "infeasible"


class NumbersPanel(TextLines):
    """The solver table for one `AppState`; `show_timings` off keeps snapshots deterministic."""

    DEFAULT_CSS = "NumbersPanel { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }"

    # repaint=False: watch_state repaints, and not for the same state again (a hidden widget's repaint
    # makes Textual rebuild its whole map of the screen in the next frame)
    state: reactive[AppState | None] = reactive(None, always_update=True, repaint=False)
    selected: reactive[str] = reactive("dp")   # the solver whose row is highlighted (and exported)

    def __init__(self, *, show_timings: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_timings = show_timings
        self._lines = 0

    def validate_state(self, st: AppState | None) -> AppState | None:
        """Keep the last state with every solver's row: the worker adds the rows a chart tab does not
        show after that tab's frame (and the app dims this widget if it is shown meanwhile)."""
        return st if st is None or st.has_rows or self.state is None else self.state

    def watch_state(self, old: AppState | None, st: AppState | None) -> None:
        if st is old:
            return
        if st is not None and st.tiers is not None and not st.error:
            lines = tier_lines(st)
            self.refresh(layout=lines != self._lines)
            self._lines = lines
            return
        lines = 1 if st is None or st.error else (len(st.rows()) + 3 + bool(st.note) + st.scenario.has_pins
                                                  + st.scenario.has_memory_limits)
        self.refresh(layout=lines != self._lines)   # only a change of height needs a new layout
        self._lines = lines

    def render(self) -> Text:
        st = self.state
        if st is None:
            return Text("solving…", style="dim")
        if st.error:
            return Text(f"cannot solve: {st.error}", style="bold red")
        if st.tiers is not None:
            return tier_table(st, self.selected, self.size.width, self.show_timings)
        text = self._table(st)
        for line in (self._breakdown(st), self._gap(st)):
            text.append("\n").append_text(line)
        for extra in (privacy_line(st, self.selected), memory_line(st, self.selected)):   # SPEC §10, when set
            if extra is not None:
                text.append("\n").append_text(extra)
        return text

    def _table(self, st: AppState) -> Text:
        """Fixed-width columns (a rich Table measures twice per frame: too slow per key press). With
        output tokens, the latency column is the whole request's and TTFT and TPOT columns join it."""
        gen = st.scenario.gen_tokens > 0
        wide = self.size.width >= 100
        bar_w = (max(24, min(90, self.size.width - 90)) if wide else 10) if not gen else (16 if wide else 3)
        cols = [("solver", 12), ("server share", bar_w + 8),
                ("request / deadline" if gen else "latency / deadline", 20)]
        if gen:
            cols += [("TTFT", 9), ("TPOT", 8)]
        energy = (wide, gen and self.size.width >= 130)   # client J per request; J per decode token if room
        if energy[0]:
            cols.append(("client J", 9))
        if energy[1]:
            cols.append(("J/tok", 8))
        cols += [("hops", 4), ("vs greedy", 9)] if wide or not gen else [("hops", 4)]
        if self.show_timings and (wide or not gen):
            cols.append(("solve", 9))
        text = Text(no_wrap=True)
        for i, (h, w) in enumerate(cols):
            text.append((h.ljust(w) if i < 2 else h.rjust(w)) + " ", style="bold")
        greedy = st.results.get("greedy")
        for name, res in st.rows():
            text.append("\n")
            cells = self._row(name, res, greedy, bar_w, st.scenario.deadline_ms, gen, energy=energy)
            for i, (cell, (_h, w)) in enumerate(zip(cells, cols, strict=False)):
                cell = cell if isinstance(cell, Text) else Text().append(cell, _PLAIN)  # see _PLAIN
                pad = " " * max(0, w - cell.cell_len)
                text.append_text(cell + Text(pad) if i < 2 else Text(pad) + cell).append(" ")
        return text

    def _row(self, name: str, r: Result, greedy: Result | None, bar_w: int, deadline: float,
             gen: bool = False, energy: tuple[bool, bool] = (False, False)) -> list:
        timing = f"{r.solve_ms:.1f} ms" if self.show_timings and name in APP_SOLVERS else ""
        times = [_opt_ms(r.ttft_ms), _opt_ms(r.tpot_ms)] if gen else []
        # the client's joules per request and per decode token (estimates: docs/energy.md)
        for on, v in zip(energy, (r.client_energy_j, r.client_j_per_token), strict=True):
            if on:
                times.append("-" if v is None or r.policy is None else joules(v))
        if not r.feasible or r.server_share is None or r.latency_ms is None:  # a feasible result has both
            lat = f"min {_ms(r.min_latency_ms)} ms" if r.latency_ms is None else f"{_ms(r.latency_ms)} ms"
            why = _why_not(r)
            return [self._solver_label(name), Text().append(why[: bar_w + 8], "bold red"), Text().append(lat, "red"),
                    *times, "-", "-", timing]
        gain = improvement_over_greedy(r, greedy) if greedy is not None else None
        share = share_bar(r.server_share, bar_w).append(f" {100 * r.server_share:5.1f} %")
        return [self._solver_label(name), share, f"{_ms(r.latency_ms)} / {_deadline(deadline)} ms", *times,
                str(r.switches), fmt_gain(gain), timing]

    def _solver_label(self, name: str) -> Text:
        return Text().append(name[:12], "bold reverse" if name == self.selected else "bold")

    def _breakdown(self, st: AppState) -> Text:
        dp = st.results.get(self.selected) or st.dp
        if dp is None or not dp.feasible or dp.breakdown is None or dp.latency_ms is None:
            return Text("")
        b = dp.breakdown
        text = Text(f"{dp.solver}: ", style="dim")
        for label, v, colour in (("client", b.client_ms, CLIENT), ("server", b.server_ms, SERVER),
                                 ("up", b.upload_ms, NETWORK), ("down", b.download_ms, NETWORK)):
            text.append(f"{label} ", style=colour).append(f"{_ms(v)}").append(" + " if label != "down" else "")
        text.append(f" = {_ms(dp.latency_ms)} ms")
        if dp.client_energy_j is not None:   # estimates (docs/energy.md)
            per = "" if dp.client_j_per_token is None else f", {joules(dp.client_j_per_token)} J per decode token"
            text.append(f" · client {joules(dp.client_energy_j)} J{per}", style="dim")
        return text

    def _gap(self, st: AppState) -> Text:
        dp, ex = st.dp, st.exact
        text = Text().append(st.note + "\n", style="yellow") if st.note else Text()
        if (dp is not None and ex is not None and dp.feasible and ex.feasible and dp.server_share is not None
                and ex.server_share is not None):
            gap = 100 * (dp.server_share - ex.server_share)
            text.append(f"DP–exact gap {gap:+.2f} pts server share (T = {st.scenario.unit_ms:g} ms)")
        elif broken := dp_breaks_limits(dp):
            text.append(f"dp does not enforce the TTFT/TPOT limits: it breaks {' and '.join(broken)}",
                        style="yellow")
        elif dp is not None and ex is not None and ex.feasible:
            text.append(f"DP finds nothing at T = {st.scenario.unit_ms:g} ms (rounding up); lower T",
                        style="yellow")
        if self.size.width >= 100 and any(r.client_energy_j is not None for r in st.results.values()):
            text.append((" · " if text.plain.strip("\n") and not text.plain.endswith("\n") else "")
                        + f"client J{', J/tok' if st.scenario.gen_tokens and self.size.width >= 130 else ''}: "
                        f"estimates, radio {st.scenario.radio}", style="dim")
        if self.show_timings:
            text.append((" · " if text.plain.strip("\n") and not text.plain.endswith("\n") else "")
                        + f"all solved in {st.solve_ms:.1f} ms", style="dim")
        return text

