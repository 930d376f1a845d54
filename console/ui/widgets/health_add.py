"""The "add an API server" prompt of the Health pane.

The typed URL is checked with the same normalisation the probes use, so a bad URL is refused here in
one line and the prompt keeps what was typed; the pane only ever receives a usable base URL.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.health.http_probes import normalize_base_url
from console.safetext import inert
from console.ui import bindings

BINDINGS = bindings.HEALTH_ADD


class AddEndpointScreen(ModalScreen[str | None]):
    """Dismissed with the normalised base URL, or None when cancelled."""

    BINDINGS = BINDINGS
    DEFAULT_CSS = """
    AddEndpointScreen { align: center middle; }
    AddEndpointScreen #health-add-dialog {
        width: 72; max-width: 100%; height: auto; padding: 1 2;
        background: $panel; border: round $accent;
    }
    AddEndpointScreen #health-add-error { color: $error; height: auto; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="health-add-dialog"):
            yield Static("Watch another Airflow API server (base URL, e.g. http://airflow-api:8080)")
            yield Input(placeholder="http://host:8080", id="health-add-url")
            yield Static(id="health-add-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            url = normalize_base_url(event.value)
        except ValueError as exc:
            self.query_one("#health-add-error", Static).update(Text(inert(str(exc), keep_newlines=False)))
            return
        self.dismiss(url)

    def action_close(self) -> None:
        self.dismiss(None)
