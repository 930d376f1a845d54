"""`remsvc-console health` run as a real child process against real local servers."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

import pytest

from console.safetext import is_inert
from tests.helpers.http_fault_server import Reply, refused_url

TOKEN = "cli-bearer-token-5e7a"


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """No user config, no Airflow config, no connections: only what each test passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REMSVC_CONSOLE"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), AIRFLOW_HOME=str(tmp_path / "airflow"))
    return env


def health(env, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", "health", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_once_json_all_up_exits_0(fault_server, cli_env):
    proc = health(cli_env, fault_server.url("healthy"), "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["remsvc"] == []
    [endpoint] = doc["endpoints"]
    assert endpoint["url"] == fault_server.url("healthy")
    probes = endpoint["probes"]
    assert set(probes) == {"dag_processing", "monitor", "execution", "version"}
    assert {p["state"] for p in probes.values()} == {"up"}
    dag = probes["dag_processing"]
    assert dag["http_status"] == 200 and dag["latency_ms"] > 0 and dag["detail"] == "healthy"
    components = probes["monitor"]["components"]
    assert components["triggerer"] == {"status": None, "state": "absent", "heartbeat": None,
                                       "heartbeat_age_s": None, "threshold_s": 30.0, "stale": False}
    assert components["dag_processor"]["status"] == "healthy"
    assert components["dag_processor"]["heartbeat_age_s"] >= 0
    assert probes["execution"]["api_version"] == "2026-06-30"
    assert probes["version"]["version"] == "3.4.0"


def test_not_mounted_dag_processing_exits_4_unless_absent_is_allowed(fault_server, cli_env):
    proc = health(cli_env, fault_server.url("airflow33"), "--once", "--json")
    assert proc.returncode == 4
    dag = json.loads(proc.stdout)["endpoints"][0]["probes"]["dag_processing"]
    assert (dag["state"], dag["reason"], dag["http_status"]) == ("absent", "not_mounted", 200)
    assert health(cli_env, fault_server.url("airflow33"), "--once", "--allow-absent").returncode == 0


def test_any_down_or_degraded_exits_1(fault_server, cli_env):
    assert health(cli_env, fault_server.url("error500"), "--once").returncode == 1
    fault_server.airflow.components["dag_processor"] = "unhealthy"
    proc = health(cli_env, fault_server.url("healthy"), "--once", "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["endpoints"][0]["probes"]["monitor"]["state"] == "degraded"


def test_several_api_servers_and_a_remsvc_connection(fault_server, remsvc_server, cli_env):
    cli_env["AIRFLOW_CONN_REMSVC_DEFAULT"] = f"remsvc://{remsvc_server.address}"
    down = refused_url()
    proc = health(cli_env, fault_server.url("healthy"), "--api-url", down, "--conn", "remsvc_default",
                  "--once", "--json", "--timeout", "2")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert [e["url"] for e in doc["endpoints"]] == [fault_server.url("healthy"), down]
    assert doc["endpoints"][1]["probes"]["monitor"]["reason"] == "refused"
    [remsvc] = doc["remsvc"]
    assert remsvc["conn_id"] == "remsvc_default" and remsvc["state"] == "up"
    assert remsvc["latency_ms"] > 0 and remsvc["commands"] == 0 and remsvc["uptime_s"] >= 0


def test_heartbeat_threshold_comes_from_airflow_config(fault_server, cli_env):
    cli_env["AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD"] = "8"
    fault_server.airflow.heartbeat_age_s = {"dag_processor": 12.0}
    proc = health(cli_env, fault_server.url("healthy"), "--once", "--json")
    dag = json.loads(proc.stdout)["endpoints"][0]["probes"]["monitor"]["components"]["dag_processor"]
    assert dag["threshold_s"] == 8.0 and dag["stale"] is True


def test_urls_from_the_config_file(fault_server, cli_env, tmp_path):
    config = tmp_path / "console.yaml"
    config.write_text(f"health:\n  api_urls: ['{fault_server.url('healthy')}']\n")
    proc = health(cli_env, "--config", str(config), "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["endpoints"][0]["url"] == fault_server.url("healthy")


def test_token_is_sent_but_never_printed(fault_server, cli_env, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    fault_server.token = TOKEN
    ok = health(cli_env, fault_server.url("auth"), "--token-file", str(token_file), "--once", "--json")
    assert ok.returncode == 0, ok.stdout
    echoed = health(cli_env, fault_server.url("echo_auth"), "--token-file", str(token_file), "--once")
    for proc in (ok, echoed):
        assert TOKEN not in proc.stdout + proc.stderr
    assert "***" in echoed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "soon", "http://x"], "--interval: expected a number of seconds"),
        (["ftp://x"], "not an http(s) URL"),
        (["--conn", "no_such_conn"], "no_such_conn"),
        ([], "nothing to watch"),
        (["http://x", "--token-file", "/nonexistent/token"], "token file /nonexistent/token"),
        (["http://x", "--ca-cert", "/nonexistent/ca.pem"], "--ca-cert /nonexistent/ca.pem"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_3(cli_env, args, message):
    proc = health(cli_env, *args, "--once")
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_table_output_is_plain_inert_text(fault_server, hang_server, cli_env):
    fault_server.set_mode("evil", lambda p, h: Reply(500, b"\x1b]52;c;cHduZWQ=\x07\x1b[2J evil", "text/plain"))
    proc = health(cli_env, fault_server.url("airflow33"), fault_server.url("evil"), hang_server.url,
                  "--once", "--timeout", "0.5")
    assert proc.returncode == 1
    out = proc.stdout
    assert is_inert(out)
    assert "dag-processing API not mounted on this server" in out
    assert "no response within 0.5 s" in out
    assert "metadatabase healthy" in out and "triggerer not running" in out


def _read_until(proc: subprocess.Popen, predicate, limit: float = 60.0) -> str:
    """Read the child's stdout until ``predicate(text)``; ``limit`` only bounds a broken run."""
    text = ""
    deadline = time.monotonic() + limit
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not predicate(text):
            if time.monotonic() > deadline or not sel.select(deadline - time.monotonic()):
                raise AssertionError(f"child output so far: {text!r}")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            text += chunk.decode()
    return text


def test_live_mode_prints_a_table_per_poll_and_stops_on_ctrl_c(fault_server, cli_env):
    proc = subprocess.Popen([sys.executable, "-m", "console", "health", fault_server.url("airflow33"),
                             "--interval", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env)
    try:
        text = _read_until(proc, lambda t: t.count("remsvc-console health ") >= 3)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        stderr = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 130
    assert "Traceback" not in stderr
    assert "\x1b" not in text  # not a terminal: appended, never redrawn with escape codes
    assert text.count("dag_processing   ABSENT") >= 3


def test_live_json_prints_one_document_per_line(fault_server, cli_env):
    proc = subprocess.Popen([sys.executable, "-m", "console", "health", fault_server.url("healthy"),
                             "--interval", "0.2", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=cli_env)
    try:
        text = _read_until(proc, lambda t: t.count("\n") >= 2)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.stdout.close()
    docs = [json.loads(line) for line in text.splitlines()[:2]]
    assert all(d["endpoints"][0]["probes"]["monitor"]["state"] == "up" for d in docs)
