"""InfeasibleBanner: says that no placement meets the deadline and the TTFT/TPOT limits, which one binds,
and which single knob would fix it (`solvers.fixes.diagnose`, run in a thread worker: every fix is
checked by an exact solve, the value as shown). When only DP finds nothing (its time unit T, or the
limits it does not enforce), `dp_warning` says why, on the status line (`StatusLine`): a warning that
comes and goes as a slider walks must not move the tabs below it (a layout of the whole screen).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ...model import Profile, Result, Scenario
from ...solvers.fixes import Diagnosis, Grids, fmt_fix_ms
from ..state import AppState
from .controls import BANDWIDTHS, DELAYS, GEN_TOKENS, fmt_ms, seq_values

__all__ = ["InfeasibleBanner", "app_grids", "limits_text", "dp_breaks_limits", "dp_warning"]


def app_grids(profile: Profile) -> Grids:
    """The values the app's knobs offer: a grid fix is one the user can set."""
    return Grids(bandwidths=tuple(BANDWIDTHS), delays=tuple(DELAYS), seq_lens=tuple(seq_values(profile)),
                 gen_tokens=tuple(n for n in GEN_TOKENS if n > 0))


def limits_text(sc: Scenario) -> str:
    """The constraints of a scenario in one phrase: "1,500.0 ms and TTFT ≤ 500.0 ms"."""
    parts = [f"TTFT ≤ {fmt_fix_ms(sc.ttft_ms)}"] if sc.ttft_ms is not None else []
    if sc.tpot_ms is not None and sc.gen_tokens:
        parts.append(f"TPOT ≤ {fmt_fix_ms(sc.tpot_ms)}")
    return " and ".join([fmt_fix_ms(sc.deadline_ms), *parts])


def dp_breaks_limits(dp: Result | None) -> list[str]:
    """The TTFT/TPOT limits DP's placement breaks (DP solves the deadline only, then checks them)."""
    if dp is None or dp.policy is None:
        return []
    return [lim for lim in ("TTFT", "TPOT") if any(v.startswith(lim) for v in dp.violations)]


def dp_warning(st: AppState | None) -> Text | None:
    """Why DP alone finds nothing that meets the limits while exact does (None where that is not so), in
    one line of a narrow terminal (the status line's)."""
    if st is None or st.tiers is not None or st.exact is None or not st.exact.feasible:
        return None
    dp = st.dp
    if dp is None or dp.feasible:
        return None
    broken = dp_breaks_limits(dp)
    if broken:
        return Text(f"dp breaks {' and '.join(broken)} (it ignores TTFT/TPOT limits); exact meets them", style="bold")
    return Text(f"DP at T = {fmt_ms(st.scenario.unit_ms)} finds nothing (times round up); exact does: lower T",
                style="bold")


class InfeasibleBanner(Widget):
    """Hidden while some placement meets the deadline and the limits."""

    DEFAULT_CSS = """
    InfeasibleBanner { height: auto; background: $error 30%; padding: 0 1; display: none; }
    InfeasibleBanner.-shown { display: block; }
    """

    state: reactive[AppState | None] = reactive(None, always_update=True, repaint=False)   # hidden: no repaint

    class Diagnosed(Message):
        """The fixes worker's answer for one (profile, scenario)."""

        def __init__(self, key: tuple, diagnosis: Diagnosis | None) -> None:
            super().__init__()
            self.key, self.diagnosis = key, diagnosis

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: tuple | None = None
        self.diagnosis: Diagnosis | None = None
        self._shown = Text("")   # the text last drawn

    def watch_state(self, st: AppState | None) -> None:
        if st is not None and st.tiers is not None:   # over tiers: exact says whether any placement fits
            ex = st.tiers.results.get("exact")
            self.set_class(ex is not None and not ex.feasible, "-shown")
            self._relayout()
            return
        exact = st.exact if st is not None else None
        infeasible = exact is not None and not exact.feasible
        self.set_class(infeasible, "-shown")
        if infeasible and st is not None:
            key = (id(st.profile), st.scenario)
            if key != self._key:
                self._key, self.diagnosis = key, None
                self._diagnose(key, st.profile, st.scenario)
        if infeasible:
            self._relayout()

    def _relayout(self) -> None:
        """Redraw when the words change, and lay the screen out only when their height does: the banner
        sits on the screen itself, so a layout is the whole screen's (10-40 ms on a long strip)."""
        text, was = self.render(), self._shown
        if text.plain == was.plain:
            return
        self._shown = text
        width = self.content_size.width
        if width <= 0:   # not laid out yet
            self.refresh(layout=True)
            return
        # the same height: the new words are a repaint of this widget, not a layout of the screen
        self.refresh(layout=len(text.wrap(self.app.console, width)) != len(was.wrap(self.app.console, width)))

    @work(thread=True, exclusive=True, group="fixes")
    def _diagnose(self, key: tuple, profile: Profile, sc: Scenario) -> None:
        from ...errors import SplittuiError
        from ...solvers.fixes import diagnose

        try:
            found: Diagnosis | None = diagnose(profile, sc, app_grids(profile))
        except SplittuiError:
            found = None
        self.post_message(self.Diagnosed(key, found))

    def on_infeasible_banner_diagnosed(self, event: Diagnosed) -> None:
        event.stop()
        if event.key == self._key:
            self.diagnosis = event.diagnosis
            self._relayout()

    def render(self) -> Text:
        st = self.state
        if st is not None and st.tiers is not None:
            ex = st.tiers.results.get("exact")
            if ex is None or ex.feasible:
                return Text("")
            return Text("INFEASIBLE ", style="bold reverse").append(
                f" no tier placement meets the deadline {limits_text(st.scenario)}; the least achievable latency "
                f"is {fmt_fix_ms(ex.min_latency_ms)}: raise the deadline or a hop's bandwidth", style="bold")
        if st is None or st.exact is None:
            return Text("")
        sc = st.scenario
        if st.exact.feasible:
            return Text("")
        text = Text("INFEASIBLE ", style="bold reverse")
        text.append(f" no placement meets the deadline {limits_text(sc)}", style="bold")
        d = self.diagnosis
        if self._key != (id(st.profile), sc):
            return text
        if d is None:
            return text.append(f"; the least achievable latency is {fmt_fix_ms(st.exact.min_latency_ms)}. "
                               "Finding fixes…", style="bold")
        text.append(f"; {d.reason}. ", style="bold")
        if d.fixes:
            text.append("Fix: " + " · or ".join(f.text for f in d.fixes))
        return text
