"""ctrl+q while a dispatch runs: cancel it cleanly and quit, quit when it ends, or stay."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from console.ui import bindings

CANCEL = "cancel"
WAIT = "wait"
STAY = "stay"


class QuitScreen(ModalScreen[str]):
    """Dismisses with CANCEL, WAIT or STAY."""

    BINDINGS = bindings.QUIT

    def __init__(self, detail: str):
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static("A dispatch is running. Quit?", classes="dialog-title")
            yield Static(Text(self.detail), id="detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel & quit (c)", id=CANCEL, variant="error")
                yield Button("Quit when done (w)", id=WAIT, variant="warning")
                yield Button("Stay (esc)", id=STAY, variant="primary")

    def on_mount(self) -> None:
        self.query_one(f"#{STAY}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or STAY)

    def action_cancel_and_quit(self) -> None:
        self.dismiss(CANCEL)

    def action_wait_and_quit(self) -> None:
        self.dismiss(WAIT)

    def action_stay(self) -> None:
        self.dismiss(STAY)
