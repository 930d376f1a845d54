"""The one interface the poller drives: something that checks one thing and returns a ProbeResult.

A probe never raises for an expected failure (refused, timeout, bad body): the failure *is* the
result. ``periodic`` is false for facts that only change on reconnection (the server version); the
poller re-runs those after the endpoint recovers, or on demand.
"""

from __future__ import annotations

import abc

from .results import ProbeKey, ProbeResult


class Probe(abc.ABC):
    key: ProbeKey
    periodic: bool = True

    @abc.abstractmethod
    async def check(self) -> ProbeResult:
        """Run one check; every expected failure comes back as a DOWN/ABSENT result."""

    async def aclose(self) -> None:
        """Release pooled connections; safe to call more than once."""
