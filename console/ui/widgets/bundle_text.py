"""Embedded source and manifest text: highlighted off the event loop, drawn a visible line at a time.

Both texts come from files anyone with write access to a bundle directory controls. They reach
this module already inert (``SourceView.text``) or are made inert here (manifest text) before any
highlighting, and the highlighter only adds styles: no character of the file is interpreted as
markup or as a terminal control. Highlighting uses ANSI colours so it reads the same in a 16-colour
terminal over SSH. A source of megabytes is highlighted once in a worker thread and then drawn
line by line, so scrolling it costs no more than scrolling a short one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.geometry import Size

from console.bundles.model import BundleDetail, SourceView
from console.safetext import inert
from console.ui.widgets.line_view import LineView

HIGHLIGHT_LIMIT = 1 << 20
MAX_LINE_CELLS = 4096
TAB_WIDTH = 4


@dataclass(frozen=True)
class TextLine:
    """One display line; ``kind`` ("text", "note" or "warning") picks a theme style under its own."""

    text: Text
    kind: str = "text"


@dataclass(frozen=True)
class DetailView:
    """A bundle read in full, with its manifest and source already split into display lines."""

    detail: BundleDetail
    manifest: list[TextLine]
    source: list[TextLine]


def note(message: str, kind: str = "note") -> TextLine:
    return TextLine(Text(message), kind)


def lexer_name(extension: str) -> str | None:
    """The Pygments lexer for a source file's extension, or None for plain text."""
    if not extension:
        return None
    name = Syntax.guess_lexer(f"source.{extension}")
    return None if name == "default" else name


def highlighted_lines(text: str, lexer: str | None, *, dark: bool) -> list[Text]:
    """Split inert ``text`` into lines, highlighted with ANSI colours when small enough."""
    text = text.expandtabs(TAB_WIDTH)
    if text.endswith("\n"):
        text = text[:-1]
    if lexer is None or len(text) > HIGHLIGHT_LIMIT:
        return [Text(_cap(line)) for line in text.split("\n")]
    syntax = Syntax(text, lexer, theme="ansi_dark" if dark else "ansi_light", word_wrap=False)
    highlighted = syntax.highlight(text)
    highlighted.rstrip()
    lines = highlighted.split("\n", allow_blank=True)
    return [line if line.cell_len <= MAX_LINE_CELLS else line[: MAX_LINE_CELLS - 1] + Text("…") for line in lines]


def _cap(line: str) -> str:
    return line if len(line) <= MAX_LINE_CELLS else line[: MAX_LINE_CELLS - 1] + "…"


def source_lines(source: SourceView | None, *, dark: bool) -> list[TextLine]:
    """The Source tab: notes on what was changed for display, then the (highlighted) source."""
    if source is None:
        return [note("(no source region: the file has no readable bundle trailer)")]
    if not source.available:
        return [note("(source not available)")]
    name = inert(source.name or "unnamed", keep_newlines=False)
    lines = [note(f"{name} · {source.length:,} bytes")]
    if source.truncated:
        lines.append(note("only the beginning of the source is shown (display limit reached)", "warning"))
    if source.invalid_utf8:
        lines.append(note("not valid UTF-8: invalid bytes are shown as \ufffd", "warning"))
    if source.had_controls:
        lines.append(note("control characters (escape sequences) are shown as symbols such as ␛", "warning"))
    lexer = lexer_name(source.extension)
    if lexer is not None and len(source.text) > HIGHLIGHT_LIMIT:
        lines.append(note(f"not highlighted: larger than {HIGHLIGHT_LIMIT >> 20} MiB"))
    lines.append(note(""))
    lines.extend(TextLine(line) for line in highlighted_lines(source.text, lexer, dark=dark))
    return lines


def manifest_lines(detail: BundleDetail, *, dark: bool) -> list[TextLine]:
    """The Manifest tab: schema warnings with their JSON paths, then the YAML as embedded."""
    report = detail.report
    lines: list[TextLine] = []
    if report.warnings:
        count = len(report.warnings)
        lines.append(note(f"{count} schema warning{'s' if count != 1 else ''} (Airflow still runs the bundle):", "warning"))
        for warning in report.warnings:
            lines.append(note(f"  {inert(str(warning), keep_newlines=False)}", "warning"))
        lines.append(note(""))
    if detail.manifest_text is None:
        if report.metadata_len:
            lines.append(note(f"(manifest not shown: {inert(report.reason, keep_newlines=False)})"))
        else:
            lines.append(note("(no manifest)"))
        return lines
    if detail.manifest_invalid_utf8:
        lines.append(note("not valid UTF-8: invalid bytes are shown as \ufffd", "warning"))
    lines.extend(TextLine(line) for line in highlighted_lines(inert(detail.manifest_text), "yaml", dark=dark))
    return lines


def detail_view(detail: BundleDetail, *, dark: bool) -> DetailView:
    """Everything the details tabs need from one read; runs in a worker thread (Rich only)."""
    return DetailView(detail, manifest_lines(detail, dark=dark), source_lines(detail.source, dark=dark))


class BundleTextView(LineView, can_focus=True):
    """Read-only lines; only the visible ones are rendered. Source scrolls both ways; with ``wrap``
    (the manifest) long lines fold at the view's width, rewrapped when it changes, so nothing is cut
    at 80 columns."""

    COMPONENT_CLASSES = {"bundle-text--note", "bundle-text--warning"}
    DEFAULT_CSS = """
    BundleTextView { height: 1fr; background: $surface; padding: 0 1; }
    BundleTextView > .bundle-text--note { color: $foreground 70%; text-style: italic; }
    BundleTextView > .bundle-text--warning { color: $warning; }
    """

    def __init__(self, *, wrap: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.wrap = wrap
        self.lines: list[TextLine] = []
        self._logical: list[TextLine] = []
        self._wrapped_at: int | None = None
        self._segments: dict[int, list[Segment]] = {}

    def show(self, lines: list[TextLine]) -> None:
        self._logical = lines
        self._lay_out()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def _wrap_width(self) -> int:
        """The text width with room kept for the vertical scrollbar, shown or not, so wrapping a
        long manifest does not push its last column under the scrollbar."""
        width = self.scrollable_content_region.width
        if not self.show_vertical_scrollbar:
            width -= self.styles.scrollbar_size_vertical
        return width

    def _lay_out(self) -> None:
        width = self._wrap_width()
        if self.wrap and width > 0:
            console = self.app.console
            self.lines = [
                TextLine(piece, line.kind)
                for line in self._logical
                for piece in (line.text.wrap(console, width, overflow="fold") if line.text.plain else [line.text])
            ]
            self._wrapped_at = width
        else:
            self.lines = self._logical
            self._wrapped_at = None
        self._segments.clear()
        self.virtual_size = Size(max((line.text.cell_len for line in self.lines), default=0), len(self.lines))
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap and self._wrap_width() != self._wrapped_at:
            self._lay_out()

    @property
    def plain(self) -> str:
        return "\n".join(line.text.plain for line in self._logical)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._segments.clear()

    def line_segments(self, index: int, base: Style) -> list[Segment]:
        segments = self._segments.get(index)
        if segments is None:
            line = self.lines[index]
            style = base
            if line.kind != "text":
                style = base + self.get_component_rich_style(f"bundle-text--{line.kind}")
            segments = [Segment(s.text, style + s.style if s.style else style) for s in line.text.render(self.app.console)]
            if len(self._segments) > 512:
                self._segments.clear()
            self._segments[index] = segments
        return segments
