"""Results grouped by tid with identical outcomes folded across targets (clubak-style).

Each group is one headline (tid, command, who failed and how); expanding it lists its variants
with their targets. Every line is selectable: enter opens the full output of the line's
representative target, ``y`` copies it, ``s`` saves it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.events import Click
from textual.geometry import Size

from console.ui import bindings
from console.ui.fold import PENDING, TidGroup, Variant, headline, variant_line
from console.ui.messages.dispatch import RowHighlighted
from console.ui.widgets.line_view import LineView
from console.ui.widgets.row_actions import RowOutputActions


@dataclass(frozen=True)
class FanoutLine:
    text: str
    kind: str  # same, differs, problem, pending
    tid: int
    variant: int | None  # None: the group's headline


def _kind(variant: Variant) -> str:
    if variant.category == PENDING:
        return "pending"
    return "same" if variant.ok else "problem"


def _group_kind(group: TidGroup) -> str:
    if group.problems:
        return "problem"
    return _kind(group.variants[0]) if group.identical else "differs"


class FanoutView(RowOutputActions, LineView, can_focus=True):
    """Folded groups by default; ``expanded`` holds the tids opened with space."""

    BINDINGS = bindings.FANOUT
    COMPONENT_CLASSES = {
        "fanout-view--same", "fanout-view--differs", "fanout-view--problem", "fanout-view--pending",
        "fanout-view--cursor",
    }
    DEFAULT_CSS = """
    FanoutView { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.groups: list[TidGroup] = []
        self.expanded: set[int] = set()
        self.cursor = 0
        self.lines: list[FanoutLine] = [FanoutLine("No dispatch yet.", "pending", 0, None)]

    def show_groups(self, groups: list[TidGroup]) -> None:
        current = self.current_line
        self.groups = groups
        self._build(keep=(current.tid, current.variant) if current else None)

    def reset(self) -> None:
        self.expanded.clear()
        self.cursor = 0

    def _build(self, keep: tuple[int, int | None] | None) -> None:
        lines: list[FanoutLine] = []
        for group in self.groups:
            foldable = not (group.identical and group.total == 1)
            mark = ("▾ " if group.tid in self.expanded else "▸ ") if foldable else "  "
            lines.append(FanoutLine(mark + headline(group), _group_kind(group), group.tid, None))
            if group.tid in self.expanded and foldable:
                for index, variant in enumerate(group.variants):
                    lines.append(FanoutLine("    " + variant_line(variant), _kind(variant), group.tid, index))
        self.lines = lines or [FanoutLine("No commands.", "pending", 0, None)]
        if keep is not None:
            for index, line in enumerate(self.lines):
                if (line.tid, line.variant) == keep:
                    self.cursor = index
                    break
        self.cursor = max(0, min(self.cursor, len(self.lines) - 1))
        self.virtual_size = Size(max(cell_len(line.text) for line in self.lines), len(self.lines))
        self.refresh()

    @property
    def current_line(self) -> FanoutLine | None:
        if not self.groups or not 0 <= self.cursor < len(self.lines):
            return None
        return self.lines[self.cursor]

    def current_variant(self) -> tuple[TidGroup, Variant] | None:
        line = self.current_line
        if line is None:
            return None
        group = next((g for g in self.groups if g.tid == line.tid), None)
        if group is None:
            return None
        return group, group.variants[line.variant or 0]

    @property
    def cursor_key(self) -> tuple[str, int] | None:
        """The (target, tid) whose output stands for the selected line."""
        found = self.current_variant()
        if found is None:
            return None
        group, variant = found
        return (variant.targets[0], group.tid)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def _move_to(self, index: int) -> None:
        if not self.groups:
            return
        self.cursor = max(0, min(len(self.lines) - 1, index))
        top, height = int(self.scroll_y), max(1, self.size.height)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(RowHighlighted(self.cursor_key))

    def action_cursor_up(self) -> None:
        self._move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_to(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move_to(self.cursor - max(1, self.size.height))

    def action_page_down(self) -> None:
        self._move_to(self.cursor + max(1, self.size.height))

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(len(self.lines) - 1)

    def action_toggle(self) -> None:
        line = self.current_line
        if line is None:
            return
        if line.tid in self.expanded:
            self.expanded.discard(line.tid)
            self._build(keep=(line.tid, None))
        else:
            self.expanded.add(line.tid)
            self._build(keep=(line.tid, line.variant))
            self.call_after_refresh(self._reveal_group, line.tid)

    def _reveal_group(self, tid: int) -> None:
        """Scroll so an opened group's variants are in view, its headline kept on screen."""
        last = max(i for i, line in enumerate(self.lines) if line.tid == tid)
        top, height = int(self.scroll_y), max(1, self.size.height)
        if last >= top + height:
            self.scroll_to(y=min(self.cursor, last - height + 1), animate=False, immediate=True)

    def action_collapse(self) -> None:
        line = self.current_line
        if line is not None and line.tid in self.expanded:
            self.expanded.discard(line.tid)
            self._build(keep=(line.tid, None))

    def on_click(self, event: Click) -> None:
        index = int(self.scroll_y) + event.y
        if 0 <= index < len(self.lines):
            self._move_to(index)

    def line_segments(self, index: int, base: Style) -> list[Segment]:
        line = self.lines[index]
        style = base + self.get_component_rich_style(f"fanout-view--{line.kind}")
        if index == self.cursor and self.groups:
            style = style + self.get_component_rich_style("fanout-view--cursor")
        return [Segment(line.text, style)]
