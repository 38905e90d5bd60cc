"""The banner sits on the screen itself, so its layout is the whole screen's: it asks for one only when
its words change height (issue 32), and always shows the words it was last given."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from splittui.tui.widgets.banner import InfeasibleBanner


class _One(App):
    def compose(self) -> ComposeResult:
        yield InfeasibleBanner(id="banner")

    def on_mount(self) -> None:
        self.query_one(InfeasibleBanner).add_class("-shown")


async def test_the_banner_lays_out_only_when_its_height_changes(monkeypatch) -> None:
    app = _One()
    async with app.run_test(size=(60, 10)) as pilot:
        banner = app.query_one(InfeasibleBanner)
        words = {"now": "short words"}
        monkeypatch.setattr(banner, "render", lambda: Text(words["now"]))
        asked: list[bool] = []
        real = banner.refresh

        def spy(*regions, **kw):
            asked.append(bool(kw.get("layout")))
            return real(*regions, **kw)

        monkeypatch.setattr(banner, "refresh", spy)
        banner._relayout()
        await pilot.pause()
        assert banner.region.height == 1
        cases = [("other words", False),             # new words, one line: a repaint only
                 ("other words", None),              # the same words: nothing at all
                 ("long " * 30, True),               # wraps to more lines: a layout
                 ("lengthy " * 19, False),           # as many lines: a repaint
                 ("short", True)]                    # back to one line: a layout
        for text, layout in cases:
            asked.clear()
            words["now"] = text
            banner._relayout()
            assert asked == ([] if layout is None else [layout]), text
            await pilot.pause()
            assert banner.region.height == len(Text(text).wrap(app.console, banner.content_size.width))
        shown = app.export_screenshot()   # what is on screen: the repaints drew the last words
        assert "short" in shown and "lengthy" not in shown
