"""`TextLines`: a widget whose `render()` returns a rich Text, drawn through Textual's line API one
line at a time, each line converted by Textual's own path (`visualize` → `Visual.to_strips`) only
when it changed.

A key press changes a few lines of the placement strip or the solver table, but Textual converts
the whole Text again on every repaint, and for those widgets that conversion was most of their
frame (styled runs per cell). Here a line that is equal to one drawn before (same text, spans, width
and widget style) reuses its strip; the strips are the ones Textual would draw (tests/tui/
test_text_lines.py compares them segment by segment).

A hidden widget (its tab not shown) does not repaint: Textual takes a repaint of a widget outside its
map of the screen for a new widget and rebuilds that whole map, every tab's widgets, before the next
frame. Its refreshes wait until it is shown again.
"""

from __future__ import annotations

from collections import OrderedDict

from rich.text import Text
from textual import events
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

__all__ = ["TextLines", "LINES_KEPT"]

LINES_KEPT = 512   # converted lines kept per widget (a few states of every line)


class TextLines(Widget):
    """Base for a widget that renders a rich Text: subclasses implement `render()` as usual."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._version = 0                     # bumped by every refresh: render() may draw otherwise
        self._stamp: tuple | None = None
        self._text_lines: list[Text] = []
        self._converted: OrderedDict[tuple, Strip] = OrderedDict()
        self._hidden = False
        self._pending: bool | None = None   # a refresh while hidden (True: with a new layout)

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        self._version += 1
        if self._hidden and not recompose:
            self._pending = bool(self._pending) or layout
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    # Textual calls each class's handler in the MRO: Widget's own runs too, not through super()
    def _on_hide(self, event: events.Hide) -> None:
        self._hidden = True

    def _on_show(self, event: events.Show) -> None:
        self._hidden = False
        if self._pending is not None:
            layout, self._pending = self._pending, None
            super().refresh(layout=layout)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.visual_style
        stamp = (self._version, self.size, style, self.app.ansi_theme)
        if stamp != self._stamp:
            self._stamp = stamp
            text = self.render()
            text = text if isinstance(text, Text) else Text(str(text))
            self._text_lines = text.split("\n", allow_blank=True)[: self.size.height]
        if y >= len(self._text_lines):
            return Strip.blank(width, style.rich_style)
        line = self._text_lines[y]
        if self.text_selection is not None:   # a selection restyles the text: nothing to reuse
            return self._convert(line, y, width)
        key = (y, width, line.plain, tuple(line.spans), line.style, style, self.app.ansi_theme)
        strip = self._converted.get(key)
        if strip is None:
            strip = self._converted[key] = self._convert(line, y, width)
            if len(self._converted) > LINES_KEPT:
                self._converted.popitem(last=False)
        else:
            self._converted.move_to_end(key)
        return strip

    def _convert(self, line: Text, y: int, width: int) -> Strip:
        """One line as Textual draws it at row y (the offsets in its styles' meta name the row)."""
        strips = Visual.to_strips(self, visualize(self, line), width, 1, self.visual_style)
        if not strips:
            return Strip.blank(width, self.visual_style.rich_style)
        return strips[0].apply_offsets(0, y) if y else strips[0]
