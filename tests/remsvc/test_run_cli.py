"""`remsvc-console run` as a script would call it: real process, real server, Airflow-style connections."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from console.remsvc.model import command_hash

TOKEN = "tok-run-cli-9f8e7d"


def run_cli(args: list[str], env_extra: dict[str, str], tmp_path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"), **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "console", "run", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=90,
    )


def conn_env(name: str, server, query: str = "") -> dict[str, str]:
    return {f"AIRFLOW_CONN_{name.upper()}": f"remsvc://127.0.0.1:{server.port}{query}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_is_the_operator_xcom_shape(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "remsvc_default", "--cmd", "echo hello", "--cmd", "echo 'it''s' \"ü\"", "--json"],
                   conn_env("remsvc_default", remsvc_server), tmp_path)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert list(payload) == ["state", "results", "error_msg"]
    assert payload["state"] == "SUCCESS" and payload["error_msg"] is None
    assert payload["results"] == [
        {"tid": 1, "rc": 0, "out": "hello\n", "err": "", "hsh": command_hash("echo hello"), "cmd": "echo hello"},
        {"tid": 2, "rc": 0, "out": "its ü\n", "err": "", "hsh": command_hash("echo 'it''s' \"ü\""), "cmd": "echo 'it''s' \"ü\""},
    ]


def test_nonzero_rc_exits_1_and_fails_the_state(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "true", "--cmd", "echo bad >&2; exit 7", "--json"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert payload["state"] == "FAILED" and "tid 2" in payload["error_msg"]
    assert payload["results"][1]["rc"] == 7 and payload["results"][1]["err"] == "bad\n"


def test_commands_from_stdin_and_readable_report(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "-"], conn_env("c", remsvc_server), tmp_path, stdin="echo a\n\nprintf '\\033]0;pwned\\007x'\n")
    assert proc.returncode == 0, proc.stderr
    assert "[1] rc=0" in proc.stdout and "out| a" in proc.stdout
    assert "[2] rc=0" in proc.stdout and "[3]" not in proc.stdout
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "␛]0;pwned␇x" in proc.stdout


def test_several_targets_keyed_by_conn_id_with_one_dead(remsvc_server, tmp_path):
    env = {**conn_env("web_1", remsvc_server), "AIRFLOW_CONN_WEB_2": f"remsvc://127.0.0.1:{free_port()}"}
    proc = run_cli(["--conn", "web_*", "--cmd", "echo x", "--json"], env, tmp_path)
    assert proc.returncode == 4
    payload = json.loads(proc.stdout)["targets"]
    assert payload["web_1"]["state"] == "SUCCESS"
    assert payload["web_2"]["state"] == "FAILED" and payload["web_2"]["results"] == []
    assert "web_2 (127.0.0.1:" in proc.stderr and "connection refused" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_denied_stream_exits_5_and_keeps_earlier_results(remsvc_server_factory, tmp_path):
    server = remsvc_server_factory("[denylist]\nshutdown = shutdown\n")
    proc = run_cli(["--conn", "c", "--cmd", "echo before", "--cmd", "shutdown -h now", "--json"], conn_env("c", server), tmp_path)
    assert proc.returncode == 5
    payload = json.loads(proc.stdout)
    assert payload["state"] == "FAILED" and [r["tid"] for r in payload["results"]] == [1]
    assert "permission denied" in payload["error_msg"]


def test_unknown_connection_exits_3_with_one_line(tmp_path):
    proc = run_cli(["--conn", "nope", "--cmd", "true"], {}, tmp_path)
    assert proc.returncode == 3
    assert "AIRFLOW_CONN_NOPE" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_no_commands_is_a_usage_error(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 2 and "no commands" in proc.stderr


def test_token_is_sent_never_printed_and_warned_without_tls(remsvc_server_factory, tmp_path):
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    env = conn_env("c", server, f"?bearer_token={TOKEN}")
    proc = run_cli(["--conn", "c", "--cmd", "echo authed", "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["out"] == "authed\n"
    assert TOKEN not in proc.stdout + proc.stderr
    assert "TLS" in proc.stderr and "warning" in proc.stderr
    journal_text = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.jsonl"))
    assert "authed" in journal_text and TOKEN not in journal_text


def test_bad_token_exits_4(remsvc_server_factory, tmp_path):
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    proc = run_cli(["--conn", "c", "--cmd", "true"], conn_env("c", server, "?bearer_token=wrong"), tmp_path)
    assert proc.returncode == 4 and "invalid bearer token" in proc.stderr


def test_truncation_reported_on_stderr_not_in_out(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "head -c 300000 /dev/zero | tr '\\0' y", "--json"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 0
    out = json.loads(proc.stdout)["results"][0]["out"]
    assert out == "y" * 262144
    assert "truncated by the server at 262144 bytes" in proc.stderr


def test_every_dispatch_is_journaled(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "echo journaled"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 0
    files = list((tmp_path / "state").rglob("*.jsonl"))
    assert len(files) == 1
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert any("journaled" in json.dumps(r) for r in records)
    proc = run_cli(["--conn", "c", "--cmd", "echo quiet", "--no-journal"], conn_env("c", remsvc_server), tmp_path)
    assert "quiet" not in files[0].read_text()
