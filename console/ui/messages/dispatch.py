"""Typed messages workers and widgets post; handlers turn them into screen updates.

``DispatchEventsReady`` carries no events: the worker appends to the pane's buffer and posts one of
these only when the buffer was empty, and the handler drains everything that arrived meanwhile, so
a flood of responses becomes one update per turn of the event loop instead of one per response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from console.dispatch_service import DispatchOutcome, DispatchRun, KnownTarget
    from console.remsvc.model import Target
    from console.ui.dispatch_model import DispatchModel


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
class DispatchPrepared(Message):
    """A dispatch prepared off the event loop: the started run and its model, or why it was refused."""

    run: DispatchRun | None
    model: DispatchModel | None
    refusal: Exception | None = None


@dataclass
class RowHighlighted(Message):
    """The results-table cursor moved to a (target, tid) row."""

    key: tuple[str, int] | None


@dataclass
class OpenOutput(Message):
    """Open the full-screen output view of a (target, tid) row, or of a fan-out group's line."""

    key: tuple[str, int] | None


@dataclass
class OutputAction(Message):
    """Copy, save or export a row's output or the dispatch (handled by the pane)."""

    action: str
    key: tuple[str, int] | None = None


class BackToRows(Message):
    """The user left the editor or the row filter (escape): focus goes back to the rows."""


class DispatchActivity(Message):
    """A dispatch started or ended: server status (command counts) is stale, and a quit that
    waits for the dispatch may go ahead."""


@dataclass
class TargetsChanged(Message):
    """The Dispatch pane's targets changed; the status line and status polling follow."""

    targets: list[Target]


@dataclass
class ResolveTargets(Message):
    """Resolve connection ids off the event loop (Airflow may take many seconds to answer), showing
    "resolving … via Airflow" meanwhile; ``replace`` makes them the targets instead of adding them."""

    names: list[str]
    replace: bool = False


@dataclass
class AirflowTargetsListed(Message):
    """The target picker's listing through Airflow ended: every RemSvc target it found (the native
    ones too) and one line per problem."""

    known: list[KnownTarget]
    problems: list[str]
