"""Typed messages workers and widgets post; handlers turn them into screen updates.

``DispatchEventsReady`` carries no events: the worker appends to the pane's buffer and posts one of
these only when the buffer was empty, and the handler drains everything that arrived meanwhile, so
a flood of responses becomes one update per turn of the event loop instead of one per response.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from console.dispatch_service import DispatchOutcome
from console.remsvc.model import Target


class DispatchEventsReady(Message):
    """New events are waiting in the pane's buffer."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DispatchEventsReady)


@dataclass
class DispatchEnded(Message):
    """The run's iterator is exhausted; ``outcome`` says how it ended, ``error`` why it broke off."""

    outcome: DispatchOutcome | None
    error: str | None = None


@dataclass
class RowHighlighted(Message):
    """The results-table cursor moved to a (target, tid) row."""

    key: tuple[str, int] | None


class OpenOutput(Message):
    """The user asked to read the highlighted row's output."""


@dataclass
class OutputAction(Message):
    """Copy, save or export the highlighted row or dispatch (handled by the pane)."""

    action: str


class LeaveOutput(Message):
    """The user left the output view (back to the results)."""


@dataclass
class ServerStatusChanged(Message):
    """A status poll finished for one target."""

    target: str
    latency_ms: float | None
    status: str | None
    error: str | None


@dataclass
class TargetsChanged(Message):
    """The Dispatch pane's targets changed; the status line and status polling follow."""

    targets: list[Target]
