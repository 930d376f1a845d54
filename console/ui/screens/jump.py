"""``:``: jump by name, as in k9s (``:health``, ``:b``, ``:help``, ``:q``). Escape cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.ui import bindings

# Names a jump accepts, and the app action each one runs; unique prefixes work too.
TARGETS = {
    "dispatch": "show_pane('dispatch')",
    "bundles": "show_pane('bundles')",
    "health": "show_pane('health')",
    "help": "help",
    "history": "history",
    "targets": "pick_targets",
    "quit": "quit",
    "q": "quit",
}


def resolve(name: str) -> str | None:
    """The action for ``name``: an exact name, else a prefix that only one name starts with."""
    name = name.strip().lower().lstrip(":")
    if not name:
        return None
    if name in TARGETS:
        return TARGETS[name]
    hits = {action for key, action in TARGETS.items() if key.startswith(name)}
    return hits.pop() if len(hits) == 1 else None


class JumpScreen(ModalScreen[str | None]):
    """Dismisses with the action to run, or None."""

    BINDINGS = bindings.JUMP

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-box"):
            yield Static("jump to: " + " · ".join(k for k in TARGETS if k != "q"), id="jump-hint")
            yield Input(placeholder=":name, enter jumps, escape cancels", compact=True, id="jump-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        action = resolve(event.value)
        if action is None:
            self.notify(f"no pane or command named {event.value.strip()!r}", severity="warning", markup=False)
            return
        self.dismiss(action)

    def action_close(self) -> None:
        self.dismiss(None)
