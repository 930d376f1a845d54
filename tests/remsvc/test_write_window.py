"""The writer stays within its window of unanswered commands, and a blocked writer goes on only once
half the window has been answered (so it wakes once per half window, not once per answer).

The server here is a real grpc.aio peer on loopback that records every command it receives and
answers only the tids the test releases.
"""

from __future__ import annotations

import asyncio

import grpc

from console.remsvc._pb import remsvc_pb2
from console.remsvc.client import RemSvcClient
from console.remsvc.model import Command, CommandResult, StreamFinished, Target
from console.remsvc.stream import WRITE_AHEAD, WRITE_AHEAD_BYTES
from console.remsvc.wire import encode_command
from tests.helpers.raw_server import serve_stream

SETTLE_S = 0.4


class HoldingServer:
    """Receives every command at once; answers a tid only when the test releases it (and it has arrived)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._seen: set[int] = set()
        self.arrived = asyncio.Event()
        self.release: asyncio.Queue[int] = asyncio.Queue()
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> HoldingServer:
        async def stream(request_iterator, context):
            async def read() -> None:
                async for raw in request_iterator:
                    tid = remsvc_pb2.RemCmdMsg.FromString(raw).tid
                    self.received.append(tid)
                    self._seen.add(tid)
                    self.arrived.set()

            reader = asyncio.create_task(read())
            try:
                while True:
                    tid = await self.release.get()
                    if tid == 0:
                        return
                    while tid not in self._seen:
                        self.arrived.clear()
                        await self.arrived.wait()
                    yield remsvc_pb2.RemResMsg(rc=0, tid=tid, out="", err="", hsh="").SerializeToString()
            finally:
                reader.cancel()

        self.server, self.port = await serve_stream(stream)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.server.stop(None)

    async def settled_count(self) -> int:
        """How many commands arrived, once nothing more has arrived for ``SETTLE_S``."""
        while True:
            count = len(self.received)
            await asyncio.sleep(SETTLE_S)
            if len(self.received) == count:
                return count

    def answer(self, first: int, last: int) -> None:
        for tid in range(first, last + 1):
            self.release.put_nowait(tid)


async def run_stream(server: HoldingServer, commands: list[Command]) -> list:
    async with RemSvcClient(Target("held", "127.0.0.1", server.port)) as client:
        return [event async for event in client.stream(commands, timeout=60)]


async def test_the_writer_stops_a_window_ahead_and_resumes_at_half_of_it():
    commands = [Command(f"echo {i}") for i in range(1, 3 * WRITE_AHEAD + 1)]
    assert sum(len(encode_command(c, t)) for t, c in enumerate(commands[:WRITE_AHEAD], 1)) < WRITE_AHEAD_BYTES
    async with HoldingServer() as server:
        events = asyncio.create_task(run_stream(server, commands))
        assert await server.settled_count() == WRITE_AHEAD
        half = WRITE_AHEAD // 2
        server.answer(1, half - 1)
        assert await server.settled_count() == WRITE_AHEAD, "one free slot must not wake the writer"
        server.answer(half, half)
        assert await server.settled_count() == WRITE_AHEAD + half
        server.answer(half + 1, len(commands))
        server.release.put_nowait(0)
        result = await events
    assert server.received == list(range(1, len(commands) + 1))
    assert [e.tid for e in result if isinstance(e, CommandResult)] == list(range(1, len(commands) + 1))
    assert isinstance(result[-1], StreamFinished) and result[-1].ok


async def test_large_commands_are_bounded_by_the_byte_window():
    commands = [Command("echo " + "x" * 1000 + f" {i}") for i in range(1, 401)]
    size = len(encode_command(commands[0], 1))
    async with HoldingServer() as server:
        events = asyncio.create_task(run_stream(server, commands))
        held = await server.settled_count()
        assert held == WRITE_AHEAD_BYTES // size
        server.answer(1, held // 2 - 2)
        assert await server.settled_count() == held, "the writer waits for half the byte window"
        server.answer(held // 2 - 1, held // 2 + 2)
        assert held < await server.settled_count() <= held + held // 2 + 2
        server.answer(held // 2 + 3, len(commands))
        server.release.put_nowait(0)
        result = await events
    assert len([e for e in result if isinstance(e, CommandResult)]) == len(commands)
    assert result[-1].ok
