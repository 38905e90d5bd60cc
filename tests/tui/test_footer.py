"""The footer is rebuilt when the keys it shows change, and only then (issue 32: Textual's footer rebuilds
itself, a widget per key, on every focus move and tab switch)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Button
from textual.widgets._footer import FooterKey
from tui_helpers import settle

from splittui.tui.app import make_app
from splittui.tui.widgets.footer import SteadyFooter


def _counting(monkeypatch) -> list[int]:
    calls = [0]
    original = SteadyFooter.recompose

    async def counted(self):
        calls[0] += 1
        return await original(self)

    monkeypatch.setattr(SteadyFooter, "recompose", counted)
    return calls


async def test_focus_moves_and_tab_switches_keep_the_footer(monkeypatch):
    calls = _counting(monkeypatch)
    app = make_app(show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        footer = app.query_one(SteadyFooter)
        keys = [k.key for k in footer.query(FooterKey)]
        assert "g" in keys and "q" in keys   # it draws the main view's keys
        before = calls[0]
        for key in ("down", "down", "up", "2", "3", "1"):
            await pilot.press(key)
            await settle(pilot)
        assert calls[0] == before
        assert [k.key for k in footer.query(FooterKey)] == keys


class _Toggle(App):
    BINDINGS = [Binding("a", "act", "Act"), Binding("t", "toggle", "Toggle")]
    enabled = True

    def compose(self) -> ComposeResult:
        yield Button("one")
        yield Button("two")
        yield SteadyFooter()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return True if self.enabled or action != "act" else None   # None: shown, dimmed

    def action_toggle(self) -> None:
        self.enabled = not self.enabled
        self.refresh_bindings()


async def test_a_key_that_changes_state_is_redrawn(monkeypatch):
    calls = _counting(monkeypatch)
    app = _Toggle()
    async with app.run_test() as pilot:
        await pilot.pause()

        footer = app.query_one(SteadyFooter)
        for _ in range(50):   # the footer's first build may land a few pauses after mount
            if footer._shown is not None:
                break
            await pilot.pause(0.01)

        def act_enabled() -> bool:
            return [enabled for (key, _, _, _, enabled, _) in footer._shown[0] if key == "a"] == [True]

        assert act_enabled()
        before = calls[0]
        await pilot.press("tab")    # focus moves: the keys shown stay
        await pilot.pause()
        assert calls[0] == before
        await pilot.press("t")      # `a` is disabled: the footer is rebuilt to say so
        for _ in range(20):
            await pilot.pause()
            if calls[0] > before:
                break
        assert calls[0] == before + 1 and not act_enabled()
