"""Base of the console's long text views: the line API draws only the visible lines, so a view of
100,000 output lines costs no more to scroll than one of ten."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineView(ScrollView):
    """Subclasses keep ``lines`` and say how one line looks in ``line_segments``."""

    lines: list

    def line_segments(self, index: int, base: Style) -> list[Segment]:
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        return Strip(self.line_segments(index, base)).crop_extend(scroll_x, scroll_x + width, base)
