"""One ``RemCmdStrm`` dispatch: write commands while reading responses, yield typed events as they happen.

Commands get tids 1..N by position. Responses are delivered the moment they arrive. The stream ends
with exactly one ``StreamFinished`` naming the answered and missing tids. Nothing is retried once a
command may have been written; an UNAVAILABLE before the first write is retried once.

A reply for a tid that was never sent, a second reply for a tid, or bytes that are not a reply are
protocol errors: each is emitted as a ``ProtocolViolation`` (never as a result) and the stream ends
``PROTOCOL_ERROR``. While the stream is quiet the server is pinged; one that does not answer within
``probe_timeout_s`` (stopped, hung, or not a gRPC peer at all) ends the stream ``NOT_RESPONDING``.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import grpc

from ..safetext import decode_lenient
from .errors import RemSvcError, cause_for, describe, status_for
from .model import (
    Command,
    CommandSent,
    DispatchEvent,
    ProtocolViolation,
    StreamFinished,
    StreamStatus,
    Target,
)
from .wire import METHOD_STREAM, Undecodable, deserialize_result, encode_command, to_result

RETRY_DELAY_S = 0.5
# How far the writer runs ahead of the answers: up to this many commands and this many bytes. The
# server runs commands one at a time, so this keeps it busy, while writes are not left waiting on
# HTTP/2 flow control when the server ends the stream early: such a racing write is what makes gRPC
# lose the server's status. A writer that hits the window waits until half of it has been answered,
# so it wakes once per half window rather than once per answer.
WRITE_AHEAD = 1024
WRITE_AHEAD_BYTES = 64 * 1024
PROBE_AFTER_S = 5.0
PROBE_TIMEOUT_S = 5.0
MAX_VIOLATIONS_EMITTED = 1000
# grpc.aio replaces the server's status with this when one of our writes races the server ending the
# stream early (an auth rejection, a denial; grpc/grpc#36066): the real status may never reach the caller.
LOST_STATUS_DETAILS = "Internal error from Core"


class StreamHost(Protocol):
    """What a stream needs from its client: the target, an open channel, call metadata and ``Ping``."""

    target: Target

    @property
    def channel(self) -> grpc.aio.Channel: ...

    @property
    def metadata(self) -> Sequence[tuple[str, str]]: ...

    async def ping(self, *, timeout: float = 5.0) -> float: ...


class _Attempt:
    """State of one try at the stream; a retry starts a fresh one."""

    def __init__(self) -> None:
        self.sent_any = False
        self.write_error: BaseException | None = None
        self.client_error: str | None = None
        self.not_responding: str | None = None
        self.sent_perf: dict[int, float] = {}
        self.heard_at = time.monotonic()
        self.first_status: tuple[grpc.StatusCode, str] | None = None
        self.progress = asyncio.Event()
        self.resume_at: int | None = None  # answers the waiting writer needs before it goes on


def _settled(coro):
    """The value of a coroutine that finishes without suspending, else None (and it is closed)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    return None


def _first_status(call) -> tuple[grpc.StatusCode, str] | None:
    """The status the call holds the moment it is done, before a racing failed write can replace it."""
    code = _settled(call.code())
    details = _settled(call.details())
    return (code, details or "") if code is not None else None


