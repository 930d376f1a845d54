"""End to end in a real terminal: tmux runs ``remsvc-console --demo``, keys run the sample stream.

The tmux server is private to the test (its own socket) and runs with ``TERM=screen``, a
16-colour terminal, at 80x24: the console's smallest supported size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.tmux

REPO = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux") or "/usr/bin/tmux"


class Tmux:
    def __init__(self, workdir: Path):
        self.socket = f"remsvc-console-test-{uuid.uuid4().hex[:8]}"
        self.session = "console"
        self.workdir = workdir

    def __call__(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def capture(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture() if self.alive() else screen
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on screen; last screen:\n{screen}")

    def alive(self) -> bool:
        return subprocess.run([TMUX, "-L", self.socket, "has-session", "-t", self.session],
                              capture_output=True, timeout=30).returncode == 0


def children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def tmux(tmp_path):
    if not os.path.exists(TMUX):
        pytest.fail("tmux is required for the terminal end-to-end test (apt-get install tmux)")
    server = Tmux(tmp_path)
    yield server
    if server.alive():
        server("send-keys", "-t", server.session, "C-q", check=False)
        time.sleep(1.0)
    server("kill-server", check=False)


def test_demo_in_a_real_terminal_runs_the_sample_stream(tmux, tmp_path):
    env = {
        "PYTHONPATH": str(REPO),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "COLORTERM": "",
        "TERM": "screen",
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = f"cd {tmp_path} && env {exports} {sys.executable} -m console --demo; echo console-exited-$?; sleep 30"
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "80", "-y", "24", command)
    screen = tmux.wait_for("DEMO", timeout=60)
    assert "insecure" in screen and "hostname" in screen
    console_pid = int(tmux("display-message", "-p", "-t", tmux.session, "#{pane_pid}").strip())
    python_pids = children_of(console_pid)
    server_pids = [c for p in python_pids for c in children_of(p)]
    assert server_pids, "the demo server runs as a child process"

    tmux("send-keys", "-t", tmux.session, "C-r")
    screen = tmux.wait_for("FAILED ·", timeout=60)
    assert "done 5" in screen and "failed 1" in screen
    assert "hello from RemSvc" in screen
    assert "failed" in screen and "ls /nonexistent-demo-pa" in screen

    tmux("send-keys", "-t", tmux.session, "End")
    screen = tmux.wait_for("tid 6", timeout=20)
    assert "␛[31mred␛[0m" in screen and "\x1b" not in screen

    tmux("send-keys", "-t", tmux.session, "C-q")
    screen = tmux.wait_for("console-exited-0", timeout=30)
    deadline = time.monotonic() + 15
    while not all(gone(pid) for pid in server_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in server_pids), "quitting the console stops the demo server"
    journal = list((tmp_path / "state" / "remsvc-console" / "journal").glob("*.jsonl"))
    assert journal and '"k":"finish"' in journal[0].read_text()
