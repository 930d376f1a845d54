"""Health of one supervisord instance and each of its programs, from ``getAllProcessInfo``.

State mapping (the ``health`` exit status follows it): RUNNING is up; STARTING, BACKOFF and
STOPPING are degraded; FATAL, UNKNOWN and an EXITED program whose exit status is not one of its
``exitcodes`` are down; STOPPED is down unless the program is ``autostart=false`` (then absent: it
is not meant to run until someone starts it), and an expected exit is absent too. ``autostart``,
``exitcodes`` and ``command`` come from ``getAllConfigInfo``, read on the first poll, after the
instance was unreachable, and whenever a program appears that the last read did not know. The
instance's own state is the worst of its programs'; unreachable or a refused login is down.
"""

from __future__ import annotations

import functools
import os
import shlex
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..safetext import inert
from .probes import Probe
from .results import SUPERVISOR_PROBE, ProbeKey, ProbeResult, ProgramStatus, Reason, State
from .supervisor_address import SupervisorAddress
from .supervisor_rpc import SupervisorRpc, SupervisorRpcError

AIRFLOW_COMPONENTS = {"dag-processor": "dag_processor", "scheduler": "scheduler", "triggerer": "triggerer",
                      "api-server": "api_server"}
_SEVERITY = {State.DOWN: 3, State.DEGRADED: 2, State.ABSENT: 1, State.UP: 0}
_TEXT_LIMIT = 200


@functools.lru_cache(maxsize=256)
def airflow_component(command: str) -> str | None:
    """``dag_processor`` for ``airflow dag-processor ...`` (also ``python -m airflow``, a full path)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for i, word in enumerate(words[:-1]):
        if os.path.basename(word) == "airflow" or (word == "airflow" and i and words[i - 1] == "-m"):
            return AIRFLOW_COMPONENTS.get(words[i + 1])
    return None


def _text(value: Any) -> str:
    text = inert(str(value or ""), keep_newlines=False, tab_width=1)
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _exit_codes(config: Mapping[str, Any]) -> list[int] | None:
    codes = config.get("exitcodes")
    if isinstance(codes, list) and all(isinstance(c, int) for c in codes):
        return codes
    return None


def program_state(statename: str, *, exitstatus: int, autostart: bool | None,
                  exitcodes: list[int] | None) -> tuple[State, str]:
    """The console's state for a supervisord state name, and why in words when it is not plain."""
    if statename == "RUNNING":
        return State.UP, ""
    if statename in ("STARTING", "BACKOFF", "STOPPING"):
        return State.DEGRADED, {"STARTING": "starting", "BACKOFF": "exited too quickly, supervisord retries",
                                "STOPPING": "stopping"}[statename]
    if statename == "FATAL":
        return State.DOWN, "could not be started (gave up retrying)"
    if statename == "EXITED":
        if exitcodes is not None and exitstatus in exitcodes:
            return State.ABSENT, f"exited as expected (status {exitstatus})"
        return State.DOWN, f"exited unexpectedly (status {exitstatus})"
    if statename == "STOPPED":
        if autostart is False:
            return State.ABSENT, "autostart=false: not meant to run until started"
        return State.DOWN, "stopped although autostart=true"
    return State.DOWN, f"state {statename or 'unknown'}"


def program_status(info: Mapping[str, Any], config: Mapping[str, Any] | None) -> ProgramStatus:
    """One row of ``getAllProcessInfo`` (with its config, when known) as a typed, inert record."""
    config = config or {}
    name, group = _text(info.get("name")), _text(info.get("group"))
    full = name if group in ("", name) else f"{group}:{name}"
    statename = _text(info.get("statename")).upper() or "UNKNOWN"
    exitstatus = int(info.get("exitstatus") or 0)
    autostart = config.get("autostart") if isinstance(config.get("autostart"), bool) else None
    state, why = program_state(statename, exitstatus=exitstatus, autostart=autostart, exitcodes=_exit_codes(config))
    start, now = info.get("start") or 0, info.get("now") or 0
    uptime = float(max(0, now - start)) if statename == "RUNNING" and start else None
    spawnerr = _text(info.get("spawnerr"))
    if spawnerr and state is not State.UP:
        why = f"{why}: {spawnerr}" if why else spawnerr
    command = _text(config.get("command"))
    return ProgramStatus(
        name=full, group=group, statename=statename, state=state, why=why, pid=int(info.get("pid") or 0),
        uptime_s=uptime, exitstatus=exitstatus, spawnerr=spawnerr, description=_text(info.get("description")),
        autostart=autostart, command=command, component=airflow_component(command) if command else None,
    )


def summarize(programs: tuple[ProgramStatus, ...]) -> tuple[State, Reason, str]:
    """The instance's state (its worst program's) and a one-line account of what is not running."""
    if not programs:
        return State.UP, Reason.OK, "no programs configured"
    worst = max((p.state for p in programs), key=_SEVERITY.__getitem__)
    counts: dict[str, int] = {}
    for p in programs:
        counts[p.statename] = counts.get(p.statename, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    if worst is State.UP:
        return State.UP, Reason.OK, f"{len(programs)} running"
    trouble = [p for p in programs if p.state is worst]
    names = ", ".join(f"{p.name} {p.statename}" for p in trouble[:3]) + (" …" if len(trouble) > 3 else "")
    reason = Reason.UNHEALTHY if worst in (State.DOWN, State.DEGRADED) else Reason.OK
    return worst, reason, f"{tally}; {names}"


class SupervisorProbe(Probe):
    """One supervisord instance; the key's endpoint is its address without credentials."""

    def __init__(self, address: SupervisorAddress, *, timeout: float = 5.0, clock: Callable[[], float] = time.time,
                 rpc: SupervisorRpc | None = None):
        self.address = address
        self.key = ProbeKey(address.display, SUPERVISOR_PROBE)
        self.rpc = rpc or SupervisorRpc(address, timeout=timeout)
        self._clock = clock
        self._config: dict[str, dict[str, Any]] | None = None

    async def _config_for(self, infos: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        names = {f"{i.get('group')}:{i.get('name')}" for i in infos}
        if self._config is None or not names <= set(self._config):
            rows = await self.rpc.call("supervisor.getAllConfigInfo")
            self._config = {f"{r.get('group')}:{r.get('name')}": r for r in rows if isinstance(r, dict)}
        return self._config

    async def check(self) -> ProbeResult:
        at = self._clock()
        start = time.perf_counter()
        try:
            infos = await self.rpc.call("supervisor.getAllProcessInfo")
            if not isinstance(infos, list):
                raise SupervisorRpcError(Reason.UNEXPECTED_BODY, "getAllProcessInfo did not return a list")
            infos = [i for i in infos if isinstance(i, dict)]
            config = await self._config_for(infos)
        except SupervisorRpcError as err:
            self._config = None
            return ProbeResult(self.key, State.DOWN, err.reason, err.message, at)
        latency = time.perf_counter() - start
        programs = tuple(program_status(i, config.get(f"{i.get('group')}:{i.get('name')}")) for i in infos)
        state, reason, detail = summarize(programs)
        return ProbeResult(self.key, state, reason, detail, at, latency, programs=programs)

    async def aclose(self) -> None:
        await self.rpc.aclose()
