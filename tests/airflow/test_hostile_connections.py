"""Connection input built to crash JSON tools: every case is exit 3 with one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

CLI = [sys.executable, "-m", "console"]


def run(*args: str, env_vars: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REMSVC_CONSOLE_"))}
    env.update({"REMSVC_CONSOLE_AIRFLOW_PYTHON": "off", **env_vars})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


HOSTILE = {
    "dunder_extra_20000_deep": "remsvc://h:1?__extra__=" + quote('{"a": ' + deep(20_000) + "}"),
    "json_form_20000_deep": '{"conn_type": "remsvc", "host": "h", "extra": {"a": ' + deep(20_000) + "}}",
    "extra_string_20000_deep": json.dumps({"conn_type": "remsvc", "host": "h", "extra": '{"a": ' + deep(20_000) + "}"}),
    "integer_5000_digits": '{"conn_type": "remsvc", "host": "h", "extra": {"n": ' + "9" * 5000 + "}}",
    "port_5000_digits": '{"conn_type": "remsvc", "host": "h", "port": ' + "9" * 5000 + "}",
    "port_1e400": '{"conn_type": "remsvc", "host": "h", "port": 1e400}',
    "port_nan": '{"conn_type": "remsvc", "host": "h", "port": NaN}',
    "extras_900_deep": json.dumps({"conn_type": "remsvc", "host": "h", "extra": {"a": json.loads(deep(900))}}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("action", [("conn", "show", "x"), ("conn", "show", "x", "--json"), ("run", "--conn", "x", "--cmd", "true")])
def test_hostile_values_exit_3_with_a_message(name, action):
    proc = run(*action, env_vars={"AIRFLOW_CONN_X": HOSTILE[name]})
    assert proc.returncode == 3, proc.stderr[-500:]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'x'" in lines[0] and len(lines[0]) < 400


@pytest.mark.parametrize("suffix, text", [
    (".json", '{"x": {"conn_type": "remsvc", "host": "h", "extra": ' + deep(20_000) + "}}"),
    (".json", '{"x": {"conn_type": "remsvc", "host": "h", "port": ' + "9" * 5000 + "}}"),
    (".yaml", "x:\n  conn_type: remsvc\n  host: h\n  extra: {a: " + deep(5_000) + "}\n"),
    (".yaml", "x:\n  conn_type: remsvc\n  host: h\n  port: " + "9" * 5000 + "\n"),
    (".yaml", "x:\n  conn_type: remsvc\n  host: h\n  extra: {a: " + deep(900) + "}\n"),
])
def test_hostile_connections_files_exit_3_naming_the_file(tmp_path: Path, suffix, text):
    path = tmp_path / f"conns{suffix}"
    path.write_text(text)
    for action in (("conn", "show", "x"), ("conn", "list")):
        proc = run(*action, "--connections-file", str(path), env_vars={})
        assert proc.returncode == 3, proc.stderr[-500:]
        assert "Traceback" not in proc.stderr and str(path) in proc.stderr


def test_configured_text_is_rendered_inert_everywhere_conn_prints_it(tmp_path: Path):
    host = "%1b%5d0%3bPWNED%07%1b%5b2J%c2%9b%e2%80%ae"
    env = {"AIRFLOW_CONN_EVIL": f"remsvc://{host}:1?use_ssl=false&typo_sll=%1b[31m"}
    for action in (("conn", "show", "evil"), ("conn", "list")):
        proc = run(*action, env_vars=env)
        for stream in (proc.stdout, proc.stderr):
            assert not set("\x1b\x07\x9b\u202e") & set(stream), stream
        assert "Traceback" not in proc.stderr
    dispatched = run("run", "--conn", "evil", "--cmd", "true", "--timeout", "5", env_vars=env)
    warnings = [line for line in dispatched.stderr.splitlines() if line.startswith("remsvc-console: ") and "warning" in line]
    assert len(warnings) >= 2
    assert all(not set("\x1b\x07\x9b\u202e") & set(line) for line in warnings)
    shown = run("conn", "show", "evil", env_vars=env)
    assert "␛]0;PWNED␇" in shown.stdout
    listed = run("conn", "show", "evil", "--json", env_vars=env)
    assert json.loads(listed.stdout)["host"].startswith("\x1b]0;PWNED")
