"""Fan-out: one stream to many embedded servers, where a dead one must not hold up the others."""

from __future__ import annotations

import resource
import socket

from console.remsvc.fanout import DEFAULT_CONCURRENCY, FanOut, effective_concurrency, fanout_cap
from console.remsvc.model import Command, CommandResult, CommandSent, StreamFinished, StreamStatus, Target
from tests.helpers.remsvc_server import in_process_server


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


async def test_sent_events_off_leaves_out_only_command_sent(remsvc_server_factory):
    servers = [remsvc_server_factory() for _ in range(2)]
    targets = [s.target(f"q{i}") for i, s in enumerate(servers)]
    cmds = [Command("echo a"), Command("exit 3"), Command("echo c")]
    with_sent = [e async for e in FanOut(targets, cmds, timeout=30)]
    without = [e async for e in FanOut(targets, cmds, timeout=30, sent_events=False)]
    assert sorted((e.target, e.tid) for e in with_sent if isinstance(e, CommandSent)) == [
        (t.name, tid) for t in targets for tid in (1, 2, 3)
    ]
    assert not any(isinstance(e, CommandSent) for e in without)

    def answers(events):
        return sorted((e.target, e.tid, e.rc, e.out) for e in events if isinstance(e, CommandResult))

    assert answers(without) == answers(with_sent) == sorted(
        (t.name, tid, rc, out) for t in targets for tid, rc, out in ((1, 0, "a\n"), (2, 3, ""), (3, 0, "c\n"))
    )
    finished = [e for e in without if isinstance(e, StreamFinished)]
    assert sorted(f.target for f in finished) == ["q0", "q1"] and all(f.ok and f.answered == (1, 2, 3) for f in finished)


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


async def test_default_starts_every_target_at_once(tmp_path):
    """20 targets (more than the old default of 16) each wait until all 20 have started."""
    arrived = tmp_path / "arrived"
    arrived.mkdir()
    wait_for_all = f'touch {arrived}/$$; while [ "$(ls {arrived} | wc -l)" -lt 20 ]; do sleep 0.02; done'
    async with in_process_server() as server:
        host, port = server.host, server.port
        targets = [Target(f"t{i:02d}", host, port) for i in range(20)]
        commands = [Command(wait_for_all)]
        finished = [e async for e in FanOut(targets, commands, timeout=60) if isinstance(e, StreamFinished)]
    assert len(finished) == 20
    assert all(e.ok for e in finished), [e.error for e in finished if not e.ok]
    assert len(list(arrived.iterdir())) == 20


def test_default_concurrency_means_all_targets_up_to_the_cap():
    targets = [Target(f"t{i}", "127.0.0.1", 1) for i in range(300)]
    fan = FanOut(targets, [Command("true")])
    assert DEFAULT_CONCURRENCY == 0
    assert fan.concurrency == min(300, fanout_cap())


def test_cap_comes_from_the_open_files_limit():
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY:
        assert fanout_cap() == fanout_cap(soft)
    assert fanout_cap(1024) == 480  # (1024 - 64 reserved) / 2 per target
    assert fanout_cap(65536) == 32736
    assert fanout_cap(16) == 1  # a tiny limit still lets one target through


def test_cap_bounds_every_request():
    assert effective_concurrency(0, 20, cap=480) == 20
    assert effective_concurrency(0, 5000, cap=480) == 480
    assert effective_concurrency(1000, 5000, cap=480) == 480  # an explicit --concurrency cannot pass the cap
    assert effective_concurrency(4, 20, cap=480) == 4
    assert effective_concurrency(0, 0, cap=480) == 1
