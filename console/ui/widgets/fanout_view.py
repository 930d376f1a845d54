"""Results grouped by tid with identical outcomes folded across targets."""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size

from console.ui import bindings
from console.ui.fold import EXIT, PENDING, TidGroup, Variant, describe_group
from console.ui.widgets.line_view import LineView


def _kind(variant: Variant) -> str:
    if variant.category == PENDING:
        return "pending"
    return "same" if variant.category == EXIT and variant.rc == 0 else "problem"


class FanoutView(LineView, can_focus=True):
    """One headline per tid; variants that differ are listed under it."""

    BINDINGS = bindings.FANOUT
    COMPONENT_CLASSES = {"fanout-view--same", "fanout-view--differs", "fanout-view--problem", "fanout-view--pending"}
    DEFAULT_CSS = """
    FanoutView { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.lines: list[tuple[str, str]] = [("No dispatch yet.", "pending")]

    def show_groups(self, groups: list[TidGroup]) -> None:
        lines: list[tuple[str, str]] = []
        for group in groups:
            text = describe_group(group)
            if group.identical:
                lines.append((text[0], _kind(group.variants[0])))
                continue
            lines.append((text[0], "differs"))
            lines.extend((line, _kind(variant)) for variant, line in zip(group.variants, text[1:]))
        self.lines = lines or [("No commands.", "pending")]
        self.virtual_size = Size(max(cell_len(t) for t, _ in self.lines), len(self.lines))
        self.refresh()

    @property
    def text(self) -> str:
        return "\n".join(t for t, _ in self.lines)

    def line_segments(self, index: int, base: Style) -> list[Segment]:
        text, kind = self.lines[index]
        style = base + self.get_component_rich_style(f"fanout-view--{kind}")
        return [Segment(text, style)]
