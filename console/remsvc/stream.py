"""One ``RemCmdStrm`` dispatch: write commands while reading responses, yield typed events as they happen.

Commands get tids 1..N by position. Responses are delivered the moment they arrive. The stream ends
with exactly one ``StreamFinished`` naming the answered and missing tids. Nothing is retried once a
command may have been written; an UNAVAILABLE before the first write is retried once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from .errors import RemSvcError, cause_for, describe, status_for
from .model import Command, CommandSent, DispatchEvent, StreamFinished, StreamStatus
from .wire import METHOD_STREAM, deserialize_result, encode_command, to_result

if TYPE_CHECKING:
    from .client import RemSvcClient

RETRY_DELAY_S = 0.5
# grpc.aio replaces the server's status with this when one of our writes races the server ending the
# stream early (an auth rejection, a denial): the real status never reaches the caller.
LOST_STATUS_DETAILS = "Internal error from Core"


class _Attempt:
    """State of one try at the stream; a retry starts a fresh one."""

    def __init__(self) -> None:
        self.sent_any = False
        self.write_error: BaseException | None = None
        self.sent_perf: dict[int, float] = {}


class StreamCall:
    """An in-flight dispatch to one target; async-iterate it for events, ``cancel()`` to stop it."""

    def __init__(self, client: RemSvcClient, commands: list[Command], *, timeout: float | None = None):
        self.client = client
        self.target = client.target
        self.commands = commands
        self.timeout = timeout
        self._call = None
        self._cancelled = False
        self._answered: set[int] = set()

    def cancel(self) -> None:
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()

    def __aiter__(self) -> AsyncIterator[DispatchEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[DispatchEvent]:
        queue: asyncio.Queue[DispatchEvent] = asyncio.Queue()
        runner = asyncio.create_task(self._run(queue.put_nowait))
        try:
            while True:
                event = await queue.get()
                yield event
                if isinstance(event, StreamFinished):
                    break
        finally:
            if not runner.done():
                self.cancel()
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)

    async def _run(self, emit) -> None:
        start = time.perf_counter()
        status, code, error, sent_any = StreamStatus.COMPLETED, None, None, False
        try:
            for attempt_no in range(2):
                attempt = _Attempt()
                status, code, error = await self._attempt(attempt, emit)
                sent_any = attempt.sent_any
                retry = status is StreamStatus.UNAVAILABLE and not attempt.sent_any and not self._answered
                if not retry or attempt_no == 1 or self._cancelled:
                    break
                await asyncio.sleep(RETRY_DELAY_S)
        except asyncio.CancelledError:
            status, code, error = StreamStatus.CANCELLED, "CANCELLED", describe(self.target, "cancelled")
        except RemSvcError as err:
            status, code, error = err.status, err.code, str(err)
        except Exception as exc:  # a client-side failure must still end the stream with a summary
            status, code, error = StreamStatus.ERROR, None, describe(self.target, f"client error: {exc}")
        if self._cancelled:
            status, code, error = StreamStatus.CANCELLED, "CANCELLED", describe(self.target, "cancelled by user")
        total = len(self.commands)
        missing = tuple(t for t in range(1, total + 1) if t not in self._answered)
        if status is StreamStatus.COMPLETED and missing:
            status = StreamStatus.CLOSED_EARLY
            error = describe(self.target, f"server ended the stream with {len(missing)} of {total} commands unanswered")
        elif status is StreamStatus.UNAVAILABLE and self._answered:
            status = StreamStatus.CLOSED_EARLY
            error = f"{error} after {len(self._answered)} of {total} answers"
        emit(
            StreamFinished(
                target=self.target.name,
                status=status,
                answered=tuple(sorted(self._answered)),
                missing=missing,
                error=error,
                code=code,
                elapsed_s=time.perf_counter() - start,
                at=time.time(),
                sent_any=sent_any,
            )
        )

    async def _attempt(self, attempt: _Attempt, emit) -> tuple[StreamStatus, str | None, str | None]:
        multicallable = self.client.channel.stream_stream(
            METHOD_STREAM, request_serializer=None, response_deserializer=deserialize_result
        )
        call = multicallable(metadata=self.client._metadata, timeout=self.timeout)
        self._call = call
        if self._cancelled:
            call.cancel()
        writer = asyncio.create_task(self._write_all(call, attempt, emit))
        target_name = self.target.name
        last_result_perf = time.perf_counter()
        try:
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    break
                now = time.perf_counter()
                began = max(last_result_perf, attempt.sent_perf.get(msg.tid, last_result_perf))
                last_result_perf = now
                self._answered.add(msg.tid)
                emit(to_result(target_name, msg, elapsed_s=now - began))
            code = await call.code()
            details = await call.details()
        except grpc.RpcError as err:
            code, details = err.code(), err.details() or ""
        except asyncio.CancelledError:
            if not self._cancelled:
                raise
            code, details = grpc.StatusCode.CANCELLED, "cancelled by user"
        finally:
            if not writer.done():
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if code is grpc.StatusCode.OK:
            return StreamStatus.COMPLETED, None, None
        if code is grpc.StatusCode.INTERNAL and details == LOST_STATUS_DETAILS and attempt.write_error is not None:
            return await self._recover_lost_status()
        return (
            status_for(code, details or ""),
            code.name if code is not None else None,
            describe(self.target, cause_for(code, details or "", timeout=self.timeout)),
        )

    async def _recover_lost_status(self) -> tuple[StreamStatus, str | None, str | None]:
        """Learn why the server ended the stream when gRPC lost its status: a ``Ping`` with the same
        credentials shows an authentication failure; anything else is reported as an early end."""
        if not self._answered:
            try:
                await self.client.ping(timeout=5.0)
            except RemSvcError as err:
                if err.status is StreamStatus.UNAUTHENTICATED:
                    return err.status, err.code, err.message
        cause = "the server ended the stream early (its status was lost: a command was still being sent)"
        return StreamStatus.ERROR, "INTERNAL", describe(self.target, cause)

    async def _write_all(self, call, attempt: _Attempt, emit) -> None:
        target_name = self.target.name
        try:
            for tid, command in enumerate(self.commands, start=1):
                await call.write(encode_command(command, tid))
                attempt.sent_any = True
                attempt.sent_perf[tid] = time.perf_counter()
                emit(CommandSent(target_name, tid, time.time()))
            await call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError) as exc:
            attempt.write_error = exc
