"""Output of one row: stdout then stderr, scrollable both ways, searchable with ``/``.

Lines are made inert once when a row is shown and drawn on demand, so a 256 KiB output scrolls as
quickly as a short one. Long lines scroll horizontally instead of breaking the layout. What is
drawn is for the eyes only: copy and save take the result's own text, never these lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive

from console.remsvc.model import CommandResult
from console.safetext import inert
from console.ui import bindings
from console.ui.messages.dispatch import OutputAction
from console.ui.widgets.line_view import LineView

MAX_LINE_CELLS = 4096


@dataclass(frozen=True)
class OutputLine:
    text: str
    kind: str  # "out", "err", "note"


def output_lines(result: CommandResult | None, note: str = "") -> list[OutputLine]:
    """The lines to show for one result: notes about flags, stdout, then stderr under a rule."""
    if result is None:
        return [OutputLine(note or "No output yet.", "note")]
    lines: list[OutputLine] = [OutputLine(f"rc {result.rc}" + (f" · {note}" if note else ""), "note")]
    if result.out_truncated or result.err_truncated:
        which = " and ".join(n for n, f in (("stdout", result.out_truncated), ("stderr", result.err_truncated)) if f)
        lines.append(OutputLine(f"{which} truncated by the server at 262,144 bytes; save keeps what arrived", "note"))
    if result.invalid_utf8:
        lines.append(OutputLine("output was not valid UTF-8: invalid bytes are shown as \ufffd", "note"))
    for text in inert(result.out, tab_width=8).split("\n") if result.out else []:
        lines.append(OutputLine(_cap(text), "out"))
    if result.out.endswith("\n"):
        lines.pop()
    if result.err:
        lines.append(OutputLine("── stderr ──", "note"))
        err_lines = inert(result.err, tab_width=8).split("\n")
        if result.err.endswith("\n"):
            err_lines.pop()
        lines.extend(OutputLine(_cap(t), "err") for t in err_lines)
    if not result.out and not result.err:
        lines.append(OutputLine("(no output)", "note"))
    return lines


def _cap(text: str) -> str:
    return text if len(text) <= MAX_LINE_CELLS else text[: MAX_LINE_CELLS - 1] + "…"


class OutputView(LineView, can_focus=True):
    """Scrollable, searchable text of one result."""

    BINDINGS = bindings.OUTPUT
    COMPONENT_CLASSES = {"output-view--err", "output-view--note", "output-view--match", "output-view--current-match"}
    DEFAULT_CSS = """
    OutputView { height: 1fr; }
    """

    query: reactive[str] = reactive("", init=False)

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.lines: list[OutputLine] = []
        self.matches: list[tuple[int, int, int]] = []
        self._by_line: dict[int, list[tuple[int, int, int]]] = {}
        self.current_match: int | None = None
        self._pattern: re.Pattern[str] | None = None

    def show(self, lines: list[OutputLine], *, keep_position: bool = False) -> None:
        self.lines = lines
        width = max((cell_len(line.text) for line in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if not keep_position:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self._find_matches()
        self.refresh()

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def watch_query(self, query: str) -> None:
        self._pattern = re.compile(re.escape(query), re.IGNORECASE) if query else None
        self._find_matches()
        self.current_match = None
        if self.matches:
            self.goto_match(0)
        self.refresh()

    def _find_matches(self) -> None:
        self.matches = []
        self._by_line = {}
        if self._pattern is None:
            return
        for y, line in enumerate(self.lines):
            for m in self._pattern.finditer(line.text):
                self._by_line.setdefault(y, []).append((len(self.matches), m.start(), m.end()))
                self.matches.append((y, m.start(), m.end()))
        if self.current_match is not None and self.current_match >= len(self.matches):
            self.current_match = None

    def goto_match(self, index: int) -> None:
        if not self.matches:
            return
        self.current_match = index % len(self.matches)
        y, start, _ = self.matches[self.current_match]
        top = int(self.scroll_y)
        if not top <= y < top + self.size.height:
            self.scroll_to(y=max(0, y - self.size.height // 2), animate=False, immediate=True)
        x = cell_len(self.lines[y].text[:start])
        if not int(self.scroll_x) <= x < int(self.scroll_x) + self.size.width:
            self.scroll_to(x=max(0, x - 4), animate=False, immediate=True)
        self.refresh()

    def match_status(self) -> str:
        if not self.query:
            return ""
        if not self.matches:
            return f"/{self.query}: no match"
        position = "" if self.current_match is None else f"{self.current_match + 1}/"
        return f"/{self.query}: {position}{len(self.matches)} matches"

    def scroll_to_end(self) -> None:
        self.scroll_to(y=max(0, len(self.lines) - self.size.height), animate=False, immediate=True)

    def action_top(self) -> None:
        self.scroll_to(0, 0, animate=False, immediate=True)

    def action_bottom(self) -> None:
        self.scroll_to_end()

    def action_toggle_follow(self) -> None:
        self.post_message(OutputAction("follow"))

    def action_search(self) -> None:
        self.post_message(OutputAction("search"))

    def action_next_match(self) -> None:
        if self.matches:
            self.goto_match(0 if self.current_match is None else self.current_match + 1)

    def action_previous_match(self) -> None:
        if self.matches:
            self.goto_match(-1 if self.current_match is None else self.current_match - 1)

    def action_copy(self) -> None:
        self.post_message(OutputAction("copy"))

    def action_save(self) -> None:
        self.post_message(OutputAction("save"))

    def action_back(self) -> None:
        self.post_message(OutputAction("back"))

    def line_segments(self, index: int, base: Style) -> list[Segment]:
        line = self.lines[index]
        style = base
        if line.kind != "out":
            style = base + self.get_component_rich_style(f"output-view--{line.kind}")
        return self._segments(index, line.text, style)

    def _segments(self, index: int, text: str, style) -> list[Segment]:
        spans = self._by_line.get(index)
        if not spans:
            return [Segment(text, style)]
        match_style = style + self.get_component_rich_style("output-view--match")
        current_style = style + self.get_component_rich_style("output-view--current-match")
        segments, pos = [], 0
        for number, start, end in spans:
            if start > pos:
                segments.append(Segment(text[pos:start], style))
            segments.append(Segment(text[start:end], current_style if number == self.current_match else match_style))
            pos = end
        if pos < len(text):
            segments.append(Segment(text[pos:], style))
        return segments
