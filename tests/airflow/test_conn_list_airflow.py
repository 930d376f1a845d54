"""`conn list --airflow` against a real Airflow 3.3.2: the metadata DB's connections, each as Airflow resolves it.

A fresh SQLite metadata DB gets its connections through ``airflow connections import`` (Airflow's own
CLI); the console then runs as a child process with that Airflow as its ``airflow_python``. No test
output may contain a token or password stored in the DB.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.airflow_db import fill_metadata_db, recording_python
from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow

pytestmark = pytest.mark.airflow

TOKEN = "db-list-token-5e9a17c3b2"
PASSWORD = "db-list-password-0d44f6"
SECRETS = (TOKEN, PASSWORD)
DB_CONNECTIONS = {
    "remsvc_db": {"conn_type": "remsvc", "host": "db-host", "port": 50443, "login": "ops", "password": PASSWORD,
                  "extra": json.dumps({"use_ssl": True, "bearer_token": TOKEN})},
    "remsvc_shared": {"conn_type": "remsvc", "host": "from-db", "port": 7,
                      "extra": json.dumps({"bearer_token": TOKEN})},
    "remsvc_shadowed": {"conn_type": "remsvc", "host": "shadowed-in-db", "port": 8},
    "remsvc_evil": {"conn_type": "remsvc", "host": "evil\x1b]0;owned\x07host", "port": 9,
                    "extra": json.dumps({"note": "\x1b[31mred"})},
}
ENV_CONNECTIONS = {
    "AIRFLOW_CONN_REMSVC_SHARED": "remsvc://from-env:2",
    "AIRFLOW_CONN_REMSVC_ENVONLY": "remsvc://env-host:3",
}
BACKEND = '''\
from airflow.secrets import BaseSecretsBackend


class ShadowBackend(BaseSecretsBackend):
    """Answers for one id only, as a remote backend would that cannot be enumerated."""

    def get_conn_value(self, conn_id, team_name=None):
        return "remsvc://from-backend:4" if conn_id == "remsvc_shadowed" else None
'''


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"Airflow cannot be installed here: {exc}")
    root = tmp_path_factory.mktemp("conn-list-airflow")
    env = fill_metadata_db(install, root, DB_CONNECTIONS)
    home = Path(env["AIRFLOW_HOME"])
    backend_dir = root / "backend"
    backend_dir.mkdir()
    (backend_dir / "shadow_backend_for_tests.py").write_text(BACKEND)
    yield {"env": {**env, **ENV_CONNECTIONS}, "root": root, "db": home / "airflow.db", "airflow": str(install.airflow), "python": env["REMSVC_CONSOLE_AIRFLOW_PYTHON"],
           "backend_dir": backend_dir}


def console(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "console", "conn", *args], capture_output=True, text=True,
                          env=env, timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr
    for secret in SECRETS:
        assert secret not in proc.stdout and secret not in proc.stderr
    return proc


def table_rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["ID", "ADDRESS", "TYPE", "TLS", "TOKEN", "WARNINGS", "SOURCE"]
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_db_connections_are_listed_with_their_source_and_env_wins_once(deployment):
    proc = console(deployment["env"], "list", "--airflow")
    assert proc.returncode == 0, proc.stderr
    rows = table_rows(proc.stdout)
    assert sorted(rows) == ["remsvc_db", "remsvc_envonly", "remsvc_evil", "remsvc_shadowed", "remsvc_shared"]
    assert rows["remsvc_db"][1:5] == ["db-host:50443", "remsvc", "yes", "yes"]
    assert " ".join(rows["remsvc_db"][6:]) == "metadata DB (via Airflow)"
    assert rows["remsvc_shared"][1] == "from-env:2"
    assert " ".join(rows["remsvc_shared"][6:]) == "env AIRFLOW_CONN_REMSVC_SHARED"
    assert [line.split()[0] for line in proc.stdout.splitlines()].count("remsvc_shared") == 1
    assert " ".join(rows["remsvc_envonly"][6:]) == "env AIRFLOW_CONN_REMSVC_ENVONLY"
    assert "not listed" not in proc.stderr


def test_db_text_is_rendered_inert_in_the_table(deployment):
    proc = console(deployment["env"], "list", "--airflow")
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "evil␛]0;owned␇host:9" in proc.stdout


def test_json_merges_the_db_into_the_same_shape_with_secrets_masked(deployment):
    proc = console(deployment["env"], "list", "--airflow", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"connections", "errors", "file", "not_listed"}
    assert data["errors"] == [] and data["not_listed"] == []
    by_id = {c["conn_id"]: c for c in data["connections"]}
    assert [c["conn_id"] for c in data["connections"]] == sorted(by_id)
    db = by_id["remsvc_db"]
    assert (db["source"], db["host"], db["port"], db["login"]) == ("metadata DB (via Airflow)", "db-host", 50443, "ops")
    assert (db["password"], db["bearer_token"], db["extras"]["bearer_token"]) == ("***", "***", "***")
    assert db["use_ssl"] is True
    assert by_id["remsvc_shared"]["source"] == "env AIRFLOW_CONN_REMSVC_SHARED"
    assert by_id["remsvc_shared"]["bearer_token"] is None
    assert by_id["remsvc_evil"]["extras"]["note"] == "\x1b[31mred"


def test_airflow_starts_once_and_no_secret_crosses_its_arguments(deployment, tmp_path):
    wrapper, calls, argv = recording_python(tmp_path, deployment["python"])
    env = {**deployment["env"], "REMSVC_CONSOLE_AIRFLOW_PYTHON": str(wrapper)}
    proc = console(env, "list", "--airflow", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "remsvc_db" in {c["conn_id"] for c in json.loads(proc.stdout)["connections"]}
    assert calls.read_text().splitlines() == ["call"]
    recorded = argv.read_text()
    assert recorded.startswith("-c ") and not any(s in recorded for s in SECRETS) and "remsvc_db" not in recorded


def test_a_backend_before_the_db_answers_for_its_ids_and_is_still_not_listed(deployment):
    env = {**deployment["env"], "PYTHONPATH": str(deployment["backend_dir"]),
           "AIRFLOW__SECRETS__BACKEND": "shadow_backend_for_tests.ShadowBackend"}
    proc = console(env, "list", "--airflow", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_id = {c["conn_id"]: c for c in data["connections"]}
    assert (by_id["remsvc_shadowed"]["host"], by_id["remsvc_shadowed"]["source"]) == (
        "from-backend", "[secrets] backend ShadowBackend (via Airflow)")
    assert by_id["remsvc_shared"]["source"] == "env AIRFLOW_CONN_REMSVC_SHARED (via Airflow)"
    assert by_id["remsvc_db"]["source"] == "metadata DB (via Airflow)"
    assert data["not_listed"] == ["[secrets] backend ShadowBackend"]
    table = console(env, "list", "--airflow")
    assert table.returncode == 0
    assert table.stderr.strip().splitlines()[-1] == (
        "not listed: [secrets] backend ShadowBackend (cannot be enumerated, resolve one id with conn show ID)")


@pytest.mark.parametrize("database", ["uninitialised", "unreachable"])
def test_a_db_that_cannot_be_listed_is_one_clear_line_and_native_ones_are_still_listed(deployment, tmp_path, database):
    if database == "uninitialised":
        url, reason = f"sqlite:///{tmp_path / 'empty.db'}", "it has no connection table (not initialised"
    else:
        url, reason = f"sqlite:///{tmp_path / 'no-such-dir' / 'airflow.db'}", "unable to open database file"
    env = {**deployment["env"], "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    proc = console(env, "list", "--airflow")
    assert proc.returncode == 3
    assert sorted(table_rows(proc.stdout)) == ["remsvc_envonly", "remsvc_shared"]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("remsvc-console conn:")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("remsvc-console conn: metadata DB not listed: Airflow (")
    assert reason in errors[0]
    assert "not listed: metadata DB (resolve one id with conn show ID)" in proc.stderr
    data = json.loads(console(env, "list", "--airflow", "--json").stdout)
    assert data["not_listed"] == ["metadata DB"] and len(data["errors"]) == 1 and reason in data["errors"][0]



def test_rows_airflow_cannot_read_are_errors_and_the_rest_is_listed(deployment, tmp_path):
    db = tmp_path / "airflow.db"
    shutil.copy(deployment["db"], db)
    with sqlite3.connect(db) as sql:
        insert = "INSERT INTO connection (conn_id, conn_type, host, extra, is_encrypted, is_extra_encrypted) VALUES (?, ?, ?, ?, 0, 0)"
        sql.execute(insert, ("remsvc_bad_extra", "remsvc", "h", "not json"))
        sql.execute(insert, ("raw\x1b]0;owned\x07id", "remsvc", "raw-host", None))
    env = {**deployment["env"], "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
    proc = console(env, "list", "--airflow")
    assert proc.returncode == 3
    rows = table_rows(proc.stdout)
    assert "remsvc_db" in rows and "remsvc_bad_extra" not in rows
    assert rows["raw␛]0;owned␇id"][1] == "raw-host:50051"
    assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr
    bad = ("remsvc-console conn: connection 'remsvc_bad_extra' (metadata DB (via Airflow)): Airflow cannot read it: "
           "ValueError: Encountered non-JSON in `extra` field")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("remsvc-console conn:")]
    assert len(errors) == 1 and errors[0].startswith(bad)
    shown = console(env, "show", "remsvc_bad_extra")
    assert shown.returncode == 3
    assert shown.stderr.startswith(bad) and len(shown.stderr.strip().splitlines()) == 1


def test_connections_of_a_team_are_named_as_not_listed(deployment, tmp_path):
    db = tmp_path / "airflow.db"
    shutil.copy(deployment["db"], db)
    env = {**deployment["env"], "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
    to_import = tmp_path / "team.json"
    to_import.write_text(json.dumps({"remsvc_team": {"conn_type": "remsvc", "host": "team-host", "team_name": "team_ops",
                                                     "extra": json.dumps({"bearer_token": TOKEN})}}))
    for args in (["teams", "create", "team_ops"], ["connections", "import", str(to_import)]):
        proc = subprocess.run([deployment["airflow"], *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    proc = console(env, "list", "--airflow")
    assert proc.returncode == 0, proc.stderr
    assert "remsvc_team" not in table_rows(proc.stdout) and "remsvc_db" in table_rows(proc.stdout)
    assert proc.stderr.strip().splitlines()[-1] == (
        "not listed: metadata DB connections of team team_ops: remsvc_team (only that team's DAGs get them)")
    data = json.loads(console(env, "list", "--airflow", "--json").stdout)
    assert data["not_listed"] == ["metadata DB connections of team team_ops: remsvc_team (only that team's DAGs get them)"]


LEAKY_BACKEND = '''\
from airflow.secrets import BaseSecretsBackend


class LeakyBackend(BaseSecretsBackend):
    """Fails as a remote backend can, naming the URL it could not reach, password and all."""

    def get_conn_value(self, conn_id, team_name=None):
        raise ConnectionError("cannot reach https://svc:vault-url-pass-81f2@vault.internal:8200/v1")
'''


def test_a_url_password_in_an_error_airflow_reports_is_masked(deployment, tmp_path):
    (tmp_path / "leaky_backend_for_tests.py").write_text(LEAKY_BACKEND)
    env = {**deployment["env"], "PYTHONPATH": str(tmp_path),
           "AIRFLOW__SECRETS__BACKEND": "leaky_backend_for_tests.LeakyBackend"}
    proc = console(env, "show", "remsvc_nowhere")
    assert proc.returncode == 3
    assert "https://svc:***@vault.internal:8200/v1" in proc.stderr
    assert "vault-url-pass-81f2" not in proc.stdout + proc.stderr


def test_an_id_in_the_consoles_file_and_the_db_warns_that_dags_get_the_db_one(deployment, tmp_path):
    own = tmp_path / "console-connections.json"
    own.write_text(json.dumps({"remsvc_db": "remsvc://from-console-file:1", "remsvc_fileonly": "remsvc://only-here:2"}))
    proc = console(deployment["env"], "list", "--airflow", "--json", "--connections-file", str(own))
    assert proc.returncode == 0, proc.stderr
    by_id = {c["conn_id"]: c for c in json.loads(proc.stdout)["connections"]}
    assert (by_id["remsvc_db"]["host"], by_id["remsvc_db"]["source"]) == ("from-console-file", f"file {own}")
    codes = {w["code"]: w["message"] for w in by_id["remsvc_db"]["warnings"]}
    assert "DAGs get that connection" in codes["file_shadows_db"]
    assert "file_shadows_db" not in {w["code"] for w in by_id["remsvc_fileonly"]["warnings"]}
    assert all("file_shadows_db" not in {w["code"] for w in c["warnings"]} for c in by_id.values() if c["conn_id"] != "remsvc_db")
