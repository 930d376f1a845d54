"""Acceptance against a real Airflow 3.3.2: api-server, dag-processor and scheduler on 127.0.0.1 with SQLite.

Airflow is installed into its own cached virtualenv (tests/helpers/airflow_env.py); the test skips
only when the package cannot be installed at all. The console must report the monitor UP with a
fresh dag_processor heartbeat, /dag-processing as not mounted (Airflow 3.3 answers it with its UI
page), and — after the dag-processor is killed — the dag_processor component unhealthy once its
heartbeat is older than the low threshold set for the test.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from console.health.http_probes import HttpSettings
from console.health.poller import ProbeUpdated
from console.health.results import ProbeKey, Reason, State
from console.health.sources import heartbeat_thresholds
from console.health.transitions import TransitionKind
from console.health.watch import build_poller
from tests.helpers.airflow_env import (
    AIRFLOW_VERSION,
    AirflowDeployment,
    AirflowUnavailable,
    ensure_airflow,
    group_members,
)

pytestmark = pytest.mark.airflow
THRESHOLD_S = 8


@pytest.fixture(scope="module")
def airflow_install():
    started = time.monotonic()
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"apache-airflow=={AIRFLOW_VERSION} cannot be installed here: {exc}")
    how = "reused cached" if install.reused else "installed"
    print(f"\n[airflow] {how} virtualenv {install.venv} in {time.monotonic() - started:.1f} s")
    return install


def _healthy(doc: dict, *names: str) -> bool:
    return all((doc.get(n) or {}).get("status") == "healthy" for n in names)


async def _until_dag_processor_unhealthy(deployment: AirflowDeployment) -> tuple[list[ProbeUpdated], list]:
    thresholds = heartbeat_thresholds(env=deployment.env)
    poller = build_poller([deployment.base_url], interval=1.0, jitter=0.0,
                          http=HttpSettings(connect_timeout=5, read_timeout=10), thresholds=thresholds)
    monitor = ProbeKey(deployment.base_url, "monitor")
    seen: list[ProbeUpdated] = []

    async def watch() -> None:
        async for event in poller.events():
            if event.snapshot.key != monitor:
                continue
            seen.append(event)
            dag = event.snapshot.result.component("dag_processor")
            if dag is not None and dag.status == "unhealthy":
                return

    async with poller:
        await asyncio.wait_for(watch(), 120)
    return seen, poller.transitions()


@pytest.mark.timeout(1800)
def test_console_reports_real_airflow_health(airflow_install, tmp_path):
    started = time.monotonic()
    deployment = AirflowDeployment(airflow_install, tmp_path / "airflow-home",
                                   extra_env={"AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD": str(THRESHOLD_S)})
    deployment.home.mkdir()
    with deployment:
        deployment.run("db", "migrate")
        deployment.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(deployment.port))
        deployment.start("dag-processor", "dag-processor")
        deployment.start("scheduler", "scheduler")
        deployment.wait_for(lambda doc: _healthy(doc, "metadatabase", "scheduler", "dag_processor"),
                            "scheduler and dag_processor healthy")
        ready_s = time.monotonic() - started

        # The headless CLI, finding the API server from Airflow's own configuration (no URL given).
        # On a loaded CI machine a heartbeat can momentarily miss the 8 s threshold; the console is then
        # right to say DEGRADED, so take the first of a few runs in which Airflow itself is all healthy.
        for _ in range(3):
            cli = subprocess.run([sys.executable, "-m", "console", "health", "--once", "--json", "--timeout", "15"],
                                 capture_output=True, text=True, env=deployment.env, timeout=120)
            if cli.returncode == 4:
                break
            deployment.wait_for(lambda doc: _healthy(doc, "metadatabase", "scheduler", "dag_processor"),
                                "healthy again")
        assert cli.returncode == 4, cli.stdout + cli.stderr  # all up except the unmounted /dag-processing app
        [endpoint] = json.loads(cli.stdout)["endpoints"]
        assert endpoint["url"] == deployment.base_url
        probes = endpoint["probes"]
        monitor = probes["monitor"]
        assert monitor["state"] == "up", monitor
        dag = monitor["components"]["dag_processor"]
        assert dag["status"] == "healthy" and dag["threshold_s"] == THRESHOLD_S
        assert dag["heartbeat_age_s"] < THRESHOLD_S and not dag["stale"]
        assert monitor["components"]["triggerer"]["state"] == "absent"
        dag_processing = probes["dag_processing"]
        assert (dag_processing["state"], dag_processing["reason"], dag_processing["http_status"]) == (
            "absent", "not_mounted", 200)
        assert "not mounted" in dag_processing["detail"]
        assert probes["execution"]["state"] == "up" and probes["execution"]["api_version"]
        assert probes["version"]["version"] == AIRFLOW_VERSION

        # Kill the DAG processor (its whole process group) and watch the component go unhealthy.
        killed_pid = deployment.procs["dag-processor"].pid
        deployment.kill("dag-processor")
        assert group_members(killed_pid) == []
        killed_at = time.time()
        events, transitions = asyncio.run(_until_dag_processor_unhealthy(deployment))
        last = events[-1].snapshot.result
        assert last.state is State.DEGRADED and last.reason is Reason.UNHEALTHY
        component = last.component("dag_processor")
        assert component.heartbeat_age_s > THRESHOLD_S and component.stale
        assert component.heartbeat.timestamp() <= killed_at
        assert "dag_processor unhealthy" in last.detail
        kinds = {(t.kind, t.subject, t.before, t.after) for t in transitions}
        assert (TransitionKind.COMPONENT, "dag_processor", "healthy", "unhealthy") in kinds
        assert (TransitionKind.STATE, "monitor", "up", "degraded") in kinds
        assert last.component("scheduler").status == "healthy"

        leftovers = deployment.stop()
    assert leftovers == [], f"process groups still alive: {leftovers}"
    print(f"[airflow] ready after {ready_s:.1f} s; whole test {time.monotonic() - started:.1f} s")
