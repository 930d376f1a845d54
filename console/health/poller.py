"""Poll endpoints on their own schedules: interval, backoff while down (at most two intervals, so a
recovery shows within two), jitter, never two rounds at once.

Probes are grouped by endpoint (an API server's base URL, a supervisord, or a RemSvc connection): each
endpoint has one task that polls all of its probes together in a *round*, under a lock, then sleeps. So "poll now"
during a slow round queues exactly one more round instead of stacking requests on a struggling
server, an endpoint whose every probe is down backs off as a whole, and one wake-up serves all of an
endpoint's probes. Wake-ups, not requests, dominate the CPU cost of watching many endpoints, so
wake times are also rounded up to a ``tick`` grid (100 ms): endpoints due within one tick share a
wake-up, while jitter still spreads them over the interval.
Probes that are not ``periodic`` (the server version) are re-read while any probe of the endpoint is
down, after it recovers, or on demand. Consumers get typed ``ProbeUpdated`` events through a callback or
``events()`` (an async iterator) and can read snapshots and the transitions log at any time.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from ..safetext import first_line
from .history import DEFAULT_WINDOW, ProbeHistory, ProbeSnapshot
from .probes import Probe
from .results import ProbeKey, ProbeResult, Reason, State
from .transitions import DEFAULT_LOG_SIZE, Transition, TransitionLog

DEFAULT_INTERVAL = 5.0
BACKOFF_INTERVALS = 2.0  # while down, wait at most this many intervals: recovery shows within two
DEFAULT_JITTER = 0.1
DEFAULT_TICK = 0.1
_EVENT_QUEUE = 1000


@dataclass(frozen=True)
class ProbeUpdated:
    """One probe was polled: its new snapshot and any transitions it caused."""

    snapshot: ProbeSnapshot
    transitions: tuple[Transition, ...]


def next_delay(interval: float, failures: int, *, max_backoff: float, jitter: float, rng: random.Random) -> float:
    """Seconds until the next round: the interval, doubled per failed round up to ``max_backoff``, ± jitter.

    Jitter never takes a delay past ``max_backoff`` (so a recovery is seen within it).
    """
    base = interval
    cap = max(max_backoff, interval)
    if failures > 1:
        base = min(interval * 2 ** min(failures - 1, 30), cap)
    if not jitter:
        return base
    return min(base * (1.0 + rng.uniform(-jitter, jitter)), max(cap, interval * (1.0 + jitter)))


@dataclass(eq=False)
class _Member:
    probe: Probe
    history: ProbeHistory
    due: bool = True  # a non-periodic probe that must be (re)read in the next round


@dataclass(eq=False)
class _Group:
    name: tuple[int, str]
    members: list[_Member] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    forced: bool = False
    failures: int = 0
    task: asyncio.Task | None = None
    next_delay: float | None = None


def _group_name(key: ProbeKey) -> tuple[int, str]:
    return key.kind, key.endpoint


class HealthPoller:
    """Schedules probes and keeps their history; use ``async with HealthPoller(probes) as poller``."""

    def __init__(
        self,
        probes: Iterable[Probe] = (),
        *,
        interval: float = DEFAULT_INTERVAL,
        max_backoff: float | None = None,
        jitter: float = DEFAULT_JITTER,
        tick: float = DEFAULT_TICK,
        history_size: int = DEFAULT_WINDOW,
        log_size: int = DEFAULT_LOG_SIZE,
        concurrency: int = 32,
        on_event: Callable[[ProbeUpdated], None] | None = None,
        rng: random.Random | None = None,
    ):
        if not interval > 0:
            raise ValueError("interval must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.interval = interval
        self.max_backoff = interval * BACKOFF_INTERVALS if max_backoff is None else max_backoff
        self.jitter = jitter
        self.tick = tick
        self.history_size = history_size
        self.on_event = on_event
        self._rng = rng or random.Random()
        self._groups: dict[tuple[int, str], _Group] = {}
        self._members: dict[ProbeKey, tuple[_Group, _Member]] = {}
        self._log = TransitionLog(log_size)
        self._subscribers: set[asyncio.Queue] = set()
        self._concurrency = concurrency
        self._running = False
        self._paused = False
        for probe in probes:
            self.add(probe)

    # -- membership ---------------------------------------------------------------------------

    @property
    def keys(self) -> list[ProbeKey]:
        return list(self._members)

    def add(self, probe: Probe) -> None:
        """Watch one more probe; a new endpoint starts polling at once when the poller is running."""
        if probe.key in self._members:
            raise ValueError(f"already watching {probe.key}")
        name = _group_name(probe.key)
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = _Group(name)
            if self._running:
                self._start(group, initial_delay=0.0)
        member = _Member(probe, ProbeHistory(probe.key, self.history_size))
        group.members.append(member)
        self._members[probe.key] = (group, member)

    async def remove(self, key: ProbeKey) -> None:
        """Stop watching one probe; an endpoint left with no probes stops and closes its connections."""
        found = self._members.pop(key, None)
        if found is None:
            return
        group, member = found
        group.members.remove(member)
        self._log.forget(key)
        if not group.members:
            del self._groups[group.name]
            await self._cancel(group)
            await member.probe.aclose()

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> HealthPoller:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def start(self, *, polled: bool = False) -> None:
        """Start every endpoint's loop; ``polled=True`` (after ``poll_once``) waits out each schedule first."""
        if self._running:
            return
        self._running = True
        for group in self._groups.values():
            if polled and group.next_delay is not None:
                delay = group.next_delay
            else:
                delay = self._rng.uniform(0.0, self.interval * self.jitter)
            self._start(group, initial_delay=delay)

    def _start(self, group: _Group, *, initial_delay: float) -> None:
        group.task = asyncio.get_running_loop().create_task(self._run(group, initial_delay),
                                                            name=f"health {group.name[1]}")

    @staticmethod
    async def _cancel(group: _Group) -> None:
        """Cancel until done: Python 3.11's ``wait_for`` can swallow one cancellation."""
        pending = {group.task} if group.task is not None else set()
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        group.task = None

    async def stop(self) -> None:
        """Cancel every loop, close every probe's connections and end every ``events()`` iterator."""
        self._running = False
        for group in list(self._groups.values()):
            await self._cancel(group)
        closed: set[int] = set()
        for group, member in self._members.values():
            if id(member.probe) not in closed:
                closed.add(id(member.probe))
                await member.probe.aclose()
        for queue in list(self._subscribers):
            self._offer(queue, None)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Start no new rounds (one in flight finishes); ``poll_now`` still polls once."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        for group in self._groups.values():
            group.wake.set()

    def poll_now(self, key: ProbeKey | None = None) -> None:
        """Poll one probe's endpoint (or every endpoint) as soon as a round in flight, if any, has finished."""
        if key is None:
            targets = [(g, g.members) for g in self._groups.values()]
        else:
            group, member = self._members[key]
            targets = [(group, [member])]
        for group, members in targets:
            for member in members:
                member.due = True
            group.forced = True
            group.wake.set()

    # -- polling ------------------------------------------------------------------------------

    async def _run(self, group: _Group, initial_delay: float) -> None:
        if initial_delay > 0:
            await self._sleep(group, initial_delay)
        while self._running and self._groups.get(group.name) is group:
            if self._paused and not group.forced:
                group.wake.clear()
                await group.wake.wait()
                continue
            group.forced = False
            delay = await self._round(group)
            if group.forced:
                continue
            await self._sleep(group, delay)

    async def _sleep(self, group: _Group, delay: float) -> None:
        """Wait about ``delay`` seconds (rounded up to the tick grid) or until woken by poll_now/resume."""
        group.wake.clear()
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        tick = min(self.tick, delay / 10)
        if tick > 0:
            when = math.ceil(when / tick) * tick
        handle = loop.call_at(when, group.wake.set)
        try:
            await group.wake.wait()
        finally:
            handle.cancel()

    @staticmethod
    async def _check(probe: Probe) -> ProbeResult:
        try:
            return await probe.check()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return ProbeResult(probe.key, State.DOWN, Reason.ERROR,
                               f"probe failed: {type(exc).__name__}: {first_line(str(exc), 160)}", time.time())

    async def _round(self, group: _Group) -> float:
        """Poll every due probe of the endpoint together; return the delay before the next round."""
        async with group.lock:
            members = [m for m in group.members if m.probe.periodic or m.due]
            if len(members) == 1:
                results = [await self._check(members[0].probe)]
            else:
                results = await asyncio.gather(*(self._check(m.probe) for m in members))
            all_down = bool(results) and all(r.state is State.DOWN for r in results)
            group.failures = group.failures + 1 if all_down else 0
            delay = next_delay(self.interval, group.failures, max_backoff=self.max_backoff,
                               jitter=self.jitter, rng=self._rng)
            group.next_delay = delay
            recovered = False
            updates = []
            for member, result in zip(members, results):
                previous = member.history.add(result)
                if not member.probe.periodic:
                    member.due = result.state is State.DOWN
                elif previous is not None and previous.state is State.DOWN and result.state is not State.DOWN:
                    recovered = True
                updates.append(ProbeUpdated(member.history.snapshot(delay), tuple(self._log.observe(result))))
            # While any probe of the endpoint is down, facts read once (the version) are re-read
            # every round too, so they are not shown as up from before the outage.
            if recovered or any(r.state is State.DOWN for r in results):
                for member in group.members:
                    if not member.probe.periodic:
                        member.due = True
            for update in updates:
                self._publish(update)
            return delay

    async def poll_once(self) -> list[ProbeSnapshot]:
        """One round for every endpoint (concurrently, bounded); snapshots in watch order."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(group: _Group) -> None:
            async with limit:
                await self._round(group)

        await asyncio.gather(*(one(g) for g in list(self._groups.values())))
        return self.snapshots()

    # -- reading ------------------------------------------------------------------------------

    def history(self, key: ProbeKey) -> ProbeHistory:
        return self._members[key][1].history

    def snapshot(self, key: ProbeKey) -> ProbeSnapshot | None:
        found = self._members.get(key)
        if found is None or found[1].history.last is None:
            return None
        group, member = found
        return member.history.snapshot(group.next_delay)

    def snapshots(self) -> list[ProbeSnapshot]:
        return [s for s in (self.snapshot(k) for k in self._members) if s is not None]

    def transitions(self) -> list[Transition]:
        return self._log.entries()

    # -- events -------------------------------------------------------------------------------

    def _publish(self, event: ProbeUpdated) -> None:
        if self.on_event is not None:
            self.on_event(event)
        for queue in self._subscribers:
            self._offer(queue, event)

    @staticmethod
    def _offer(queue: asyncio.Queue, item) -> None:
        """Newer snapshots supersede older ones: when a slow consumer's queue is full, drop the oldest."""
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(item)

    async def events(self) -> AsyncIterator[ProbeUpdated]:
        """Every ``ProbeUpdated`` from now until ``stop()``; a slow reader loses the oldest, never blocks polls."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=_EVENT_QUEUE)
        self._subscribers.add(queue)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self._subscribers.discard(queue)
