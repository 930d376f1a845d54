"""A pane whose feature is not in this build yet: says so, and what the key will do later."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class PlaceholderPane(Vertical, can_focus=True):
    """Shown until the real pane lands; keeps the tab, key and layout stable meanwhile."""

    MESSAGE = ""

    def __init__(self, ctx, *, id: str):
        super().__init__(id=id)
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        yield Static(Text(self.MESSAGE), classes="placeholder")
