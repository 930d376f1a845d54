"""The poller against real servers: keeps going through faults, backs off, never overlaps, re-reads versions."""

from __future__ import annotations

import asyncio
import random

import pytest

from console.health.http_probes import AirflowEndpoint, HttpSettings
from console.health.poller import HealthPoller, ProbeUpdated, next_delay
from console.health.probes import Probe
from console.health.results import ProbeKey, ProbeResult, Reason, State
from tests.helpers.http_fault_server import Reply, json_reply, refused_url

FAST = HttpSettings(connect_timeout=1.0, read_timeout=0.3)
SAFETY = 30.0  # a bound on how long a test may wait for events, not an assertion about speed


def probes(url: str, *names: str, settings: HttpSettings = FAST) -> list[Probe]:
    names = names or ("dag_processing", "monitor", "execution", "version")
    return AirflowEndpoint(url, settings=settings).probes(names)


async def collect(poller: HealthPoller, until) -> list[ProbeUpdated]:
    """Gather events until ``until(events)`` holds."""
    seen: list[ProbeUpdated] = []

    async def gather() -> None:
        async for event in poller.events():
            seen.append(event)
            if until(seen):
                return

    await asyncio.wait_for(gather(), SAFETY)
    return seen


def polls_of(events: list[ProbeUpdated], key: ProbeKey) -> list[ProbeUpdated]:
    return [e for e in events if e.snapshot.key == key]


def test_next_delay_doubles_while_down_up_to_the_cap():
    rng = random.Random(0)
    delays = [next_delay(1.0, n, max_backoff=8.0, jitter=0.0, rng=rng) for n in range(7)]
    assert delays == [1.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_next_delay_jitter_stays_within_bounds_and_varies():
    rng = random.Random(1)
    delays = [next_delay(5.0, 0, max_backoff=60.0, jitter=0.1, rng=rng) for _ in range(200)]
    assert all(4.5 <= d <= 5.5 for d in delays)
    assert len(set(delays)) > 100


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError):
        HealthPoller(interval=0)
    with pytest.raises(ValueError):
        HealthPoller(jitter=1.5)


async def test_poller_keeps_going_through_every_fault(fault_server, hang_server):
    urls = {
        "healthy": (fault_server.url("healthy"), State.UP, Reason.OK),
        "airflow33": (fault_server.url("airflow33"), State.ABSENT, Reason.NOT_MOUNTED),
        "error500": (fault_server.url("error500"), State.DOWN, Reason.SERVER_ERROR),
        "html": (fault_server.url("html"), State.ABSENT, Reason.NOT_MOUNTED),
        "invalid_json": (fault_server.url("invalid_json"), State.DOWN, Reason.INVALID_JSON),
        "huge": (fault_server.url("huge"), State.DOWN, Reason.BODY_TOO_LARGE),
        "hang": (hang_server.url, State.DOWN, Reason.TIMEOUT),
        "refused": (refused_url(), State.DOWN, Reason.REFUSED),
    }
    all_probes = [p for url, _, _ in urls.values() for p in probes(url, "dag_processing")]
    keys = [p.key for p in all_probes]
    async with HealthPoller(all_probes, interval=0.02, max_backoff=0.05) as poller:
        events = await collect(poller, lambda ev: all(len(polls_of(ev, k)) >= 3 for k in keys))
    for key, (_, state, reason) in zip(keys, urls.values()):
        for event in polls_of(events, key):
            assert (event.snapshot.state, event.snapshot.result.reason) == (state, reason), key
    assert not poller.running


async def test_backoff_while_down_and_back_to_the_interval_on_recovery(fault_server):
    broken = {"on": True}
    fault_server.set_mode(
        "flaky", lambda p, h: Reply(500, b"down") if broken["on"] else json_reply({"status": "healthy"}))
    [probe] = probes(fault_server.url("flaky"), "execution")
    poller = HealthPoller([probe], interval=0.02, max_backoff=0.16, jitter=0.0)
    async with poller:
        events = await collect(poller, lambda ev: len(ev) >= 6)
        broken["on"] = False
        events += await collect(poller, lambda ev: ev[-1].snapshot.state is State.UP)
    delays = [e.snapshot.next_poll_in_s for e in events]
    assert delays[:6] == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.16, 0.16])
    assert delays[-1] == pytest.approx(0.02)
    assert events[-1].snapshot.consecutive_failures == 0


async def test_polls_never_overlap_even_when_poll_now_is_hammered(hang_server):
    [probe] = probes(hang_server.url, "monitor", settings=HttpSettings(connect_timeout=1.0, read_timeout=0.3))
    accepted_at_each_poll = []

    def on_event(event: ProbeUpdated) -> None:
        accepted_at_each_poll.append((event.snapshot.polls, hang_server.accepted))

    poller = HealthPoller([probe], interval=0.01, on_event=on_event)
    async with poller:
        for _ in range(50):
            poller.poll_now()
            await asyncio.sleep(0.005)
        await collect(poller, lambda ev: ev[-1].snapshot.polls >= 3)
    for polls, accepted in accepted_at_each_poll:
        assert accepted == polls  # one connection per finished poll: never a second one in flight


