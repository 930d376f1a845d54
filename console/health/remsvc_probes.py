"""RemSvc server probe: ``Ping`` round trip plus ``GetStatus`` (uptime, commands executed).

The channel is kept between polls (pooled); after a failure it is closed so the next poll dials
afresh instead of waiting out gRPC's own reconnect backoff, which can reach two minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..remsvc.client import RemSvcClient
from ..remsvc.errors import RemSvcError
from ..remsvc.model import StreamStatus, Target
from ..safetext import first_line
from .probes import Probe
from .results import REMSVC_PROBE, ProbeKey, ProbeResult, Reason, State


def format_uptime(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _reason_for(err: RemSvcError) -> Reason:
    text = err.message.lower()
    if err.status is StreamStatus.UNAUTHENTICATED:
        return Reason.UNAUTHENTICATED
    if err.status is StreamStatus.DEADLINE_EXCEEDED:
        return Reason.TIMEOUT
    if err.status is StreamStatus.UNAVAILABLE:
        if "refused" in text:
            return Reason.REFUSED
        if "tls" in text or "certificate" in text:
            return Reason.TLS_ERROR
        return Reason.UNREACHABLE
    return Reason.ERROR


class RemSvcProbe(Probe):
    """Health of one RemSvc target; the key's endpoint is the connection id."""

    def __init__(self, target: Target, *, timeout: float = 5.0, clock: Callable[[], float] = time.time):
        self.target = target
        self.key = ProbeKey(target.name, REMSVC_PROBE)
        self.timeout = timeout
        self._clock = clock
        self._client: RemSvcClient | None = None

    async def check(self) -> ProbeResult:
        at = self._clock()
        try:
            if self._client is None:
                self._client = RemSvcClient(self.target, connect_timeout=self.timeout)
            latency = await self._client.ping(timeout=self.timeout)
            status = await self._client.get_status(timeout=self.timeout)
        except RemSvcError as err:
            await self.aclose()
            return ProbeResult(self.key, State.DOWN, _reason_for(err), first_line(err.message, 200), at)
        parts = []
        if status.uptime_s is not None:
            parts.append(f"up {format_uptime(status.uptime_s)}")
        if status.commands is not None:
            parts.append(f"{status.commands:,} commands")
        if status.rc != 0:
            words = first_line(status.msg, 120) or "no message"
            return ProbeResult(self.key, State.DEGRADED, Reason.UNHEALTHY, f"GetStatus rc={status.rc}: {words}",
                               at, latency, uptime_s=status.uptime_s, commands=status.commands)
        detail = ", ".join(parts) or first_line(status.msg, 120) or "answering"
        return ProbeResult(self.key, State.UP, Reason.OK, detail, at, latency,
                           uptime_s=status.uptime_s, commands=status.commands)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
