"""`run --airflow`: globs match the connections in Airflow's metadata DB, against a real Airflow 3.3.2
whose DB is filled by Airflow's own CLI and real embedded RemSvc servers behind those connections."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from tests.helpers.airflow_db import fill_metadata_db
from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow

pytestmark = pytest.mark.airflow


@pytest.fixture
def deployment(tmp_path, remsvc_server_factory):
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"Airflow cannot be installed here: {exc}")
    servers = [remsvc_server_factory(), remsvc_server_factory()]
    connections = {
        f"remsvc_web_{i}": {"conn_type": "remsvc", "host": "127.0.0.1", "port": server.port}
        for i, server in enumerate(servers, start=1)
    }
    connections["postgres_web_3"] = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432}
    env = fill_metadata_db(install, tmp_path, connections)
    return {"env": env, "db": tmp_path / "airflow" / "airflow.db", "servers": servers}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "console", "run", "--cmd", "echo hi", "--no-journal", *args],
                          capture_output=True, text=True, env=env, timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_a_glob_matches_the_db_only_with_airflow(deployment):
    without = run(deployment["env"], "--conn", "remsvc_web_*", "--json")
    assert without.returncode == 3
    assert without.stderr.splitlines()[-1] == "remsvc-console: globs search Airflow's metadata DB only with --airflow"
    proc = run(deployment["env"], "--conn", "remsvc_web_*", "--airflow", "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert sorted(payload["targets"]) == ["remsvc_web_1", "remsvc_web_2"]
    assert all(t["state"] == "SUCCESS" and t["results"][0]["out"] == "hi\n" for t in payload["targets"].values())


def test_a_glob_that_matches_an_unreadable_db_row_fails_before_anything_is_sent(deployment):
    with sqlite3.connect(deployment["db"]) as sql:
        sql.execute("INSERT INTO connection (conn_id, conn_type, host, extra, is_encrypted, is_extra_encrypted) "
                    "VALUES ('remsvc_web_9', 'remsvc', 'h', 'not json', 0, 0)")
    proc = run(deployment["env"], "--conn", "remsvc_web_*", "--airflow")
    assert proc.returncode == 3
    assert "remsvc_web_9" in proc.stderr and "Airflow cannot read it" in proc.stderr
    assert "hi" not in proc.stdout


def test_airflow_off_is_one_clear_line(deployment):
    env = {**deployment["env"], "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off"}
    proc = run(env, "--conn", "remsvc_web_*", "--airflow")
    assert proc.returncode == 3
    assert proc.stderr.strip() == ("remsvc-console: metadata DB not listed: Airflow lookups are off "
                                   "(airflow_python: off)")


def test_health_pings_the_db_connections_a_glob_matches_with_airflow(deployment):
    proc = subprocess.run([sys.executable, "-m", "console", "health", "--conn", "remsvc_web_*", "--airflow",
                           "--once", "--json"], capture_output=True, text=True, env=deployment["env"], timeout=180)
    assert proc.returncode == 0, proc.stderr
    states = {r["conn_id"]: r["state"] for r in json.loads(proc.stdout)["remsvc"]}
    assert states == {"remsvc_web_1": "up", "remsvc_web_2": "up"}
