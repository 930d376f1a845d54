"""Acceptance against a real Airflow 3.3.2 whose dag-processor runs under a real supervisord.

The api-server and scheduler run as in test_airflow_real.py; the dag-processor is a supervisord
program (autorestart). The test kills the dag-processor's process group and watches, through one
poller over both, the dag_processor component go stale on the monitor while supervisord takes the
program out of RUNNING and back (a new pid), with both recorded as transitions.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from console.health.http_probes import HttpSettings
from console.health.results import ProbeKey
from console.health.sources import heartbeat_thresholds
from console.health.supervisor_address import parse_supervisor_url
from console.health.transitions import TransitionKind
from console.health.watch import build_poller
from tests.health.test_airflow_real import _healthy, airflow_install  # noqa: F401  (fixture)
from tests.helpers.airflow_env import AirflowDeployment
from tests.helpers.supervisord import Program, Supervisord

pytestmark = pytest.mark.airflow
# Low enough that a restarting dag-processor (seconds of imports before its first heartbeat) is
# always seen stale; live components heartbeat every second.
THRESHOLD_S = 3


@pytest.mark.timeout(1800)
def test_killed_dag_processor_goes_stale_while_supervisord_restarts_it(airflow_install, tmp_path):  # noqa: F811
    deployment = AirflowDeployment(airflow_install, tmp_path / "airflow-home",
                                   extra_env={"AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD": str(THRESHOLD_S)})
    deployment.home.mkdir()
    (deployment.home / "dags").mkdir()
    program = Program("dag-processor", f"{airflow_install.airflow} dag-processor",
                      {"startsecs": "3", "autorestart": "true", "startretries": "5",
                       "directory": str(deployment.home)})
    with deployment, Supervisord(tmp_path / "sv", [program], env=deployment.env) as sv:
        deployment.run("db", "migrate")
        deployment.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(deployment.port))
        deployment.start("scheduler", "scheduler")
        sv.wait_state("dag-processor", "RUNNING", timeout=120)
        deployment.wait_for(lambda doc: _healthy(doc, "metadatabase", "scheduler", "dag_processor"),
                            "scheduler and dag_processor healthy")
        first_pid = sv.info("dag-processor")["pid"]
        seen = asyncio.run(_kill_and_watch(deployment, sv, first_pid))

    stale_seen, programs_seen, transitions = seen
    print(f"\n[airflow] program states seen: {programs_seen}")
    print("[airflow] transitions: " + "; ".join(t.describe() for t in transitions))
    assert stale_seen, "the dag_processor heartbeat never went stale after the kill"
    states = [state for state, _ in programs_seen]
    assert states[0] == "RUNNING"
    assert any(s in ("STARTING", "BACKOFF", "EXITED") for s in states), states
    assert states[-1] == "RUNNING" and programs_seen[-1][1] not in (0, first_pid)
    program_moves = [(t.before, t.after) for t in transitions if t.kind is TransitionKind.PROGRAM]
    assert any(before == "RUNNING" for before, _ in program_moves), program_moves
    assert any(after == "RUNNING" for _, after in program_moves), program_moves
    assert any(t.kind in (TransitionKind.COMPONENT, TransitionKind.HEARTBEAT) and t.subject == "dag_processor"
               for t in transitions)


async def _kill_and_watch(deployment: AirflowDeployment, sv: Supervisord, first_pid: int):
    address = parse_supervisor_url(sv.inet_url)
    poller = build_poller([deployment.base_url], supervisors=[address], interval=1.0, jitter=0.0,
                          http=HttpSettings(connect_timeout=5, read_timeout=10),
                          thresholds=heartbeat_thresholds(env=deployment.env))
    monitor = ProbeKey(deployment.base_url, "monitor")
    supervisor = ProbeKey(address.display, "supervisor")
    stale_seen = False
    programs_seen: list[tuple[str, int]] = []

    async def watch() -> None:
        nonlocal stale_seen
        baseline = {"monitor": False, "program": False}
        killed = False
        async for event in poller.events():
            result = event.snapshot.result
            if event.snapshot.key == monitor:
                dag = result.component("dag_processor")
                if dag is not None and not killed and dag.status == "healthy" and not dag.stale:
                    baseline["monitor"] = True
                if killed and dag is not None and (dag.stale or dag.status != "healthy"):
                    stale_seen = True
            elif event.snapshot.key == supervisor and result.programs:
                [program] = result.programs
                programs_seen.append((program.statename, program.pid))
                baseline["program"] = baseline["program"] or program.pid == first_pid
            if not killed and all(baseline.values()):
                # Both sides seen healthy first, so what follows are transitions, not first sightings.
                os.killpg(first_pid, signal.SIGKILL)
                killed = True
            restarted = programs_seen and programs_seen[-1][0] == "RUNNING" and programs_seen[-1][1] != first_pid
            if stale_seen and restarted:
                return

    async with poller:
        try:
            await asyncio.wait_for(watch(), 300)
        except asyncio.TimeoutError:
            raise AssertionError(f"stale seen: {stale_seen}; program states seen: {programs_seen}; transitions: "
                                 f"{[t.describe() for t in poller.transitions()]}") from None
    return stale_seen, programs_seen, poller.transitions()
