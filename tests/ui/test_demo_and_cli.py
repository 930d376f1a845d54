"""``--demo``'s server child, and the console's command line: help, settings and connection errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from console.demo import DEMO_LABEL, SAMPLE_STREAM, DemoEnvironment
from console.dispatch_service import DispatchOptions, parse_commands
from console.remsvc.client import RemSvcClient

REPO = Path(__file__).resolve().parents[2]


def console_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, stdin=subprocess.DEVNULL)


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


async def test_demo_runs_a_real_server_child_and_stops_it():
    demo = DemoEnvironment()
    target = demo.start()
    pid = demo.proc.pid
    workdir = demo.bundles_dir.parent
    try:
        assert any(demo.bundles_dir.iterdir()), "sample bundles for the Bundles pane"
        assert target.label == DEMO_LABEL and not target.use_ssl and target.host == "127.0.0.1"
        async with RemSvcClient(target) as client:
            assert await client.ping() > 0
            commands = parse_commands(SAMPLE_STREAM, DispatchOptions())
            assert len(commands) == 6
            events = [e async for e in client.stream(commands)]
        finished = events[-1]
        assert finished.ok and finished.answered == (1, 2, 3, 4, 5, 6)
    finally:
        demo.stop()
    assert demo.proc is None and process_gone(pid) and not workdir.exists()


def test_help_shows_the_settings_file_and_console_options(tmp_path):
    result = console_cli("--help", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 0
    assert str(tmp_path / "remsvc-console" / "config.yaml") in result.stdout
    for flag in ("--conn", "--demo", "--read-only", "--theme", "--config", "--connections-file", "--journal-dir"):
        assert flag in result.stdout


def test_bad_settings_file_is_one_line_and_status_2(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("read_only: perhaps\n")
    result = console_cli("--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == f"remsvc-console: {config}: read_only: expected true or false, got 'perhaps'"
    assert "Traceback" not in result.stderr


def test_unknown_connection_is_one_line_and_status_3(tmp_path):
    result = console_cli("--conn", "remsvc_nowhere", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "remsvc_nowhere" in lines[0] and "Traceback" not in result.stderr


def test_demo_server_dies_with_a_console_killed_by_a_signal(tmp_path):
    script = (
        "from console.demo import DemoEnvironment; import time; "
        "demo = DemoEnvironment(with_bundles=False); demo.start(); "
        "print(demo.proc.pid, flush=True); time.sleep(60)"
    )
    console = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path)), cwd=tmp_path)
    try:
        server_pid = int(console.stdout.readline())
        assert not process_gone(server_pid)
        console.kill()
        console.wait(timeout=10)
        deadline = time.monotonic() + 15
        while not process_gone(server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_gone(server_pid), "a console killed by SIGKILL/SIGHUP must not leave its demo server behind"
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
