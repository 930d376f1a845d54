"""SVG snapshots of the Health pane: all up, DAG processor unhealthy, API server down, supervisord programs.

The states, details and components come from real polls of local servers; what would differ
between runs is then fixed before the screen is captured: URLs and ports are shown through aliases,
the pane's wall clock is frozen, and each snapshot's timings (latencies, since, heartbeat ages,
transition times, program pids and uptimes) are replaced with fixed values and the pane redrawn.
Time zone is UTC. The supervisord scenario runs a real supervisord; its flapping program is polled
until supervisord reports it in BACKOFF (it spends a moment in STARTING between retries).
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from console.health.history import ProbeSnapshot
from console.health.results import ProgramStatus
from console.health.supervisor_address import parse_supervisor_url
from console.ui.widgets.health_text import HealthViewOptions
from tests.helpers.http_fault_server import FaultServer, refused_url
from tests.helpers.supervisord import Supervisord
from tests.ui.test_health_pane import INTERVAL, health_app, open_pane
from tests.ui.helpers import wait_for

FROZEN = 1_714_564_800.0  # 2024-05-01 12:00:00 UTC
LATENCIES = (0.012, 0.011, 0.014, 0.019, 0.013, 0.012, 0.031, 0.015, 0.012, 0.013, 0.016, 0.012)
SCENARIOS = ("all-up", "dag-processor-unhealthy", "api-down", "supervisord", "supervisord-program-selected")
SOCKET_ALIAS = "unix:///run/airflow/supervisor.sock"


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def frozen(snapshot: ProbeSnapshot, index: int) -> ProbeSnapshot:
    """The same snapshot with every timing replaced by a fixed value derived from its row."""
    answered = snapshot.latency_s is not None
    window = tuple(v * (1 + index / 10) for v in LATENCIES) if answered else ()
    result = replace(
        snapshot.result,
        at=FROZEN,
        latency_s=window[-1] if answered else None,
        components=tuple(replace(c, heartbeat_age_s=float(int(c.heartbeat_age_s)))
                         if c.heartbeat_age_s is not None else c for c in snapshot.result.components),
    )
    last_error = replace(snapshot.last_error, at=FROZEN - 300) if snapshot.last_error is not None else None
    result = replace(result, programs=tuple(frozen_program(p, i) for i, p in enumerate(result.programs)))
    return replace(
        snapshot,
        result=result,
        since=FROZEN - 125 - 60 * index,
        latency_s=result.latency_s,
        p50_s=sorted(window)[len(window) // 2 - 1] if answered else None,
        p95_s=max(window) if answered else None,
        latencies_s=window,
        last_error=last_error,
    )


def frozen_program(p: ProgramStatus, index: int) -> ProgramStatus:
    if p.statename != "RUNNING":
        description = "Exited too quickly (process log may have details)" if p.spawnerr else p.description
        return replace(p, description="Nov 29 10:41 PM" if p.statename == "EXITED" else description)
    pid = 4100 + index
    return replace(p, pid=pid, uptime_s=3725.0 + index, description=f"pid {pid}, uptime 1:02:05")


def before(scenario: str, server: FaultServer, sv: Supervisord | None = None):
    async def run_before(pilot) -> None:
        pane = await open_pane(pilot, 5 if sv is not None else 4)
        if sv is not None:
            await wait_for(pilot, lambda: pane.programs_table.row_count == 5, what="programs")
            for _ in range(40):
                snap = next(s for s in pane.snapshots.values() if s.key.is_supervisor)
                if {p.name: p.statename for p in snap.result.programs}["flapper"] == "BACKOFF":
                    break
                sv.wait_state("flapper", "BACKOFF")
                polls = snap.polls
                pane.poller.poll_now(snap.key)
                await wait_for(pilot, lambda: next(s for s in pane.snapshots.values() if s.key.is_supervisor).polls
                               > polls, what="another supervisord poll")
            pane.transitions = []
            if scenario == "supervisord-program-selected":
                pane.programs_table.focus()  # the FATAL program, first in order, is selected
        if scenario == "dag-processor-unhealthy":
            server.airflow.components["dag_processor"] = "unhealthy"
            server.airflow.heartbeat_age_s["dag_processor"] = 95.0
            await pilot.press("r")
            await wait_for(pilot, lambda: len(pane.transitions) >= 2, what="transitions")
        pane.snapshots = {key: frozen(s, i) for i, (key, s) in enumerate(sorted(pane.snapshots.items()))}
        pane.transitions = [replace(t, at=FROZEN - 10 * (len(pane.transitions) - i))
                            for i, t in enumerate(pane.transitions)]
        pane.redraw()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_health_pane_snapshot(snap_compare, utc, tmp_path, scenario, size):
    with FaultServer() as server, contextlib.ExitStack() as stack:
        url = refused_url() if scenario == "api-down" else server.url("healthy")
        host = urlsplit(url).netloc
        aliases = {url: "http://airflow-api:8080", host: "airflow-api:8080"}
        sv = None
        if scenario.startswith("supervisord"):
            sv = stack.enter_context(Supervisord(tmp_path / "sv"))
            for name, state in (("runner", "RUNNING"), ("crasher", "FATAL"), ("oneshot", "EXITED")):
                sv.wait_state(name, state)
            aliases.update({sv.unix_url: SOCKET_ALIAS, sys.executable: "/usr/bin/python3",
                            str(tmp_path / "sv" / "scripts"): "/srv/jobs"})
        options = HealthViewOptions(clock=lambda: FROZEN, interval=INTERVAL, jitter=0.0, aliases=aliases)
        app = health_app(tmp_path, [url], options=options)
        if sv is not None:
            app.ctx.health_supervisors = [parse_supervisor_url(sv.unix_url)]
        assert snap_compare(app, terminal_size=size, run_before=before(scenario, server, sv))
