"""Fan-out: one stream to many embedded servers, where a dead one must not hold up the others."""

from __future__ import annotations

import socket

from console.remsvc.fanout import FanOut
from console.remsvc.model import Command, CommandResult, StreamFinished, StreamStatus, Target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_fanout_to_five_servers_with_one_dead(remsvc_server_factory):
    servers = [remsvc_server_factory() for _ in range(4)]
    targets = [s.target(f"live{i}") for i, s in enumerate(servers)]
    dead = Target("dead", "127.0.0.1", free_port())
    targets.insert(2, dead)
    cmds = [Command("echo $((6*7))"), Command("exit 2")]
    results: dict[tuple[str, int], CommandResult] = {}
    finished: dict[str, StreamFinished] = {}
    order = []
    async for event in FanOut(targets, cmds, concurrency=5, timeout=30):
        order.append(event.target)
        if isinstance(event, CommandResult):
            results[(event.target, event.tid)] = event
        elif isinstance(event, StreamFinished):
            finished[event.target] = event
    assert set(finished) == {t.name for t in targets}
    assert finished["dead"].status is StreamStatus.UNAVAILABLE and finished["dead"].missing == (1, 2)
    for i in range(4):
        name = f"live{i}"
        assert finished[name].status is StreamStatus.COMPLETED
        assert results[(name, 1)].out == "42\n" and results[(name, 2)].rc == 2
    assert len(results) == 8


async def test_concurrency_cap_still_reaches_every_target(remsvc_server_factory):
    servers = [remsvc_server_factory() for _ in range(3)]
    targets = [s.target(f"t{i}") for i, s in enumerate(servers)]
    finished = [e async for e in FanOut(targets, [Command("echo x")], concurrency=1) if isinstance(e, StreamFinished)]
    assert sorted(f.target for f in finished) == ["t0", "t1", "t2"]
    assert all(f.ok for f in finished)


async def test_cancel_fanout_finishes_every_target_as_cancelled(remsvc_server_factory):
    servers = [remsvc_server_factory() for _ in range(2)]
    targets = [s.target(f"c{i}") for i, s in enumerate(servers)]
    fan = FanOut(targets, [Command("echo go"), Command("sleep 30")], concurrency=2)
    finished = {}
    async for event in fan:
        if isinstance(event, CommandResult):
            fan.cancel()
        if isinstance(event, StreamFinished):
            finished[event.target] = event
    assert set(finished) == {"c0", "c1"}
    assert all(f.status is StreamStatus.CANCELLED and 2 in f.missing for f in finished.values())
