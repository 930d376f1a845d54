"""The console in a real terminal loses its terminal (SSH drop) or is told to stop, mid-dispatch.

tmux runs ``remsvc-console --conn c`` against a real embedded server; keys type a stream whose second
command records its shell's pid and sleeps, ``ctrl+r`` runs it. Then the pane is killed (the pty
hangs up: SIGHUP, as an SSH drop does) or the console gets SIGTERM (what ``timeout``, systemd and
Airflow send). Either way the journal must close the dispatch with a finish record naming the
signal, keep the answer that arrived, and the server must stop the running command.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from tests.e2e.test_tmux import REPO, children_of, gone, tmux  # noqa: F401  (tmux is a fixture)
from tests.helpers.remsvc_server import wait_process_gone

pytestmark = pytest.mark.tmux


def journal_records(state) -> list[dict]:
    return [json.loads(line) for p in sorted(state.rglob("*.jsonl")) for line in p.read_text().splitlines()]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


@pytest.mark.parametrize("how", ["hangup", "sigterm"])
async def test_signal_mid_dispatch_leaves_a_finish_record(tmux, tmp_path, remsvc_server, how):  # noqa: F811
    state = tmp_path / "state"
    pid_file = tmp_path / "remote.pid"
    env = {
        "PYTHONPATH": str(REPO),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(state),
        "AIRFLOW_CONN_C": f"remsvc://127.0.0.1:{remsvc_server.port}",
        "COLORTERM": "",
        "TERM": "screen",
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = f"cd {tmp_path} && env {exports} {sys.executable} -m console --conn c; echo console-exited-$?; sleep 30"
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "80", "-y", "24", command)
    tmux.wait_for("Dispatch", timeout=60)
    pane_pid = int(tmux("display-message", "-p", "-t", tmux.session, "#{pane_pid}").strip())
    (console_pid,) = children_of(pane_pid)
    tmux.wait_for("Full view", timeout=30)  # focus is on the rows (their keys are in the footer)
    tmux("send-keys", "-t", tmux.session, "i")  # enter the editor first
    tmux("send-keys", "-t", tmux.session, "-l", "echo first")
    tmux("send-keys", "-t", tmux.session, "Enter")
    tmux("send-keys", "-t", tmux.session, "-l", f"echo $$ > {pid_file}; sleep 60")
    tmux("send-keys", "-t", tmux.session, "C-r")
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 60, "the second command starting")
    remote_pid = int(pid_file.read_text())
    wait_until(lambda: any(r["k"] == "result" for r in journal_records(state)), 30, "the first answer being journaled")

    if how == "hangup":
        tmux("kill-server")
        expected = "SIGHUP"
    else:
        os.kill(console_pid, signal.SIGTERM)
        expected = "SIGTERM"
        tmux.wait_for("console-exited-143", timeout=30)
    wait_until(lambda: gone(console_pid), 30, "the console exiting")
    assert await wait_process_gone(remote_pid, timeout=15), "the server stopped the running command"

    records = journal_records(state)
    assert [r["k"] for r in records] == ["start", "result", "stream", "finish"]
    assert records[1]["out"] == "first\n"
    finish = records[-1]
    assert finish["state"] == "CANCELLED" and finish["missing"] == {"c": [2]}
    assert expected in finish["reason"] and expected in finish["error"]
