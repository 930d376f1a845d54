"""What one health probe found: typed results shared by the poller, the CLI and the Health pane.

A status code alone lies here (Airflow answers 200 with its UI page for unmounted apps, and 200 with
unhealthy components on the monitor endpoint), so every result carries a state *and* a reason code
saying why, plus one line of words for an operator.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class State(str, enum.Enum):
    """The four states a probe or component can be in; the values are the JSON vocabulary."""

    UP = "up"
    DEGRADED = "degraded"  # answered, but something it reports is unhealthy
    DOWN = "down"  # no usable answer
    ABSENT = "absent"  # not part of this deployment (unmounted app, component not running)


class Reason(str, enum.Enum):
    """Why a probe is in its state; stable codes for scripts, the words go in ``detail``."""

    OK = "ok"
    UNHEALTHY = "unhealthy"
    NOT_MOUNTED = "not_mounted"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    HTTP_ERROR = "http_error"
    SERVER_ERROR = "server_error"
    INVALID_JSON = "invalid_json"
    UNEXPECTED_BODY = "unexpected_body"
    BODY_TOO_LARGE = "body_too_large"
    CONNECT_TIMEOUT = "connect_timeout"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    TLS_ERROR = "tls_error"
    UNREACHABLE = "unreachable"
    PROTOCOL_ERROR = "protocol_error"
    UNAUTHENTICATED = "unauthenticated"
    ERROR = "error"


HTTP_PROBES = ("dag_processing", "monitor", "execution", "version")
REMSVC_PROBE = "remsvc"
SUPERVISOR_PROBE = "supervisor"


@dataclass(frozen=True, order=True)
class ProbeKey:
    """Which probe: an Airflow base URL (or a RemSvc connection id) and the probe's name."""

    endpoint: str
    probe: str

    @property
    def is_remsvc(self) -> bool:
        return self.probe == REMSVC_PROBE

    @property
    def is_supervisor(self) -> bool:
        return self.probe == SUPERVISOR_PROBE

    @property
    def kind(self) -> int:
        """Sort order of endpoint kinds on screen: API servers, supervisord instances, RemSvc servers."""
        return 2 if self.is_remsvc else 1 if self.is_supervisor else 0

    def __str__(self) -> str:
        return f"{self.endpoint} {self.probe}"


@dataclass(frozen=True)
class ComponentHealth:
    """One component of ``/api/v2/monitor/health`` as reported, plus its heartbeat age on our clock."""

    name: str
    status: str | None  # Airflow's word: "healthy", "unhealthy", or None (no job row: not running)
    heartbeat: datetime | None
    heartbeat_age_s: float | None
    threshold_s: float | None

    @property
    def state(self) -> State:
        if self.status is None:
            return State.ABSENT
        return State.UP if self.status == "healthy" else State.DOWN

    @property
    def stopped(self) -> bool:
        """Unhealthy with a fresh heartbeat: Airflow ended the job (a clean stop), it did not go quiet."""
        return (
            self.status not in (None, "healthy")
            and self.heartbeat_age_s is not None
            and self.threshold_s is not None
            and self.heartbeat_age_s <= self.threshold_s
        )

    @property
    def stale(self) -> bool:
        """Heartbeat older than the threshold the console was given (Airflow's own may differ)."""
        return (
            self.heartbeat_age_s is not None
            and self.threshold_s is not None
            and self.heartbeat_age_s > self.threshold_s
        )


@dataclass(frozen=True)
class ProgramStatus:
    """One supervisord program as ``getAllProcessInfo`` and ``getAllConfigInfo`` describe it.

    ``state`` maps supervisord's state name to the console's four states; ``why`` says in words why
    a program that is not running counts as down or absent (e.g. ``autostart=false``).
    """

    name: str  # group:name, or name when the group holds only that program
    group: str
    statename: str
    state: State
    why: str
    pid: int = 0
    uptime_s: float | None = None
    exitstatus: int = 0
    spawnerr: str = ""
    description: str = ""
    autostart: bool | None = None
    command: str = ""
    component: str | None = None  # the Airflow component the command runs, if any


@dataclass(frozen=True)
class ProbeResult:
    """One poll of one probe. ``detail`` is a single inert line; it never holds a token."""

    key: ProbeKey
    state: State
    reason: Reason
    detail: str
    at: float
    latency_s: float | None = None
    http_status: int | None = None
    components: tuple[ComponentHealth, ...] = ()
    version: str | None = None
    git_version: str | None = None
    api_version: str | None = None
    uptime_s: float | None = None
    commands: int | None = None
    programs: tuple[ProgramStatus, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state is State.UP

    def component(self, name: str) -> ComponentHealth | None:
        return next((c for c in self.components if c.name == name), None)
