"""`remsvc-console health --supervisor ...` as a real child process against a real supervisord."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.health.test_cli import cli_env, health  # noqa: F401  (fixture)
from tests.helpers.supervisord import PASSWORD, Program, Supervisord


def settle(sv) -> None:
    sv.wait_state("runner", "RUNNING")
    sv.wait_state("crasher", "FATAL")
    sv.wait_state("oneshot", "EXITED")


def test_once_json_lists_every_program_with_name_and_state_and_exits_1(supervisord, cli_env):
    settle(supervisord)
    proc = health(cli_env, "--supervisor", supervisord.inet_url, "--once", "--json")
    assert proc.returncode == 1, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    [sv] = doc["supervisors"]
    assert sv["url"] == supervisord.inet_url_without_credentials and sv["state"] == "down"
    programs = {p["name"]: p for p in sv["programs"]}
    assert programs["runner"]["state"] == "RUNNING" and programs["runner"]["health"] == "up"
    assert programs["crasher"]["state"] == "FATAL" and programs["crasher"]["health"] == "down"
    assert programs["idle"]["state"] == "STOPPED" and programs["idle"]["health"] == "absent"
    assert programs["idle"]["autostart"] is False
    assert programs["flapper"]["state"] in ("BACKOFF", "STARTING")


def test_all_running_exits_0_and_autostart_false_alone_exits_4(tmp_path, cli_env):
    script = tmp_path / "loop.py"
    script.write_text("import time\nwhile True: time.sleep(1)\n")
    programs = [Program("web", f"{sys.executable} {script}", {"startsecs": "0"})]
    with Supervisord(tmp_path / "a", programs) as sv:
        sv.wait_state("web", "RUNNING")
        ok = health(cli_env, "--supervisor", sv.unix_url, "--once")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "web" in ok.stdout and "RUNNING" in ok.stdout
    idle = [Program("later", f"{sys.executable} {script}", {"autostart": "false"})]
    with Supervisord(tmp_path / "b", idle) as sv:
        only_absent = health(cli_env, "--supervisor", sv.unix_url, "--once", "--json")
        assert only_absent.returncode == 4, only_absent.stderr
        assert json.loads(only_absent.stdout)["supervisors"][0]["state"] == "absent"
        assert health(cli_env, "--supervisor", sv.unix_url, "--once", "--allow-absent").returncode == 0


def test_supervisor_conf_gives_address_and_credentials(supervisord, cli_env):
    settle(supervisord)
    proc = health(cli_env, "--supervisor-conf", str(supervisord.conf), "--once", "--json")
    doc = json.loads(proc.stdout)
    urls = [s["url"] for s in doc["supervisors"]]
    assert urls == [supervisord.inet_url_without_credentials, supervisord.unix_url]
    assert all(len(s["programs"]) == 5 for s in doc["supervisors"])
    assert PASSWORD not in proc.stdout + proc.stderr


def test_config_file_supervisors_list(supervisord, cli_env, tmp_path):
    config = tmp_path / "console.yaml"
    config.write_text(f"health:\n  supervisors:\n    - {supervisord.inet_url}\n")
    proc = health(cli_env, "--config", str(config), "--once", "--json")
    assert json.loads(proc.stdout)["supervisors"][0]["url"] == supervisord.inet_url_without_credentials


def test_wrong_password_is_down_with_reason_and_masked(supervisord, cli_env):
    proc = health(cli_env, "--supervisor", f"http://ops:Wr0ng-pass@127.0.0.1:{supervisord.port}", "--once")
    assert proc.returncode == 1
    assert "login refused" in proc.stdout and "Wr0ng-pass" not in proc.stdout + proc.stderr


def test_bad_supervisor_url_is_exit_3_without_the_password(cli_env):
    proc = health(cli_env, "--supervisor", "https://ops:Secr3t-x@h:9001", "--once")
    assert proc.returncode == 3
    assert "http:// or unix://" in proc.stderr and "Secr3t-x" not in proc.stderr


def test_help_documents_the_supervisor_options(cli_env):
    health_help = health(cli_env, "--help").stdout
    assert "--supervisor URL" in health_help and "--supervisor-conf FILE" in health_help
    assert "autostart=false" in health_help
    console_help = subprocess.run([sys.executable, "-m", "console", "--help"], capture_output=True, text=True,
                                  env=cli_env, timeout=60).stdout
    assert "--supervisor URL" in console_help and "--supervisor-conf FILE" in console_help
