"""Messages of the Health pane: its poller's callback and program actions tell the pane to redraw."""

from __future__ import annotations

from textual.message import Message


class HealthChanged(Message):
    """New snapshots are waiting in the pane; posted at most once per turn of the event loop."""


class ProgramActionDone(Message):
    """A start/stop/restart finished (or was refused); ``text`` says how, ``ok`` whether it worked."""

    def __init__(self, endpoint: str, text: str, ok: bool):
        super().__init__()
        self.endpoint = endpoint
        self.text = text
        self.ok = ok