async def test_version_is_fetched_once_per_connection(fault_server):
    broken = {"on": False}

    def flaky(path, headers):
        return Reply(503, b"maintenance") if broken["on"] else fault_server._airflow(path, headers)

    fault_server.set_mode("flaky", flaky)
    all_probes = probes(fault_server.url("flaky"))
    monitor = all_probes[1].key
    version = all_probes[3].key
    async with HealthPoller(all_probes, interval=0.02, max_backoff=0.04) as poller:
        await collect(poller, lambda ev: len(polls_of(ev, monitor)) >= 8)
        assert fault_server.count("flaky") - _non_version(fault_server) == 1
        broken["on"] = True
        await collect(poller, lambda ev: bool(polls_of(ev, monitor))
                      and polls_of(ev, monitor)[-1].snapshot.state is State.DOWN)
        broken["on"] = False
        fault_server.airflow.version = "3.4.1"
        events = await collect(poller, lambda ev: len(polls_of(ev, version)) >= 1)
    assert fault_server.count("flaky") - _non_version(fault_server) == 2
    assert polls_of(events, version)[-1].snapshot.result.version == "3.4.1"
    assert any(t.kind.value == "version" and t.after == "3.4.1" for t in poller.transitions())


def _non_version(server) -> int:
    return sum(1 for path, _ in server.requests if path.startswith("/flaky/") and not path.endswith("/version"))


async def test_pause_stops_polling_and_poll_now_still_polls_once(fault_server):
    [probe] = probes(fault_server.url("healthy"), "monitor")
    poller = HealthPoller([probe], interval=0.02)
    async with poller:
        await collect(poller, lambda ev: len(ev) >= 2)
        poller.pause()
        await asyncio.sleep(0.1)  # let an in-flight poll finish
        before = fault_server.count("healthy")
        await asyncio.sleep(0.2)
        assert fault_server.count("healthy") == before
        poller.poll_now(probe.key)
        await collect(poller, lambda ev: len(ev) >= 1)
        assert fault_server.count("healthy") == before + 1
        poller.resume()
        await collect(poller, lambda ev: len(ev) >= 2)
    assert fault_server.count("healthy") >= before + 3


async def test_endpoint_added_while_running_is_polled(fault_server):
    poller = HealthPoller(probes(fault_server.url("healthy"), "monitor"), interval=0.02)
    async with poller:
        await collect(poller, lambda ev: len(ev) >= 1)
        for probe in probes(fault_server.url("error500"), "monitor"):
            poller.add(probe)
        events = await collect(poller, lambda ev: any(e.snapshot.key.endpoint.endswith("/error500") for e in ev))
    assert events[-1].snapshot.state is State.DOWN
    assert [k.endpoint.rsplit("/", 1)[1] for k in poller.keys] == ["healthy", "error500"]
    with pytest.raises(ValueError):
        poller.add(probes(fault_server.url("healthy"), "monitor")[0])


async def test_removed_probe_stops_and_closes(fault_server):
    [probe] = probes(fault_server.url("healthy"), "monitor")
    poller = HealthPoller([probe], interval=0.02)
    async with poller:
        await collect(poller, lambda ev: len(ev) >= 1)
        await poller.remove(probe.key)
        assert poller.keys == [] and poller.snapshot(probe.key) is None
        count = fault_server.count("healthy")
        await asyncio.sleep(0.1)
        assert fault_server.count("healthy") == count


class _Exploding(Probe):
    """A probe with a bug: the poller must survive it and say what happened."""

    key = ProbeKey("bug://", "monitor")

    async def check(self) -> ProbeResult:
        raise RuntimeError("boom")


async def test_a_probe_that_raises_is_reported_down_and_polling_continues(fault_server):
    good = probes(fault_server.url("healthy"), "monitor")
    async with HealthPoller([_Exploding(), *good], interval=0.02) as poller:
        events = await collect(poller, lambda ev: len(polls_of(ev, _Exploding.key)) >= 3)
    bad = polls_of(events, _Exploding.key)[-1].snapshot.result
    assert (bad.state, bad.reason) == (State.DOWN, Reason.ERROR)
    assert bad.detail == "probe failed: RuntimeError: boom"
    assert polls_of(events, good[0].key)


async def test_poll_once_returns_snapshots_in_watch_order(fault_server):
    poller = HealthPoller(probes(fault_server.url("healthy")) + probes(refused_url(), "monitor"))
    try:
        snaps = await poller.poll_once()
    finally:
        await poller.stop()
    assert [s.key.probe for s in snaps] == ["dag_processing", "monitor", "execution", "version", "monitor"]
    assert [s.state for s in snaps] == [State.UP, State.UP, State.UP, State.UP, State.DOWN]


async def test_events_iterator_ends_when_the_poller_stops(fault_server):
    poller = HealthPoller(probes(fault_server.url("healthy"), "monitor"), interval=0.02)
    await poller.start()
    received = []

    async def consume():
        async for event in poller.events():
            received.append(event)

    consumer = asyncio.create_task(consume())
    await collect(poller, lambda ev: len(ev) >= 2)
    await poller.stop()
    await asyncio.wait_for(consumer, SAFETY)
    assert received and all(isinstance(e, ProbeUpdated) for e in received)
