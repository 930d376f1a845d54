"""The same command stream to many targets at once, merged into one event sequence.

Each target has its own channel and stream. By default every target starts at once: streams are
cheap, and a second wave would add the slowest target's time again. What bounds them is
:func:`fanout_cap`, derived from the process's open-files limit so that a fan-out to thousands of
hosts cannot exhaust the bastion's descriptors; targets beyond it wait for a free slot. A slow or
dead target only delays its own ``StreamFinished``; every other target's events flow on.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator, Callable, Sequence

from .client import RemSvcClient
from .errors import RemSvcError, describe
from .model import DEFAULT_CONCURRENCY, Command, DispatchEvent, StreamFinished, StreamStatus, Target
from .stream import StreamCall

FDS_PER_TARGET = 2  # one socket per distinct server, plus headroom for name resolution
FDS_RESERVED = 64  # left for the console itself: journal, settings, bundle scans, health probes


def fanout_cap(open_files_limit: int | None = None) -> int:
    """How many targets may stream at once under the soft RLIMIT_NOFILE (or ``open_files_limit``)."""
    if open_files_limit is None:
        open_files_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if open_files_limit == resource.RLIM_INFINITY:
            open_files_limit = 1 << 20
    return max(1, (open_files_limit - FDS_RESERVED) // FDS_PER_TARGET)


def effective_concurrency(requested: int, targets: int, cap: int | None = None) -> int:
    """Targets streaming at once: ``requested`` (0 = all of them), never above the cap, at least 1."""
    cap = fanout_cap() if cap is None else cap
    wanted = targets if requested <= 0 else requested
    return max(1, min(wanted, targets, cap))


class FanOut:
    """Dispatch ``commands`` to every target; async-iterate for events from all of them."""

    def __init__(
        self,
        targets: Sequence[Target],
        commands: Sequence[Command],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        sent_events: bool = True,
    ):
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("fan-out targets must have distinct names")
        self.targets = list(targets)
        self.commands = list(commands)
        self.concurrency = effective_concurrency(concurrency, len(self.targets))
        self.timeout = timeout
        self.metadata = tuple(metadata)
        self.sent_events = sent_events
        self._calls: dict[str, StreamCall] = {}
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        for call in list(self._calls.values()):
            call.cancel()

    def __aiter__(self) -> AsyncIterator[DispatchEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[DispatchEvent]:
        queue: asyncio.Queue[DispatchEvent] = asyncio.Queue()
        tasks = self._start(queue.put_nowait)
        remaining = len(self.targets)
        try:
            while remaining:
                event = await queue.get()
                if isinstance(event, StreamFinished):
                    remaining -= 1
                yield event
        finally:
            if remaining:
                self._stop(tasks)
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, emit: Callable[[DispatchEvent], None]) -> None:
        """Stream to every target, calling ``emit`` with each event as it happens, until all finish."""
        tasks = self._start(emit)
        try:
            await asyncio.gather(*tasks)
        finally:
            if not all(task.done() for task in tasks):
                self._stop(tasks)
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, emit: Callable[[DispatchEvent], None]) -> list[asyncio.Task]:
        gate = asyncio.Semaphore(self.concurrency)
        return [asyncio.create_task(self._one(target, gate, emit)) for target in self.targets]

    def _stop(self, tasks: list[asyncio.Task]) -> None:
        self.cancel()
        for task in tasks:
            task.cancel()

    def _finished_without_stream(self, target: Target, status: StreamStatus, error: str, code: str | None):
        return StreamFinished(
            target=target.name, status=status, answered=(), missing=tuple(range(1, len(self.commands) + 1)),
            error=error, code=code, elapsed_s=0.0, at=time.time(), sent_any=False,
        )

    async def _one(self, target: Target, gate: asyncio.Semaphore, emit) -> None:
        async with gate:
            if self._cancelled:
                emit(self._finished_without_stream(target, StreamStatus.CANCELLED, describe(target, "cancelled by user"), "CANCELLED"))
                return
            client = RemSvcClient(target, metadata=self.metadata)
            try:
                call = client.stream(self.commands, timeout=self.timeout, sent_events=self.sent_events)
                self._calls[target.name] = call
                await call.run(emit)
            except RemSvcError as err:
                emit(self._finished_without_stream(target, err.status, str(err), err.code))
            finally:
                self._calls.pop(target.name, None)
                await client.close()
