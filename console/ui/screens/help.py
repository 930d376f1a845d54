"""``?``: every key of every pane, read from the binding registry with the user's remaps applied."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.ui import bindings

KEY_COLUMN = 18


def help_text(keymap: dict[str, str]) -> Text:
    """The overlay's body: a heading per section, then ``keys  what they do`` lines."""
    text = Text()
    for index, (title, section) in enumerate(bindings.SECTIONS):
        if index:
            text.append("\n")
        text.append(f"{title}\n", style="bold underline")
        for binding in section:
            keys = " ".join(bindings.keys_of(binding, keymap))
            text.append(f"  {keys:<{KEY_COLUMN}}", style="bold")
            text.append(f"{binding.description}\n")
    return text


class HelpScreen(ModalScreen[None]):
    """Closed with escape (or ``?`` again); scrolls with the arrow and page keys."""

    BINDINGS = bindings.HELP

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog help-dialog"):
            yield Static("Keys (remap by id under keymap: in the config file) · escape closes", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static(help_text(dict(getattr(self.app, "_keymap", {}))), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    @property
    def text(self) -> str:
        return help_text(dict(getattr(self.app, "_keymap", {}))).plain

    def action_close(self) -> None:
        self.dismiss(None)