class StreamCall:
    """An in-flight dispatch to one target; async-iterate it for events, ``cancel()`` to stop it."""

    def __init__(
        self,
        host: StreamHost,
        commands: list[Command],
        *,
        timeout: float | None = None,
        probe_after_s: float = PROBE_AFTER_S,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
        sent_events: bool = True,
    ):
        self.host = host
        self.target = host.target
        self.commands = commands
        self.timeout = timeout
        self.probe_after_s = probe_after_s
        self.probe_timeout_s = probe_timeout_s
        self.sent_events = sent_events
        self._call = None
        self._cancelled = False
        self._cancel_reason: str | None = None
        self._answered: set[int] = set()
        self._violations: list[str] = []

    def cancel(self, reason: str | None = None) -> None:
        """Stop the stream (the server stops the running command); ``reason`` ends up in the error."""
        if not self._cancelled:
            self._cancel_reason = reason
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()

    def __aiter__(self) -> AsyncIterator[DispatchEvent]:
        return self._events()

    async def run(self, emit: Callable[[DispatchEvent], None]) -> None:
        """Run the stream in the calling task, handing each event to ``emit`` as it happens.

        The last event is the ``StreamFinished``. Cheaper than iterating when the caller merges
        events itself (the fan-out): no queue and no generator of our own in between."""
        await self._run(emit)

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
            if self.target.token_problem:
                raise RemSvcError(self.target, StreamStatus.ERROR, describe(self.target, self.target.token_problem))
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
        total = len(self.commands)
        missing = tuple(t for t in range(1, total + 1) if t not in self._answered)
        if self._cancelled:
            status, code = StreamStatus.CANCELLED, "CANCELLED"
            error = describe(self.target, self._cancel_reason or "cancelled by user")
        elif self._violations:
            more = f" (and {len(self._violations) - 1} more)" if len(self._violations) > 1 else ""
            also = f"; the stream then ended: {error}" if error else ""
            status, code = StreamStatus.PROTOCOL_ERROR, code
            error = describe(self.target, f"protocol error: {self._violations[0]}{more}{also}")
        elif status is StreamStatus.COMPLETED and missing:
            status = StreamStatus.CLOSED_EARLY
            error = describe(self.target, f"server ended the stream with {len(missing)} of {total} commands unanswered")
        elif status in (StreamStatus.UNAVAILABLE, StreamStatus.NOT_RESPONDING) and self._answered:
            if status is StreamStatus.UNAVAILABLE:
                status = StreamStatus.CLOSED_EARLY
            error = f"{error} after {len(self._answered)} of {total} answers; unanswered commands may have run"
        elif status in (StreamStatus.UNAVAILABLE, StreamStatus.NOT_RESPONDING) and sent_any:
            error = f"{error} after commands were sent: they may have run"
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
        multicallable = self.host.channel.stream_stream(
            METHOD_STREAM, request_serializer=None, response_deserializer=deserialize_result
        )
        call = multicallable(metadata=tuple(self.host.metadata), timeout=self.timeout)
        self._call = call
        call.add_done_callback(lambda done: setattr(attempt, "first_status", _first_status(done)))
        if self._cancelled:
            call.cancel()
        writer = asyncio.create_task(self._write_all(call, attempt, emit))
        watchdog = asyncio.create_task(self._watch(call, attempt))
        try:
            code, details = await self._read_all(call, attempt, emit)
        finally:
            for task in (writer, watchdog):
                if not task.done():
                    task.cancel()
            await asyncio.gather(writer, watchdog, return_exceptions=True)
        if attempt.client_error is not None:
            return StreamStatus.ERROR, None, describe(self.target, f"client error: {attempt.client_error}")
        if attempt.not_responding is not None:
            return StreamStatus.NOT_RESPONDING, "UNAVAILABLE", describe(self.target, attempt.not_responding)
        if code is grpc.StatusCode.OK:
            return StreamStatus.COMPLETED, None, None
        if code is grpc.StatusCode.INTERNAL and details == LOST_STATUS_DETAILS and attempt.write_error is not None:
            first = attempt.first_status
            if first is not None and first[1] != LOST_STATUS_DETAILS:
                code, details = first
            else:
                return await self._recover_lost_status()
        return (
            status_for(code, details or ""),
            code.name if code is not None else None,
            describe(self.target, cause_for(code, details or "", timeout=self.timeout, use_ssl=self.target.use_ssl)),
        )

    async def _read_all(self, call, attempt: _Attempt, emit) -> tuple[grpc.StatusCode | None, str]:
        target_name = self.target.name
        total = len(self.commands)
        last_result_perf = time.perf_counter()
        try:
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    break
                attempt.heard_at = time.monotonic()
                problem = self._check(msg, total)
                if problem is not None:
                    self._violation(emit, msg, problem)
                    continue
                now = time.perf_counter()
                began = max(last_result_perf, attempt.sent_perf.get(msg.tid, last_result_perf))
                last_result_perf = now
                self._answered.add(msg.tid)
                if attempt.resume_at is not None and len(self._answered) >= attempt.resume_at:
                    attempt.resume_at = None
                    attempt.progress.set()
                emit(to_result(target_name, msg, elapsed_s=now - began))
            return await call.code(), await call.details()
        except grpc.RpcError as err:
            return err.code(), err.details() or ""
        except asyncio.CancelledError:
            if not (self._cancelled or attempt.not_responding or attempt.client_error):
                raise
            return grpc.StatusCode.CANCELLED, "cancelled"

    def _check(self, msg, total: int) -> str | None:
        if isinstance(msg, Undecodable):
            return f"a reply of {msg.size} bytes is not a RemResMsg ({msg.reason})"
        if msg is None:
            return "a reply could not be decoded"
        if not 1 <= msg.tid <= total:
            return f"an answer for tid {msg.tid}, which was never sent"
        if msg.tid in self._answered:
            return f"a second answer for tid {msg.tid} (the first one is kept)"
        return None

    def _violation(self, emit, msg, problem: str) -> None:
        self._violations.append(problem)
        if len(self._violations) > MAX_VIOLATIONS_EMITTED:
            return
        if isinstance(msg, Undecodable) or msg is None:
            raw = msg.excerpt_hex if msg is not None else ""
            emit(ProtocolViolation(self.target.name, problem, raw=raw, at=time.time()))
            return
        out, _ = decode_lenient(msg.out)
        err, _ = decode_lenient(msg.err)
        emit(ProtocolViolation(self.target.name, problem, tid=msg.tid, rc=msg.rc, out=out, err=err, at=time.time()))

    async def _watch(self, call, attempt: _Attempt) -> None:
        """Ping the server whenever the stream has been quiet for ``probe_after_s``; no answer within
        ``probe_timeout_s`` ends the stream. A server that answers with any status is alive."""
        while not call.done():
            quiet = time.monotonic() - attempt.heard_at
            if quiet < self.probe_after_s:
                await asyncio.sleep(self.probe_after_s - quiet)
                continue
            try:
                await self.host.ping(timeout=self.probe_timeout_s)
            except RemSvcError as err:
                if err.status is StreamStatus.DEADLINE_EXCEEDED and not call.done():
                    attempt.not_responding = (
                        f"server not responding: no answer to a liveness ping within {self.probe_timeout_s:g}s "
                        "(stopped, hung or not a RemSvc server)"
                    )
                    call.cancel()
                    return
            attempt.heard_at = time.monotonic()

    async def _recover_lost_status(self) -> tuple[StreamStatus, str | None, str | None]:
        """Learn why the server ended the stream when gRPC lost its status: a ``Ping`` with the same
        credentials shows an authentication failure; anything else is reported as an early end."""
        if not self._answered:
            try:
                await self.host.ping(timeout=5.0)
            except RemSvcError as err:
                if err.status is StreamStatus.UNAUTHENTICATED:
                    return err.status, err.code, err.message
        cause = "the server ended the stream early (its status was lost: a command was still being sent)"
        return StreamStatus.ERROR, "INTERNAL", describe(self.target, cause)

    def _may_write(self, tid: int, size: int, written: list[int]) -> bool:
        """Whether command ``tid`` (``size`` bytes) fits in the write-ahead window; one always does."""
        answered = min(len(self._answered), tid - 1)
        ahead = tid - 1 - answered
        in_flight = written[-1] - written[answered]
        return ahead == 0 or (ahead < WRITE_AHEAD and in_flight + size <= WRITE_AHEAD_BYTES)

    @staticmethod
    def _resume_at(tid: int, size: int, written: list[int]) -> int:
        """Answers needed before command ``tid`` is written by a blocked writer: half the window free."""
        by_count = tid - 1 - WRITE_AHEAD // 2
        by_bytes = bisect.bisect_left(written, written[-1] + size - WRITE_AHEAD_BYTES // 2)
        return min(tid - 1, max(by_count, by_bytes))

    async def _write_all(self, call, attempt: _Attempt, emit) -> None:
        target_name = self.target.name
        sent_events = self.sent_events
        tid = 0
        written = [0]  # bytes written up to and including tid i
        try:
            for tid, command in enumerate(self.commands, start=1):
                message = encode_command(command, tid)
                if not self._may_write(tid, len(message), written):
                    resume_at = attempt.resume_at = self._resume_at(tid, len(message), written)
                    while len(self._answered) < resume_at:
                        attempt.progress.clear()
                        await attempt.progress.wait()
                await call.write(message)
                written.append(written[-1] + len(message))
                attempt.sent_any = True
                attempt.sent_perf[tid] = time.perf_counter()
                if sent_events:
                    emit(CommandSent(target_name, tid, time.time()))
            await call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError) as exc:
            attempt.write_error = exc
        except Exception as exc:  # never leave the server waiting for commands that will not come
            attempt.write_error = exc
            attempt.client_error = f"cannot send command {tid}: {exc}"
            call.cancel()
