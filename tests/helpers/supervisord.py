"""A real supervisord (PyPI ``supervisor``) for tests: inet listener on 127.0.0.1 with a user and
password, and a unix socket, with programs that run, crash into FATAL, flap in BACKOFF, exit
unexpectedly and are never started.

supervisord runs in its own session; its programs each get a process group of their own (supervisord
calls ``setpgrp`` for them), so ``stop()`` ends supervisord and then kills every process group it
ever saw a child in, even when supervisord itself hangs or died first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

USER = "ops"
PASSWORD = "pa55-w0rd-secret"

RUNNER = textwrap.dedent("""
    import sys, time
    print("runner up", flush=True)
    print("runner warning on stderr", file=sys.stderr, flush=True)
    n = 0
    while True:
        n += 1
        print(f"tick {n}", flush=True)
        time.sleep(0.2)
""")
CRASHER = "import sys; print('crasher: cannot open config', file=sys.stderr, flush=True); sys.exit(3)"
ONESHOT = "import sys, time; time.sleep(0.3); print('oneshot done', flush=True); sys.exit(2)"


@dataclass
class Program:
    name: str
    command: str
    options: dict[str, str] = field(default_factory=dict)


def default_programs(scripts: Path) -> list[Program]:
    """runner (RUNNING), crasher (FATAL), flapper (BACKOFF, never settles), oneshot (EXITED 2), idle (STOPPED)."""
    scripts.mkdir(parents=True, exist_ok=True)
    runner = scripts / "runner.py"
    runner.write_text(RUNNER)
    flapper = scripts / "flapper.py"
    flapper.write_text("import time, sys\ntime.sleep(0.2)\nsys.exit(1)\n")
    crasher = scripts / "crasher.py"
    crasher.write_text(CRASHER + "\n")
    oneshot = scripts / "oneshot.py"
    oneshot.write_text(ONESHOT + "\n")
    py = sys.executable
    return [
        Program("runner", f"{py} -u {runner}", {"startsecs": "1", "autorestart": "true"}),
        Program("crasher", f"{py} -u {crasher}", {"startsecs": "10", "startretries": "1", "autorestart": "false"}),
        Program("flapper", f"{py} -u {flapper}", {"startsecs": "10", "startretries": "1000", "autorestart": "true"}),
        Program("oneshot", f"{py} -u {oneshot}", {"startsecs": "0", "autorestart": "false", "exitcodes": "0"}),
        Program("idle", f"{py} -u {runner}", {"autostart": "false", "startsecs": "1"}),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Supervisord:
    """``with Supervisord(tmp_path) as sv:`` — ``sv.inet_url`` (with credentials), ``sv.unix_url``."""

    def __init__(self, tmp: Path, programs: list[Program] | None = None, *, user: str = USER, password: str = PASSWORD,
                 env: dict[str, str] | None = None):
        self.tmp = Path(tmp)
        self.env = env
        self.programs = programs if programs is not None else default_programs(self.tmp / "scripts")
        self.user = user
        self.password = password
        self.port = free_port()
        # A unix socket path must fit in 108 bytes; pytest's tmp_path may not.
        self._sockdir = Path(tempfile.mkdtemp(prefix="sv-", dir="/tmp"))
        self.socket_path = self._sockdir / "supervisor.sock"
        self.conf = self.tmp / "supervisord.conf"
        self.logdir = self.tmp / "logs"
        self.proc: subprocess.Popen | None = None
        self._groups: set[int] = set()

    @property
    def inet_url(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}"

    @property
    def inet_url_without_credentials(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    def config_text(self) -> str:
        lines = [
            "[unix_http_server]", f"file={self.socket_path}", "chmod=0700",
            "[inet_http_server]", f"port=127.0.0.1:{self.port}", f"username={self.user}", f"password={self.password}",
            "[supervisord]", f"logfile={self.logdir / 'supervisord.log'}", f"pidfile={self.tmp / 'supervisord.pid'}",
            f"childlogdir={self.logdir}", "nodaemon=true", "loglevel=info",
            "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]", f"serverurl=unix://{self.socket_path}",
        ]
        for p in self.programs:
            lines += [f"[program:{p.name}]", f"command={p.command}", "stopwaitsecs=5", "stopasgroup=true",
                      "killasgroup=true", f"stdout_logfile={self.logdir / (p.name + '.out')}",
                      f"stderr_logfile={self.logdir / (p.name + '.err')}"]
            lines += [f"{k}={v}" for k, v in p.options.items()]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20.0) -> Supervisord:
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.config_text())
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from supervisor.supervisord import main; main()", "-n", "-c", str(self.conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.tmp / "supervisord.stderr", "wb"),
            start_new_session=True, env=self.env,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = (self.tmp / "supervisord.stderr").read_text(errors="replace")
                raise RuntimeError(f"supervisord exited with {self.proc.returncode}: {err[-2000:]}")
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                if self.rpc().supervisor.getState()["statename"] == "RUNNING":
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("supervisord did not answer in time")
            time.sleep(0.1)

    def rpc(self) -> xmlrpc.client.ServerProxy:
        """A blocking client for test set-up and checks (the console's own client is under test)."""
        return xmlrpc.client.ServerProxy(f"{self.inet_url}/RPC2")

    def info(self, name: str) -> dict:
        info = self.rpc().supervisor.getProcessInfo(name)
        self._remember(info)
        return info

    def wait_state(self, name: str, *states: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            info = self.info(name)
            if info["statename"] in states:
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} stayed {info['statename']}, wanted {states}")
            time.sleep(0.1)

    def _remember(self, info: dict) -> None:
        pid = info.get("pid") or 0
        if pid:
            with contextlib.suppress(OSError):
                self._groups.add(os.getpgid(pid))

    def _children(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            for pid in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split():
                with contextlib.suppress(OSError):
                    self._groups.add(os.getpgid(int(pid)))

    def stop(self) -> None:
        self._children()
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            self._groups.add(proc.pid)
        for group in self._groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self._groups.clear()
        with contextlib.suppress(OSError):
            if self.socket_path.exists():
                self.socket_path.unlink()
            self._sockdir.rmdir()

    def __enter__(self) -> Supervisord:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
