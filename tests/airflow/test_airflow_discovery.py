"""Finding Airflow's interpreter without Airflow: the setting, 'off', a wrong path, nothing at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.airflow.conn_model import ConnectionNotFound
from console.airflow.conn_sources import needs_airflow, resolve_connection
from console.airflow.via_airflow import AirflowUnavailable, find_airflow_python


def test_off_disables_airflow_and_not_found_says_so():
    env = {"REMSVC_CONSOLE_AIRFLOW_PYTHON": "off", "PATH": ""}
    with pytest.raises(AirflowUnavailable, match="off"):
        find_airflow_python(env)
    with pytest.raises(ConnectionNotFound, match=r"metadata DB: not asked \(Airflow lookups are off"):
        resolve_connection("remsvc_db", env=env)


def test_a_setting_that_is_not_an_executable_is_named(tmp_path: Path):
    env = {"REMSVC_CONSOLE_AIRFLOW_PYTHON": str(tmp_path / "nope" / "python"), "PATH": ""}
    with pytest.raises(AirflowUnavailable, match="is not an executable"):
        find_airflow_python(env)


def test_the_settings_file_names_the_interpreter(tmp_path: Path):
    python = tmp_path / "py"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    config = tmp_path / "config" / "remsvc-console" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"airflow_python: {python}\n")
    assert find_airflow_python({"XDG_CONFIG_HOME": str(tmp_path / "config"), "PATH": ""}) == str(python)


def test_nothing_found_tells_what_to_set(tmp_path: Path):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "PATH": str(tmp_path)}
    with pytest.raises(AirflowUnavailable, match="Airflow not found: set airflow_python"):
        find_airflow_python(env)


def test_ids_are_left_for_the_background_only_when_airflow_can_answer(tmp_path: Path):
    python = tmp_path / "py"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    env = {"AIRFLOW_CONN_HERE": "remsvc://h", "PATH": "", "XDG_CONFIG_HOME": str(tmp_path)}
    assert needs_airflow(["here", "elsewhere", "web_*"], env=env) == []
    env["REMSVC_CONSOLE_AIRFLOW_PYTHON"] = str(python)
    assert needs_airflow(["here", "elsewhere", "web_*"], env=env) == ["elsewhere"]


def test_a_non_local_secrets_backend_sends_every_id_to_airflow_and_is_skipped_with_a_warning_without_it(tmp_path):
    env = {"AIRFLOW__SECRETS__BACKEND": "airflow.providers.hashicorp.secrets.vault.VaultBackend",
           "AIRFLOW_CONN_HERE": "remsvc://h", "REMSVC_CONSOLE_AIRFLOW_PYTHON": "off", "PATH": ""}
    conn = resolve_connection("here", env=env)
    assert conn.host == "h"
    assert conn.warnings[0].code == "backend_not_asked" and "VaultBackend" in conn.warnings[0].message
    with pytest.raises(ConnectionNotFound, match=r"1\) \[secrets\] backend VaultBackend: not asked"):
        resolve_connection("missing", env=env)
