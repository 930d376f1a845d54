"""The same command stream to many targets at once, merged into one event sequence.

Each target has its own channel and stream; a concurrency cap bounds how many run at a time. A slow
or dead target only delays its own ``StreamFinished``; every other target's events flow on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

from .client import RemSvcClient
from .errors import RemSvcError, describe
from .model import Command, DispatchEvent, StreamFinished, StreamStatus, Target
from .stream import StreamCall

DEFAULT_CONCURRENCY = 16


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
    ):
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("fan-out targets must have distinct names")
        self.targets = list(targets)
        self.commands = list(commands)
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.metadata = tuple(metadata)
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
        gate = asyncio.Semaphore(self.concurrency)
        tasks = [asyncio.create_task(self._one(target, gate, queue.put_nowait)) for target in self.targets]
        remaining = len(self.targets)
        try:
            while remaining:
                event = await queue.get()
                if isinstance(event, StreamFinished):
                    remaining -= 1
                yield event
        finally:
            if remaining:
                self.cancel()
                for task in tasks:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

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
                call = client.stream(self.commands, timeout=self.timeout)
                self._calls[target.name] = call
                async for event in call:
                    emit(event)
            except RemSvcError as err:
                emit(self._finished_without_stream(target, err.status, str(err), err.code))
            finally:
                self._calls.pop(target.name, None)
                await client.close()
