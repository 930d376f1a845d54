"""SIGHUP, SIGTERM and SIGINT reaching `run` mid-stream, as an SSH drop, `timeout`/systemd or ctrl+c do.

A real embedded server runs the commands; the third one records its shell's pid and sleeps, and the
signal arrives while it runs. `run` must cancel the stream (the server kills that child), print the
answers it has with state CANCELLED, journal a finish record naming the signal, and exit 128+N.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.remsvc_server import wait_process_gone

EXIT = {signal.SIGHUP: 129, signal.SIGINT: 130, signal.SIGTERM: 143}


def journal_records(tmp_path) -> list[dict]:
    return [json.loads(line) for p in sorted((tmp_path / "state").rglob("*.jsonl")) for line in p.read_text().splitlines()]


def start_run(server, tmp_path, pid_file, *extra: str) -> subprocess.Popen:
    commands = ["echo first", "echo second", f"echo $$ > {pid_file}; sleep 60", "echo never"]
    args = [a for cmd in commands for a in ("--cmd", cmd)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"), "AIRFLOW_CONN_C": f"remsvc://127.0.0.1:{server.port}"})
    return subprocess.Popen([sys.executable, "-m", "console", "run", "--conn", "c", *args, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_pid(pid_file, child: subprocess.Popen) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and child.poll() is None:
        if pid_file.exists() and pid_file.read_text().strip():
            return int(pid_file.read_text())
        time.sleep(0.05)
    raise AssertionError(f"the third command never started; run exited {child.poll()}")


@pytest.mark.parametrize("json_output", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
async def test_signal_mid_stream_cancels_prints_journals_and_exits_128_plus_n(remsvc_server, tmp_path, signum, json_output):
    pid_file = tmp_path / "remote.pid"
    child = start_run(remsvc_server, tmp_path, pid_file, *(["--json"] if json_output else []))
    try:
        remote_pid = wait_for_pid(pid_file, child)
        child.send_signal(signum)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == EXIT[signum], err
    assert f"{signum.name} received" in err and "Traceback" not in err
    if json_output:
        payload = json.loads(out)
        assert payload["state"] == "CANCELLED"
        assert [(r["tid"], r["out"]) for r in payload["results"]] == [(1, "first\n"), (2, "second\n")]
        assert signum.name in payload["error_msg"]
    else:
        assert "[1] rc=0" in out and "out| first" in out and "out| second" in out
        assert "[3] no answer" in out and "[4] no answer" in out
        assert "state: CANCELLED" in out and signum.name in out
    assert await wait_process_gone(remote_pid, timeout=15), "the server stopped the running command"

    records = journal_records(tmp_path)
    assert [r["k"] for r in records] == ["start", "result", "result", "stream", "finish"]
    assert [r["out"] for r in records if r["k"] == "result"] == ["first\n", "second\n"]
    stream, finish = records[-2], records[-1]
    assert stream["status"] == "cancelled" and stream["missing"] == [3, 4]
    assert finish["state"] == "CANCELLED" and finish["missing"] == {"c": [3, 4]}
    assert signum.name in finish["reason"] and signum.name in finish["error"]
