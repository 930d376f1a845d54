"""``--demo``: a real RemSvc server on loopback, a temporary DEMO connection and a sample stream.

The server runs as a child process (the same ``serve`` subcommand operators use) so the console's
event loop stays free and a crash in one cannot take down the other. The child is stopped when the
demo ends, and its log goes to a file so it never scribbles over the full-screen app.
"""

from __future__ import annotations

import ctypes
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .remsvc.model import Target

DEMO_NAME = "demo"
DEMO_LABEL = "DEMO"
_LISTENING = re.compile(r"^listening on (\S+):(\d+)\s*$")
PR_SET_PDEATHSIG = 1

SAMPLE_STREAM = """\
# Sample stream: one command per line; ctrl+r runs it against the DEMO server.
hostname
uname -sr
echo "hello from RemSvc"
sleep 1; echo "slept one second"
ls /nonexistent-demo-path
printf 'escape sequences stay inert: \\033[31mred\\033[0m \\033]0;title\\007\\n'
"""


def _die_with_parent() -> None:
    """Runs in the server child before exec (Linux): SIGTERM it when the console dies without
    stopping it, e.g. killed by the hang-up of a dropped SSH session."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return


class DemoError(Exception):
    """The demo server could not be started; ``str()`` says why in one line."""


class DemoEnvironment:
    """Start with ``start()`` (or ``with``); ``target`` then points at the running child."""

    def __init__(self, *, startup_timeout: float = 20.0, python: str = sys.executable, with_bundles: bool = True):
        self.startup_timeout = startup_timeout
        self.python = python
        self.with_bundles = with_bundles
        self.proc: subprocess.Popen | None = None
        self.target: Target | None = None
        self.bundles_dir: Path | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.log_path: Path | None = None

    def __enter__(self) -> DemoEnvironment:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> Target:
        self._tmp = tempfile.TemporaryDirectory(prefix="remsvc-console-demo-")
        workdir = Path(self._tmp.name)
        self.log_path = workdir / "server.log"
        try:
            self.target = self._start_server(workdir)
            if self.with_bundles:
                self.bundles_dir = self._make_bundles(workdir / "bundles")
        except BaseException:
            self.stop()
            raise
        return self.target

    def _start_server(self, workdir: Path) -> Target:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "console", "serve", "--port", "0"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=workdir,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        host, port = self._read_listening_line()
        threading.Thread(target=self._drain_stdout, name="demo-server-stdout", daemon=True).start()
        return Target(name=DEMO_NAME, host=host, port=port, use_ssl=False, label=DEMO_LABEL)

    def _read_listening_line(self) -> tuple[str, int]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        buffer = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError(
                        f"demo server did not report 'listening on' within {self.startup_timeout:g}s (log: {self.log_path})"
                    )
                if not sel.select(timeout=left):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise DemoError(f"demo server exited with status {self.proc.wait()} before listening (log: {self.log_path})")
                buffer += chunk
        line = buffer.split(b"\n", 1)[0].decode("utf-8", "replace")
        match = _LISTENING.match(line)
        if match is None:
            raise DemoError(f"demo server printed {line!r} instead of 'listening on HOST:PORT'")
        return match.group(1).strip("[]"), int(match.group(2))

    def _drain_stdout(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        try:
            while proc.stdout.read(65536):
                pass
        except (OSError, ValueError):
            return

    @staticmethod
    def _make_bundles(directory: Path) -> Path | None:
        """Sample bundles for the Bundles pane, when the bundles package provides them."""
        try:
            from .bundles.demo import make_demo_bundles
        except ImportError:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        make_demo_bundles(directory)
        return directory

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server child (TERM, then KILL) and remove the temporary directory."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
