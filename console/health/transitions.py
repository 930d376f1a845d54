"""Changes worth a line in the transitions log: state flips, components, heartbeats, versions, restarts.

The log compares each result with the last *known* facts for its probe, not just the previous poll,
so a component that went unhealthy while the API server itself was unreachable is still reported
when the server answers again. The first observation of anything is not a transition.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from .results import ComponentHealth, ProbeKey, ProbeResult, ProgramStatus, State

DEFAULT_LOG_SIZE = 500


class TransitionKind(str, enum.Enum):
    STATE = "state"  # the probe's own state (up → down, down → up, ...)
    COMPONENT = "component"  # a monitor component's reported status
    HEARTBEAT = "heartbeat"  # a component's heartbeat crossed its threshold, or came back under it
    VERSION = "version"  # Airflow version or execution API version
    RESTART = "restart"  # a RemSvc server's uptime went backwards
    PROGRAM = "program"  # a supervisord program's state name (RUNNING → BACKOFF, ...)


@dataclass(frozen=True)
class Transition:
    at: float
    key: ProbeKey
    kind: TransitionKind
    subject: str
    before: str | None
    after: str | None
    detail: str

    def describe(self) -> str:
        """One line for a log view: ``monitor dag_processor: healthy → unhealthy (heartbeat 9 s old)``."""
        change = f"{self.before or '—'} → {self.after or '—'}"
        subject = self.key.probe if self.subject == self.key.probe else f"{self.key.probe} {self.subject}"
        text = f"{subject}: {change}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass
class _Known:
    state: State | None = None
    components: dict[str, ComponentHealth] = field(default_factory=dict)
    version: str | None = None
    api_version: str | None = None
    uptime_s: float | None = None
    programs: dict[str, ProgramStatus] | None = None


def _heartbeat_words(c: ComponentHealth) -> str:
    if c.heartbeat_age_s is None or c.threshold_s is None:
        return ""
    if c.stopped:
        return f"job no longer running; last heartbeat {c.heartbeat_age_s:.0f} s ago"
    return f"heartbeat {c.heartbeat_age_s:.0f} s old, threshold {c.threshold_s:g} s"


class TransitionLog:
    """Detects transitions result by result and keeps the most recent ones (bounded)."""

    def __init__(self, size: int = DEFAULT_LOG_SIZE):
        self._entries: deque[Transition] = deque(maxlen=size)
        self._known: dict[ProbeKey, _Known] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Transition]:
        return list(self._entries)

    def forget(self, key: ProbeKey) -> None:
        self._known.pop(key, None)

    def observe(self, result: ProbeResult) -> list[Transition]:
        known = self._known.setdefault(result.key, _Known())
        found: list[Transition] = []
        key, at = result.key, result.at

        def add(kind: TransitionKind, subject: str, before, after, detail: str) -> None:
            found.append(Transition(at, key, kind, subject, before, after, detail))

        if known.state is not None and known.state is not result.state:
            add(TransitionKind.STATE, key.probe, known.state.value, result.state.value, result.detail)
        known.state = result.state

        for comp in result.components:
            old = known.components.get(comp.name)
            if old is not None:
                if old.status != comp.status:
                    add(TransitionKind.COMPONENT, comp.name, old.status or "not running",
                        comp.status or "not running", _heartbeat_words(comp))
                elif old.stale != comp.stale:
                    add(TransitionKind.HEARTBEAT, comp.name, "stale" if old.stale else "fresh",
                        "stale" if comp.stale else "fresh", _heartbeat_words(comp))
            known.components[comp.name] = comp

        if result.version is not None:
            if known.version is not None and known.version != result.version:
                add(TransitionKind.VERSION, "version", known.version, result.version, "Airflow version changed")
            known.version = result.version
        if result.api_version is not None:
            if known.api_version is not None and known.api_version != result.api_version:
                add(TransitionKind.VERSION, "api_version", known.api_version, result.api_version,
                    "execution API version changed")
            known.api_version = result.api_version
        if result.uptime_s is not None:
            if known.uptime_s is not None and result.uptime_s < known.uptime_s:
                add(TransitionKind.RESTART, key.probe, f"up {known.uptime_s:.0f} s", f"up {result.uptime_s:.0f} s",
                    "server restarted")
            known.uptime_s = result.uptime_s

        if result.key.is_supervisor and result.programs:
            # An unreachable instance says nothing about its programs: compare with the last answer.
            now = {p.name: p for p in result.programs}
            if known.programs is not None:
                for name, program in now.items():
                    old = known.programs.get(name)
                    if old is not None and old.statename != program.statename:
                        add(TransitionKind.PROGRAM, name, old.statename, program.statename, program.why)
            known.programs = now

        self._entries.extend(found)
        return found
