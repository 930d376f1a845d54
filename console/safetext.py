"""One function that makes remote or file-supplied text inert before it reaches a terminal.

Command output, bundle source, manifest text and HTTP bodies are untrusted: an escape sequence in
them could retitle the window, clear the screen, move the cursor or write the clipboard (OSC 52).
Every such byte is shown as a visible symbol instead, and the layout-breaking ones are folded.
"""

from __future__ import annotations

import re

ESC_SYMBOL = "␛"
REPLACEMENT = "\ufffd"

# C0 controls other than TAB and LF, DEL, and the C1 block (U+0080..U+009F: CSI/OSC/DCS on 8-bit terminals).
_C0 = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_C0[0x1B] = ESC_SYMBOL
_TABLE = {**_C0, 0x7F: "␡"}
_TABLE.update({c: f"<{c:02X}>" for c in range(0x80, 0xA0)})
# Bidi overrides and isolates can reorder what is shown (Trojan Source); show them as markers.
_TABLE.update({c: f"<U+{c:04X}>" for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)})

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def inert(text: str, *, keep_newlines: bool = True, tab_width: int | None = None) -> str:
    """Return ``text`` with every control character replaced by a visible, harmless symbol.

    TAB and LF are kept (LF becomes ``⏎`` when ``keep_newlines`` is false); CR is shown as ``␍``
    because a bare CR lets later text overwrite earlier text on the same line.
    """
    if _UNSAFE.search(text) is not None:
        text = text.translate(_TABLE)
    if not keep_newlines:
        text = text.replace("\n", "⏎")
    if tab_width is not None:
        text = text.expandtabs(tab_width)
    return text


def is_inert(text: str) -> bool:
    """True when ``text`` holds no control character a terminal would act on (TAB and LF allowed)."""
    return _UNSAFE.search(text) is None


def decode_lenient(data: bytes) -> tuple[str, bool]:
    """Decode UTF-8, showing invalid bytes as U+FFFD; the flag says whether any were replaced."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def first_line(text: str, limit: int = 200) -> str:
    """The first non-empty line, inert and cut to ``limit`` characters, for one-row summaries."""
    for line in text.splitlines():
        if line.strip():
            line = inert(line, tab_width=4)
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""
