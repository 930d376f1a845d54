"""The stable ``health --json`` document, the exit status, and the plain-text table for SSH sessions.

The text table uses no colour or cursor tricks of its own: every remote-supplied string goes through
``inert`` and is cut to the terminal width, so it reads the same in a log file as on a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from ..safetext import inert
from .history import ProbeSnapshot
from .results import HTTP_PROBES, ComponentHealth, ProgramStatus, State
from .transitions import Transition

EXIT_UP = 0
EXIT_NOT_UP = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_ABSENT_ONLY = 4


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _component_json(c: ComponentHealth) -> dict:
    return {
        "status": c.status,
        "state": c.state.value,
        "heartbeat": c.heartbeat.isoformat() if c.heartbeat else None,
        "heartbeat_age_s": None if c.heartbeat_age_s is None else round(c.heartbeat_age_s, 3),
        "threshold_s": c.threshold_s,
        "stale": c.stale,
    }


def _probe_json(s: ProbeSnapshot) -> dict:
    r = s.result
    out: dict = {
        "state": r.state.value,
        "reason": r.reason.value,
        "http_status": r.http_status,
        "latency_ms": _ms(r.latency_s),
        "detail": r.detail,
    }
    if s.polls > 1:
        out.update(p50_ms=_ms(s.p50_s), p95_ms=_ms(s.p95_s), since=round(s.since, 3))
    if s.key.probe == "monitor":
        out["components"] = {c.name: _component_json(c) for c in r.components}
    elif s.key.probe == "execution":
        out["api_version"] = r.api_version
    elif s.key.probe == "version":
        out.update(version=r.version, git_version=r.git_version)
    return out


def _remsvc_json(s: ProbeSnapshot) -> dict:
    r = s.result
    rate = s.command_rate
    return {
        "conn_id": s.key.endpoint,
        "state": r.state.value,
        "reason": r.reason.value,
        "latency_ms": _ms(r.latency_s),
        "uptime_s": r.uptime_s,
        "commands": r.commands,
        "commands_per_s": None if rate is None else round(rate, 3),
        "detail": r.detail,
    }


def _program_json(p: ProgramStatus) -> dict:
    return {
        "name": p.name,
        "group": p.group,
        "state": p.statename,
        "health": p.state.value,
        "why": p.why,
        "pid": p.pid or None,
        "uptime_s": p.uptime_s,
        "exitstatus": p.exitstatus,
        "spawnerr": p.spawnerr,
        "description": p.description,
        "autostart": p.autostart,
        "airflow_component": p.component,
    }


def _supervisor_json(s: ProbeSnapshot) -> dict:
    r = s.result
    return {
        "url": s.key.endpoint,
        "state": r.state.value,
        "reason": r.reason.value,
        "latency_ms": _ms(r.latency_s),
        "detail": r.detail,
        "programs": [_program_json(p) for p in r.programs],
    }


def to_json(snapshots: Sequence[ProbeSnapshot]) -> dict:
    """``{"endpoints": [{"url", "probes"}], "supervisors": [{"url", "programs"}], "remsvc": [...]}``.

    Probe states are up/degraded/down/absent; a program's ``state`` is supervisord's own state name
    and its ``health`` the console's state for it.
    """
    endpoints: dict[str, dict] = {}
    supervisors = []
    remsvc = []
    for s in snapshots:
        if s.key.is_remsvc:
            remsvc.append(_remsvc_json(s))
        elif s.key.is_supervisor:
            supervisors.append(_supervisor_json(s))
        else:
            endpoints.setdefault(s.key.endpoint, {"url": s.key.endpoint, "probes": {}})["probes"][s.key.probe] = (
                _probe_json(s))
    return {"endpoints": list(endpoints.values()), "supervisors": supervisors, "remsvc": remsvc}


def exit_status(snapshots: Sequence[ProbeSnapshot], *, allow_absent: bool = False) -> int:
    """0 when everything is up; 1 when anything is down or degraded; 4 when the rest is only absent."""
    states = {s.state for s in snapshots}
    if not snapshots or states & {State.DOWN, State.DEGRADED}:
        return EXIT_NOT_UP
    if State.ABSENT in states and not allow_absent:
        return EXIT_ABSENT_ONLY
    return EXIT_UP


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _lat(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _component_cell(c: ComponentHealth) -> str:
    if c.status is None:
        return f"{c.name} not running"
    text = f"{c.name} {c.status}"
    if c.heartbeat_age_s is not None:
        text += f" (hb {c.heartbeat_age_s:.0f}s"
        text += f"/{c.threshold_s:g}s{' STALE' if c.stale else ''})" if c.threshold_s is not None else ")"
    return text


def _fit(text: str, width: int) -> str:
    text = inert(text, keep_newlines=False, tab_width=1)
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def render_table(
    snapshots: Sequence[ProbeSnapshot],
    transitions: Sequence[Transition] = (),
    *,
    now: float | None = None,
    width: int = 120,
    max_transitions: int = 8,
) -> list[str]:
    """Lines of the live table: one row per probe, components under the monitor row, recent transitions."""
    now = time.time() if now is None else now
    width = max(60, width)
    header = f"{'PROBE':<16} {'STATE':<8} {'LAT ms':>7} {'p50':>7} {'p95':>7} {'FOR':>7}  DETAIL"
    lines = [_fit(f"remsvc-console health   {datetime.fromtimestamp(now).strftime('%Y-%m-%d %H:%M:%S')}", width)]
    current = None
    order = {name: i for i, name in enumerate(HTTP_PROBES)}
    first: dict[str, int] = {}
    for i, s in enumerate(snapshots):
        first.setdefault(s.key.endpoint, i)
    for s in sorted(snapshots, key=lambda s: (s.key.kind, first[s.key.endpoint], order.get(s.key.probe, 9))):
        group = "RemSvc servers" if s.key.is_remsvc else s.key.endpoint
        if group != current:
            current = group
            lines += ["", _fit(group, width), header]
        name = s.key.endpoint if s.key.is_remsvc else s.key.probe
        detail = s.result.detail
        if s.key.is_remsvc and s.command_rate is not None:
            detail += f", {s.command_rate:.2f} cmd/s"
        row = (f"{_fit(name, 16):<16} {s.state.value.upper():<8} {_lat(s.latency_s):>7} {_lat(s.p50_s):>7} "
               f"{_lat(s.p95_s):>7} {format_duration(s.time_in_state(now)):>7}  ")
        lines.append(row + _fit(detail, width - len(row)))
        if s.state is State.UP and s.last_error is not None:
            ago = format_duration(now - s.last_error.at)
            lines.append(_fit(f"{'':16} last error {ago} ago: {s.last_error.detail}", width))
        for p in s.result.programs:
            pid = f"pid {p.pid}" if p.pid else ""
            lines.append(_fit(f"{'':2}{p.name:<14} {p.statename:<8} {pid:<10} {p.why or p.description}", width))
        if s.key.probe == "monitor" and s.result.components:
            lines.append(_fit(f"{'':16} " + " · ".join(_component_cell(c) for c in s.result.components), width))
    if transitions:
        lines += ["", "Recent transitions"]
        for t in list(transitions)[-max_transitions:]:
            stamp = datetime.fromtimestamp(t.at).strftime("%H:%M:%S")
            lines.append(_fit(f"{stamp}  {t.key.endpoint}  {t.describe()}", width))
    return lines

