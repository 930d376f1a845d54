"""Fitting text into fixed-width terminal cells (wide characters count double).

ASCII text takes a fast path: every visible row is fitted on every redraw.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size


def fit(text: str, width: int, *, align: str = "left") -> str:
    """Exactly ``width`` cells: padded, or cut with an ellipsis."""
    if width <= 0:
        return ""
    if text.isascii():
        if len(text) > width:
            return text[: width - 1] + "…" if width > 1 else "…"
        pad = " " * (width - len(text))
        return pad + text if align == "right" else text + pad
    if len(text) > 4 * width:
        text = text[: 4 * width]
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else "…"
    pad = " " * (width - length)
    return pad + text if align == "right" else text + pad


def wrap_words(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` cells, broken between words (a longer word is cut by ``fit``)."""
    if width <= 0:
        return [text]
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if cell_len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    return lines
