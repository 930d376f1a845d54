"""A dispatch run that replays fixed events, for screenshots that must not change between runs.

It has the interface of ``DispatchRun`` and goes through the same worker, batching, model and
widgets; only the network is replaced by a script. ``hold=True`` stops after the script and waits
(a dispatch caught mid-run) until cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from console.dispatch_service import (
    DispatchOptions,
    DispatchOutcome,
    overall_error,
    overall_state,
)
from console.remsvc.model import (
    Command,
    CommandResult,
    CommandSent,
    DispatchEvent,
    StreamFinished,
    StreamStatus,
    Target,
)
from console.remsvc.report import TargetOutcome


class ScriptedRun:
    def __init__(self, targets: Sequence[Target], commands: Sequence[Command], events: Sequence[DispatchEvent], *, hold: bool = False):
        self.targets = list(targets)
        self.commands = list(commands)
        self.options = DispatchOptions()
        self.dispatch_id = "20250101-000000-snapshot"
        self.journal_error = None
        self.outcome: DispatchOutcome | None = None
        self.events = list(events)
        self.hold = hold
        self._release = asyncio.Event()

    def cancel(self) -> None:
        self._release.set()

    def __aiter__(self) -> AsyncIterator[DispatchEvent]:
        return self._events()

    async def complete(self, on_event=None) -> DispatchOutcome | None:
        """``DispatchRun.complete``: every event to ``on_event`` as it comes, then the outcome."""
        async for event in self:
            if on_event is not None:
                on_event(event)
        return self.outcome

    async def _events(self) -> AsyncIterator[DispatchEvent]:
        outcomes = {t.name: TargetOutcome(t.name, self.commands) for t in self.targets}
        for event in self.events:
            outcomes[event.target].apply(event)
            yield event
        if self.hold:
            await self._release.wait()
        ordered = list(outcomes.values())
        self.outcome = DispatchOutcome(self.dispatch_id, overall_state(ordered, False), overall_error(ordered), outcomes)


def sent(target: str, tid: int) -> CommandSent:
    return CommandSent(target, tid, 1000.0)


def result(target: str, tid: int, rc: int, out: str, err: str = "", elapsed: float = 0.25) -> CommandResult:
    return CommandResult(target, tid, rc, out, err, "", 1000.0, elapsed_s=elapsed)


def finished(target: str, answered: Sequence[int], missing: Sequence[int] = (), status=StreamStatus.COMPLETED, error=None) -> StreamFinished:
    return StreamFinished(target, status, tuple(answered), tuple(missing), error, None, 1.5, 1000.0)
