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


def test_demo_in_a_real_terminal_walks_panes_runs_and_reads_the_full_output(tmux, tmp_path):
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
    tmux("set-option", "-s", "set-clipboard", "on")
    screen = tmux.wait_for("DEMO", timeout=60)
    assert "insecure" in screen and "hostname" in screen
    assert "printf 'escape sequences" in screen, "the editor shows all six demo commands at 80x24"
    console_pid = int(tmux("display-message", "-p", "-t", tmux.session, "#{pane_pid}").strip())
    python_pids = children_of(console_pid)
    server_pids = [c for p in python_pids for c in children_of(p)]
    assert server_pids, "the demo server runs as a child process"

    tmux("send-keys", "-t", tmux.session, "2")
    tmux.wait_for("Rescan", timeout=20)
    tmux("send-keys", "-t", tmux.session, "3")
    tmux.wait_for("Poll now", timeout=20)
    tmux("send-keys", "-t", tmux.session, "1")
    screen = tmux.wait_for("Full view", timeout=20)
    assert "# Sample stream: one command per line" in screen, "the pane keys typed nothing into the editor"
    assert "3# Sample" not in screen and "2# Sample" not in screen and "1# Sample" not in screen

    tmux("send-keys", "-t", tmux.session, "C-r")
    screen = tmux.wait_for("FAILED", timeout=60)
    screen = tmux.wait_for("done 5", timeout=30)
    assert "failed 1" in screen and "tid 5 rc" in screen, "state and reason on the summary line"
    assert "hello from RemSvc" in screen
    assert "failed" in screen and "ls /nonexistent-demo-pa" in screen

    tmux("send-keys", "-t", tmux.session, "End")
    tmux("send-keys", "-t", tmux.session, "Enter")
    tmux.wait_for("tid 6 · done", timeout=20)
    screen = tmux.wait_for("Back", timeout=20)
    assert "Follow" in screen, "the full view's footer"
    assert "␛[31mred␛[0m" in screen and "\x1b" not in screen
    tmux("send-keys", "-t", tmux.session, "y")
    tmux.wait_for("Copied stdout", timeout=20)
    deadline = time.monotonic() + 10
    copied = ""
    while time.monotonic() < deadline and "red" not in copied:
        copied = tmux("show-buffer", check=False)
        time.sleep(0.2)
    assert copied == "escape sequences stay inert: \x1b[31mred\x1b[0m \x1b]0;title\x07\n", \
        "OSC 52 carried the exact output bytes"
    tmux("send-keys", "-t", tmux.session, "Escape")
    tmux.wait_for("Full view", timeout=20)

    tmux("send-keys", "-t", tmux.session, "C-q")
    screen = tmux.wait_for("console-exited-0", timeout=30)
    deadline = time.monotonic() + 15
    while not all(gone(pid) for pid in server_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in server_pids), "quitting the console stops the demo server"
    journal = list((tmp_path / "state" / "remsvc-console" / "journal").glob("*.jsonl"))
    assert journal and '"k":"finish"' in journal[0].read_text()
