"""A failure the operator must see: one clear message, closed with enter or escape."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from console.safetext import inert
from console.ui import bindings


class ErrorScreen(ModalScreen[None]):
    BINDINGS = bindings.ERROR

    def __init__(self, title: str, message: str):
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog error-dialog"):
            yield Static(Text(inert(self.title_text, keep_newlines=False)), classes="dialog-title")
            yield Static(Text(inert(self.message)), id="error-message")
            yield Button("Close", id="close", variant="error")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


def worker_failure_screen(title: str, error: BaseException | None) -> ErrorScreen:
    """The modal for a worker that raised: shown instead of crashing the app (workers run with
    ``exit_on_error=False``; Textual delivers their state changes to the node that started them)."""
    return ErrorScreen(title, f"{type(error).__name__}: {error}" if error is not None else "unknown error")
