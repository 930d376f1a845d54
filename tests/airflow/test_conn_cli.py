"""`remsvc-console conn list|show` run as a real child process: output, exit status, no secret leaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TOKEN = "cli-secret-token-4b7d"
PASSWORD = "cli-password-91aa"
CLI = [sys.executable, "-m", "console", "conn"]


def run(*args: str, env_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIRFLOW") and not k.startswith("REMSVC_CONSOLE_")}
    env["REMSVC_CONSOLE_AIRFLOW_PYTHON"] = "off"
    env.update(env_vars or {})
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def assert_no_secret(proc: subprocess.CompletedProcess) -> None:
    combined = proc.stdout + proc.stderr
    assert TOKEN not in combined
    assert PASSWORD not in combined


ENV = {
    "AIRFLOW_CONN_REMSVC_DEFAULT": f'remsvc://remotehost:50051?extra={{"use_ssl":true,"bearer_token":"{TOKEN}"}}',
    "AIRFLOW_CONN_REMSVC_TLS": f"remsvc://admin:{PASSWORD}@tls-host:50443?use_ssl=true&bearer_token={TOKEN}",
    "AIRFLOW_CONN_REMSVC_PLAIN": f"remsvc://plain-host?bearer_token={TOKEN}",
}


def test_list_shows_address_tls_token_source_and_warning_count(tmp_path):
    conns = tmp_path / "conns.yaml"
    conns.write_text(f"remsvc_file:\n  conn_type: remsvc\n  host: file-host\n  extra: {{bearer_token: {TOKEN}, use_ssl: true}}\n")
    proc = run("list", "--connections-file", str(conns), env_vars=ENV)
    assert proc.returncode == 0, proc.stderr
    assert_no_secret(proc)
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert proc.stdout.splitlines()[0].split() == ["ID", "ADDRESS", "TYPE", "TLS", "TOKEN", "WARNINGS", "SOURCE"]
    assert rows["remsvc_default"][1:6] == ["remotehost:50051", "remsvc", "no", "no", "1"]
    assert rows["remsvc_default"][6:] == ["env", "AIRFLOW_CONN_REMSVC_DEFAULT"]
    assert rows["remsvc_tls"][1:6] == ["tls-host:50443", "remsvc", "yes", "yes", "0"]
    assert rows["remsvc_plain"][1:6] == ["plain-host:50051", "remsvc", "no", "yes", "1"]
    assert rows["remsvc_file"][1:6] == ["file-host:50051", "remsvc", "yes", "yes", "0"]
    assert rows["remsvc_file"][6:] == ["file", str(conns)]
    assert "2 connection(s) with warnings" in proc.stderr


def test_list_json_is_masked_and_machine_readable():
    proc = run("list", "--json", env_vars=ENV)
    assert proc.returncode == 0, proc.stderr
    assert_no_secret(proc)
    data = json.loads(proc.stdout)
    by_id = {c["conn_id"]: c for c in data["connections"]}
    assert set(by_id) == {"remsvc_default", "remsvc_tls", "remsvc_plain"}
    assert by_id["remsvc_tls"]["bearer_token"] == "***"
    assert by_id["remsvc_tls"]["password"] == "***"
    assert by_id["remsvc_tls"]["use_ssl"] is True
    assert by_id["remsvc_default"]["warnings"][0]["code"] == "extra_json_string"
    assert data["errors"] == [] and data["file"] is None


def test_show_prints_fields_and_each_warning_with_its_fix():
    proc = run("show", "remsvc_default", env_vars=ENV)
    assert proc.returncode == 0, proc.stderr
    assert_no_secret(proc)
    fields = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert fields["host"] == "remotehost"
    assert fields["port"] == "50051"
    assert fields["use_ssl"] == "no"
    assert fields["bearer_token"] == "(not set)"
    assert fields["source"] == "env AIRFLOW_CONN_REMSVC_DEFAULT"
    assert "[extra_json_string] TLS is OFF and the bearer token is NOT sent" in proc.stderr
    assert "fix: export AIRFLOW_CONN_REMSVC_DEFAULT='remsvc://remotehost:50051?__extra__=" in proc.stderr
    assert "***" in proc.stderr


def test_show_masks_token_and_password():
    proc = run("show", "remsvc_tls", env_vars=ENV)
    assert proc.returncode == 0
    assert_no_secret(proc)
    fields = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert fields["bearer_token"] == "***"
    assert fields["password"] == "***"
    assert fields["use_ssl"] == "yes"
    assert fields["uri"] == "remsvc://admin:***@tls-host:50443?use_ssl=true&bearer_token=***"
    assert proc.stderr == ""


def test_show_json_and_token_without_tls_warning():
    proc = run("show", "remsvc_plain", "--json", env_vars=ENV)
    assert proc.returncode == 0
    assert_no_secret(proc)
    data = json.loads(proc.stdout)
    assert data["bearer_token"] == "***"
    assert [w["code"] for w in data["warnings"]] == ["token_without_tls"]
    assert data["warnings"][0]["fix"]


def test_unknown_connection_exits_3_with_one_line_naming_what_was_searched(tmp_path):
    conns = tmp_path / "conns.env"
    conns.write_text("other=remsvc://h:1\n")
    proc = run("show", "remsvc_missing", "--connections-file", str(conns), env_vars=ENV)
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "searched in Airflow's order" in lines[0]
    assert "AIRFLOW_CONN_REMSVC_MISSING: not set" in lines[0] and f"{conns}: no 'remsvc_missing'" in lines[0]
    assert "metadata DB: not asked (Airflow lookups are off" in lines[0]


def test_malformed_file_and_variable_exit_3_naming_the_place(tmp_path):
    conns = tmp_path / "conns.json"
    conns.write_text('{"a": "remsvc://h:1",\n "b": }')
    proc = run("list", "--connections-file", str(conns), env_vars=ENV)
    assert proc.returncode == 3
    assert f"{conns}: line 2 column 7: invalid JSON" in proc.stderr
    assert_no_secret(proc)
    proc = run("list", env_vars={**ENV, "AIRFLOW_CONN_BROKEN": f"remsvc://u:{PASSWORD}@h:port"})
    assert proc.returncode == 3
    assert "remsvc_tls" in proc.stdout
    assert "AIRFLOW_CONN_BROKEN" in proc.stderr
    assert_no_secret(proc)


def test_file_from_environment_variable_and_escape_sequences_rendered_inert(tmp_path: Path):
    conns = tmp_path / "conns.env"
    conns.write_text("evil=remsvc://%1B%5D0%3Bowned%07@evil-host:1\n")
    proc = run("show", "evil", env_vars={"REMSVC_CONSOLE_CONNECTIONS_FILE": str(conns)})
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "␛]0;owned␇" in proc.stdout


def test_conn_without_action_is_a_usage_error():
    proc = run()
    assert proc.returncode == 2
    assert "list or show" in proc.stderr


def test_list_without_airflow_names_the_db_as_not_listed_and_suggests_airflow():
    proc = run("list", env_vars=ENV)
    assert proc.returncode == 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "not listed: metadata DB (list it with --airflow, or resolve one id with conn show ID)")


def test_list_airflow_when_airflow_is_off_lists_native_ones_then_the_reason_and_exits_3():
    proc = run("list", "--airflow", env_vars=ENV)
    assert proc.returncode == 3
    assert_no_secret(proc)
    assert sorted(line.split()[0] for line in proc.stdout.splitlines()[1:]) == ["remsvc_default", "remsvc_plain", "remsvc_tls"]
    assert proc.stderr.strip().splitlines()[-2:] == [
        "not listed: metadata DB (resolve one id with conn show ID)",
        "remsvc-console conn: metadata DB not listed: Airflow lookups are off (airflow_python: off)",
    ]
    data = json.loads(run("list", "--airflow", "--json", env_vars=ENV).stdout)
    assert len(data["connections"]) == 3
    assert data["not_listed"] == ["metadata DB"]
    assert data["errors"] == ["metadata DB not listed: Airflow lookups are off (airflow_python: off)"]


def test_list_airflow_when_airflow_is_not_found_says_what_to_set(tmp_path):
    missing = tmp_path / "no-such-python"
    proc = run("list", "--airflow", env_vars={**ENV, "REMSVC_CONSOLE_AIRFLOW_PYTHON": str(missing)})
    assert proc.returncode == 3
    assert "remsvc_tls" in proc.stdout
    assert f"metadata DB not listed: airflow_python '{missing}' is not an executable" in proc.stderr
    shown = run("show", "remsvc_missing", env_vars={**ENV, "REMSVC_CONSOLE_AIRFLOW_PYTHON": str(missing)})
    assert shown.returncode == proc.returncode


def test_list_airflow_with_no_native_connections_still_explains_itself(tmp_path):
    proc = run("list", "--airflow", env_vars={"XDG_CONFIG_HOME": str(tmp_path)})
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert "no connections found in AIRFLOW_CONN_* variables" in proc.stderr
    assert "metadata DB not listed: Airflow lookups are off" in proc.stderr
