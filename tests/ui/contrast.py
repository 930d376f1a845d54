"""WCAG 2 contrast of what the app draws: every text segment's colour against its background."""

from __future__ import annotations

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.color import Color


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def theme_ratio(foreground: str, background: str) -> float:
    fg, bg = Color.parse(foreground), Color.parse(background)
    return ratio(fg.rgb, bg.rgb)


def _rgb(color: RichColor | None) -> tuple[int, int, int] | None:
    if color is None or color.is_default:
        return None
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def segment_colours(style: Style) -> tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]:
    fg, bg = _rgb(style.color), _rgb(style.bgcolor)
    if style.reverse:
        fg, bg = bg, fg
    return fg, bg


def _is_text(text: str) -> bool:
    """Letters, digits and punctuation; box drawing, blocks (borders, scrollbars) are decoration."""
    return any(not ch.isspace() and not 0x2500 <= ord(ch) <= 0x259F for ch in text)


def low_contrast(strips, minimum: float = 4.5, filters=()) -> list[tuple[str, float, Style]]:
    """(text, ratio, style) of each visible segment below ``minimum``; dim text always counts."""
    found = []
    for strip in strips:
        segments: list[Segment] = list(strip)
        for line_filter in filters:
            segments = line_filter.apply(segments, Color(0, 0, 0))
        for text, style, _ in segments:
            if style is None or not _is_text(text):
                continue
            if style.dim:
                found.append((text, 0.0, style))
                continue
            fg, bg = segment_colours(style)
            if fg is None or bg is None:
                continue
            value = ratio(fg, bg)
            if value < minimum:
                found.append((text, round(value, 2), style))
    return found
