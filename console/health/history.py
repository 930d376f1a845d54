"""Bounded per-probe history: latency percentiles, sparkline samples, time in state, last error.

A ring buffer (``deque(maxlen=...)``) keeps memory flat however long the console watches; what must
outlive the window (when the current state began, the last error) is kept as single values.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from .results import ProbeKey, ProbeResult, State

DEFAULT_WINDOW = 120


@dataclass(frozen=True)
class Sample:
    at: float
    state: State
    latency_s: float | None
    commands: int | None = None


def percentile(values: list[float], q: float, *, presorted: bool = False) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = values if presorted else sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class ProbeSnapshot:
    """Everything a row of the Health pane or the CLI table shows for one probe."""

    key: ProbeKey
    result: ProbeResult
    since: float
    polls: int
    consecutive_failures: int
    latency_s: float | None
    p50_s: float | None
    p95_s: float | None
    latencies_s: tuple[float, ...]
    last_error: ProbeResult | None
    command_rate: float | None
    next_poll_in_s: float | None = None

    @property
    def state(self) -> State:
        return self.result.state

    def time_in_state(self, now: float) -> float:
        return max(0.0, now - self.since)


class ProbeHistory:
    """The recent past of one probe."""

    def __init__(self, key: ProbeKey, size: int = DEFAULT_WINDOW):
        if size < 1:
            raise ValueError("history size must be at least 1")
        self.key = key
        self._samples: deque[Sample] = deque(maxlen=size)
        self.last: ProbeResult | None = None
        self.since: float | None = None
        self.last_error: ProbeResult | None = None
        self.polls = 0
        self.consecutive_failures = 0

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def maxlen(self) -> int:
        return self._samples.maxlen or 0

    def add(self, result: ProbeResult) -> ProbeResult | None:
        """Record one result; return the previous one (for transition detection)."""
        previous = self.last
        self._samples.append(Sample(result.at, result.state, result.latency_s, result.commands))
        if previous is None or previous.state is not result.state:
            self.since = result.at
        if result.state is not State.UP:
            self.last_error = result
        self.consecutive_failures = self.consecutive_failures + 1 if result.state is State.DOWN else 0
        self.polls += 1
        self.last = result
        return previous

    def samples(self) -> list[Sample]:
        return list(self._samples)

    def latencies(self) -> list[float]:
        """Latency of every answered poll in the window, oldest first (the sparkline's data)."""
        return [s.latency_s for s in self._samples if s.latency_s is not None]

    def command_rate(self) -> float | None:
        """Commands per second since the oldest sample of the current server run (a drop means a restart)."""
        newest = oldest = None
        for sample in reversed(self._samples):
            if sample.commands is None:
                break
            if newest is None:
                newest = sample
            elif sample.commands > (oldest or newest).commands:
                break
            oldest = sample
        if newest is None or oldest is None or newest.at <= oldest.at:
            return None
        return (newest.commands - oldest.commands) / (newest.at - oldest.at)

    def snapshot(self, next_poll_in_s: float | None = None) -> ProbeSnapshot:
        if self.last is None or self.since is None:
            raise LookupError(f"{self.key}: no result yet")
        window = self.latencies()
        ordered = sorted(window)
        return ProbeSnapshot(
            key=self.key,
            result=self.last,
            since=self.since,
            polls=self.polls,
            consecutive_failures=self.consecutive_failures,
            latency_s=self.last.latency_s,
            p50_s=percentile(ordered, 50, presorted=True),
            p95_s=percentile(ordered, 95, presorted=True),
            latencies_s=tuple(window),
            last_error=self.last_error,
            command_rate=self.command_rate(),
            next_poll_in_s=next_poll_in_s,
        )
