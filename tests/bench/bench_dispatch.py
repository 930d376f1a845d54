"""Dispatch benchmarks: the console's stream path against a bare grpc.aio loop, and fan-out.

Run: ``python tests/bench/bench_dispatch.py`` (``--commands``, ``--rounds``, ``--servers`` to vary).
Every figure is measured against a baseline taken in the same run, so the ratios hold on any machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from console.remsvc._pb import remsvc_pb2  # noqa: E402
from console.remsvc.client import RemSvcClient  # noqa: E402
from console.remsvc.fanout import FanOut  # noqa: E402
from console.remsvc.model import Command, CommandResult, StreamFinished, StreamTracker, Target, command_hash  # noqa: E402


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


async def bare_loop(port: int, cmds: list[str]) -> float:
    """The least a client can do: write every command, read every response, nothing else."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(
            "/RS.RemSvc/RemCmdStrm",
            request_serializer=remsvc_pb2.RemCmdMsg.SerializeToString,
            response_deserializer=remsvc_pb2.RemResMsg.FromString,
        )()
        start = time.perf_counter()

        async def write():
            for tid, cmd in enumerate(cmds, start=1):
                await call.write(remsvc_pb2.RemCmdMsg(cmd=cmd, tid=tid, hsh=command_hash(cmd)))
            await call.done_writing()

        writer = asyncio.create_task(write())
        count = 0
        async for _ in call:
            count += 1
        await writer
        elapsed = time.perf_counter() - start
    assert count == len(cmds), f"bare loop got {count} of {len(cmds)} responses"
    return elapsed


async def console_path(port: int, cmds: list[str]) -> float:
    """The console's path: typed events, tid correlation and per-tid state, as the UI and CLI use it."""
    target = Target("bench", "127.0.0.1", port)
    commands = [Command(c) for c in cmds]
    tracker = StreamTracker(target.name, commands)
    async with RemSvcClient(target) as client:
        start = time.perf_counter()
        results = 0
        async for event in client.stream(commands):
            tracker.apply(event)
            if isinstance(event, CommandResult):
                results += 1
            elif isinstance(event, StreamFinished):
                assert event.ok, event.error
        elapsed = time.perf_counter() - start
    assert results == len(cmds), f"console path got {results} of {len(cmds)} responses"
    return elapsed


async def fanout_time(ports: list[int], cmds: list[str]) -> float:
    targets = [Target(f"s{i}", "127.0.0.1", p) for i, p in enumerate(ports)]
    start = time.perf_counter()
    finished = 0
    async for event in FanOut(targets, [Command(c) for c in cmds], concurrency=len(targets)):
        if isinstance(event, StreamFinished):
            assert event.ok, event.error
            finished += 1
    assert finished == len(targets)
    return time.perf_counter() - start


def bench_stream(n: int, rounds: int) -> None:
    proc, port = start_server()
    try:
        cmds = ["true"] * n
        asyncio.run(bare_loop(port, cmds[:200]))  # warm both paths and the server
        asyncio.run(console_path(port, cmds[:200]))
        bare, ours = [], []
        for _ in range(rounds):
            bare.append(asyncio.run(bare_loop(port, cmds)))
            ours.append(asyncio.run(console_path(port, cmds)))
    finally:
        proc.terminate()
        proc.wait(10)
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"stream of {n} `true` commands, median of {rounds} rounds (alternating)")
    print(f"  bare grpc.aio loop : {b:7.3f} s  {n / b:8.0f} responses/s")
    print(f"  console dispatch   : {o:7.3f} s  {n / o:8.0f} responses/s")
    print(f"  ratio console/bare : {o / b:7.3f}x  (target <= 1.05x)")


def bench_fanout(servers: int, per_server: int, command: str) -> None:
    started = [start_server() for _ in range(servers)]
    ports = [port for _, port in started]
    try:
        cmds = [command] * per_server
        singles = [asyncio.run(fanout_time([port], cmds)) for port in ports]
        together = asyncio.run(fanout_time(ports, cmds))
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            proc.wait(10)
    slowest = max(singles)
    print(f"fan-out: {servers} servers x {per_server} `{command}` commands")
    print(f"  slowest single server alone : {slowest:7.3f} s  (fastest {min(singles):.3f} s)")
    print(f"  all {servers} servers at once     : {together:7.3f} s")
    print(f"  ratio fan-out/slowest       : {together / slowest:7.3f}x  (target <= 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--per-server", type=int, default=50)
    parser.add_argument("--fanout-command", default="sleep 0.02",
                        help="command for the fan-out run; it waits rather than burns CPU, as on separate hosts")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, grpcio {grpc.__version__}")
    bench_stream(args.commands, args.rounds)
    bench_fanout(args.servers, args.per_server, args.fanout_command)


if __name__ == "__main__":
    main()
