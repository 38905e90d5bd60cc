"""InfeasibleBanner: says that no placement meets the deadline, the least achievable latency, and
which single knob would fix it (each suggestion is checked by recomputing the least latency).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...costs import costs_for, min_latency
from ...errors import SplittuiError
from ...model import Profile, Scenario
from ..state import AppState
from .controls import BANDWIDTHS, DELAYS, fmt_mbps, fmt_ms, seq_values

__all__ = ["InfeasibleBanner", "fixes"]


def _least_latency(profile: Profile, sc: Scenario) -> float:
    return min_latency(costs_for(profile, sc))


def _first_ok(grid: Sequence, ok: Callable[[object], bool]):
    """The first grid value that passes `ok`, assuming ok is monotone along the grid (bisection)."""
    lo, hi = 0, len(grid)
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(grid[mid]):
            hi = mid
        else:
            lo = mid + 1
    return grid[lo] if lo < len(grid) else None


def fixes(profile: Profile, sc: Scenario, least: float) -> list[str]:
    """One-knob changes that make the scenario feasible, cheapest first."""
    meets = lambda **kw: _least_latency(profile, sc.replace(**kw)) <= sc.deadline_ms  # noqa: E731
    out = [f"raise deadline to ≥ {fmt_ms(math.ceil(least * 10) / 10)}"]
    bw = _first_ok(BANDWIDTHS, lambda v: meets(up_mbps=v, down_mbps=v))
    if bw is not None and bw > min(sc.up_mbps, sc.down_mbps or sc.up_mbps):
        out.append(f"bandwidth ≥ {fmt_mbps(bw)}")
    delay = _first_ok(DELAYS[::-1], lambda v: meets(delay_ms=v))
    if delay is not None and delay < sc.delay_ms:
        out.append(f"delay ≤ {fmt_ms(delay)}")
    seqs = [s for s in seq_values(profile) if s < sc.seq_len][::-1]
    seq = _first_ok(seqs, lambda v: meets(seq_len=v))
    if seq is not None:
        out.append(f"seq len ≤ {seq}")
    return out


class InfeasibleBanner(Widget):
    """Hidden while some placement meets the deadline."""

    DEFAULT_CSS = """
    InfeasibleBanner { height: auto; background: $error 30%; padding: 0 1; display: none; }
    InfeasibleBanner.-shown { display: block; }
    InfeasibleBanner.-warning { background: $warning 25%; }
    """

    state: reactive[AppState | None] = reactive(None, always_update=True, repaint=False)   # hidden: no repaint

    def watch_state(self, st: AppState | None) -> None:
        exact, dp = (st.exact, st.dp) if st is not None else (None, None)
        infeasible = exact is not None and not exact.feasible
        dp_only = exact is not None and exact.feasible and dp is not None and not dp.feasible
        self.set_class(infeasible or dp_only, "-shown")
        self.set_class(dp_only, "-warning")
        if infeasible or dp_only:
            self.refresh(layout=True)   # its text (and so its height) changes with the knobs

    def render(self) -> Text:
        st = self.state
        if st is None or st.exact is None:
            return Text("")
        sc = st.scenario
        if st.exact.feasible:
            return Text(f"DP at T = {fmt_ms(sc.unit_ms)} finds no placement (times are rounded up to "
                        f"whole units); exact does: lower T", style="bold")
        least = st.exact.min_latency_ms
        text = Text("INFEASIBLE ", style="bold reverse")
        text.append(f" no placement meets {fmt_ms(sc.deadline_ms)}; the least achievable latency is "
                    f"{least:,.1f} ms. ", style="bold")
        try:
            text.append("Fix: " + " · or ".join(fixes(st.profile, sc, least)))
        except SplittuiError:
            pass
        return text
