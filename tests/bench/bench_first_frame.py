"""First frame of the console against a minimal Textual app, both started the same way.

Run: ``python tests/bench/bench_first_frame.py`` (``--rounds N``, default 7).

Each round starts, in a pseudo-terminal of 80x24 with ``TERM=xterm-256color``, a fresh interpreter
running (a) a minimal Textual app (Header, Static, Footer), the baseline, and (b) the console
(``python -m console --conn bench``, one connection nobody listens on; status polling runs as it
would for a user). The time from spawning the process to the first byte of a frame that holds the
app's marker text is measured; rounds alternate between the two so machine load hits both alike.

Printed: the median of each, and console / minimal (target <= 2.0x).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

from bench_env import child_env  # the script's own directory is on sys.path

REPO = Path(__file__).resolve().parents[2]
TARGET_RATIO = 2.0

MINIMAL = """
from textual.app import App
from textual.widgets import Footer, Header, Static

class Minimal(App):
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield Static("minimal app ready")
        yield Footer()

Minimal().run()
"""


def first_frame(argv: list[str], marker: bytes, env: dict[str, str], timeout: float = 60.0) -> float:
    """Seconds from spawn to ``marker`` on the pseudo-terminal; the child is then stopped."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = b""
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if marker in seen:
                return time.perf_counter() - started
        raise RuntimeError(f"{marker!r} never appeared; last output: {seen[-400:]!r}")
    finally:
        os.kill(pid, signal.SIGTERM)
        _drain(fd)
        os.waitpid(pid, 0)
        os.close(fd)


def _drain(fd: int) -> None:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="first-frame-") as tmp:
        env = child_env(TERM="xterm-256color", COLORTERM="truecolor",
                        XDG_CONFIG_HOME=f"{tmp}/config", XDG_STATE_HOME=f"{tmp}/state", XDG_CACHE_HOME=f"{tmp}/cache",
                        AIRFLOW_CONN_BENCH="remsvc://127.0.0.1:9")
        env.pop("NO_COLOR", None)
        minimal_argv = [sys.executable, "-c", MINIMAL]
        console_argv = [sys.executable, "-m", "console", "--conn", "bench"]
        first_frame(minimal_argv, b"minimal app ready", env)
        first_frame(console_argv, b"No dispatch yet.", env)
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        minimal, console = [], []
        for _ in range(args.rounds):
            minimal.append(first_frame(minimal_argv, b"minimal app ready", env))
            console.append(first_frame(console_argv, b"No dispatch yet.", env))
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    m, c = statistics.median(minimal), statistics.median(console)
    print(f"minimal Textual app first frame: median {m * 1000:.0f} ms ({', '.join(f'{x * 1000:.0f}' for x in minimal)})")
    print(f"console first frame:             median {c * 1000:.0f} ms ({', '.join(f'{x * 1000:.0f}' for x in console)})")
    ratio = c / m
    print(f"console / minimal: {ratio:.2f}x (target <= {TARGET_RATIO:.1f}x) {'ok' if ratio <= TARGET_RATIO else 'OVER'}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
