"""A real Airflow deployment for tests: a cached virtualenv plus api-server and dag-processor on loopback.

Airflow is installed into its own virtualenv (never the console's) under the user cache, so the
minutes the install takes are paid once per machine; a marker written after a successful install
and an import check decide whether the cached copy is reusable. Every process started here runs in
its own process group and is stopped by that group id.

``python -m tests.helpers.airflow_env`` installs (or validates) the cached virtualenv ahead of a
test run and prints how long it took.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

AIRFLOW_VERSION = "3.3.2"
INSTALL_TIMEOUT_S = 1500.0
_MARKER = "remsvc-console-ready.json"


class AirflowUnavailable(Exception):
    """The Airflow package cannot be installed here; the message says why in one line."""


_USER_CACHE = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """The user's cache as it was when the tests started: per-test XDG isolation must not re-install Airflow."""
    base = (env or {}).get("XDG_CACHE_HOME") or _USER_CACHE
    return Path(base) / "remsvc-console-tests"


def venv_dir(version: str = AIRFLOW_VERSION) -> Path:
    return cache_root() / f"airflow-{version}"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _is_valid(venv: Path, version: str) -> bool:
    """A cached venv is reusable when its marker names this version and Airflow still imports."""
    marker = venv / _MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("version") != version or not (venv / "bin" / "airflow").exists():
        return False
    check = subprocess.run(
        [str(_venv_python(venv)), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return check.returncode == 0 and check.stdout.strip() == version


@dataclass(frozen=True)
class AirflowInstall:
    venv: Path
    reused: bool
    seconds: float

    @property
    def airflow(self) -> Path:
        return self.venv / "bin" / "airflow"


def ensure_airflow(version: str = AIRFLOW_VERSION, *, log=None) -> AirflowInstall:
    """Return a working Airflow virtualenv, installing it when the cache holds none.

    Raises ``AirflowUnavailable`` only when pip cannot install the package at all.
    """
    venv = venv_dir(version)
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(venv.parent / f".airflow-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_valid(venv, version):
            return AirflowInstall(venv, True, time.monotonic() - started)
        shutil.rmtree(venv, ignore_errors=True)
        logfile = venv.parent / f"airflow-{version}-install.log"
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            with open(logfile, "w") as out:
                proc = subprocess.run(
                    [str(_venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
                     f"apache-airflow=={version}"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=INSTALL_TIMEOUT_S,
                )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            shutil.rmtree(venv, ignore_errors=True)
            raise AirflowUnavailable(f"installing apache-airflow=={version} failed: {exc}") from None
        if proc.returncode != 0 or not _installed_version_ok(venv, version):
            tail = logfile.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            shutil.rmtree(venv, ignore_errors=True)
            raise AirflowUnavailable(f"pip install apache-airflow=={version} failed ({logfile}): {tail[0]}")
        (venv / _MARKER).write_text(json.dumps({"version": version, "installed_at": time.time()}))
        elapsed = time.monotonic() - started
        if log is not None:
            log(f"installed apache-airflow=={version} into {venv} in {elapsed:.0f} s")
        return AirflowInstall(venv, False, elapsed)


def _installed_version_ok(venv: Path, version: str) -> bool:
    check = subprocess.run(
        [str(venv / "bin" / "airflow"), "version"], capture_output=True, text=True, timeout=180,
        env={**os.environ, "AIRFLOW_HOME": str(venv / "probe-home")},
    )
    shutil.rmtree(venv / "probe-home", ignore_errors=True)
    return check.returncode == 0 and version in check.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


@dataclass
class AirflowDeployment:
    """Airflow processes on 127.0.0.1 with SQLite in ``home``; each process leads its own group.

    ``stop()`` ends every group it started (SIGTERM, then SIGKILL) and waits for the leaders, so
    LocalExecutor workers, log servers and uvicorn workers go with them.
    """

    install: AirflowInstall
    home: Path
    port: int = field(default_factory=free_port)
    log_server_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "REMSVC_CONSOLE"))}
        return {
            **keep,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "remsvc-console-tests-only",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_server_port),
            # Heartbeat every second, so a live component is never near a low test threshold.
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            **self.extra_env,
        }

    def log_path(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def log_tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def run(self, *args: str, timeout: float = 300) -> None:
        """One airflow CLI command to completion (``db migrate``); its output goes to a log file."""
        name = "-".join(args)
        with open(self.log_path(name), "wb") as log:
            proc = subprocess.run([str(self.install.airflow), *args], stdout=log, stderr=subprocess.STDOUT,
                                  env=self.env, cwd=self.home, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({proc.returncode}): {self.log_tail(name)}")

    def start(self, name: str, *args: str) -> subprocess.Popen:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dags").mkdir(exist_ok=True)
        with open(self.log_path(name), "wb") as log:
            proc = subprocess.Popen([str(self.install.airflow), *args], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=self.env, cwd=self.home, start_new_session=True)
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Signal one process group and wait for its leader."""
        proc = self.procs[name]
        self.killed.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)

    def wait_for(self, predicate, what: str, timeout: float = 180) -> dict:
        """Poll the monitor endpoint until ``predicate(json)``; fail with the processes' logs if it never holds."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None and name not in self.killed:
                    raise AssertionError(f"airflow {name} exited ({proc.returncode}): {self.log_tail(name)}")
            try:
                reply = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                last = reply.json() if reply.status_code == 200 else reply.status_code
            except (httpx.HTTPError, ValueError) as exc:
                last = type(exc).__name__
            if isinstance(last, dict) and predicate(last):
                return last
            time.sleep(1.0)
        logs = "; ".join(f"{n}: {self.log_tail(n, 5)}" for n in self.procs)
        raise AssertionError(f"Airflow never reached '{what}' within {timeout:.0f} s (last: {last}); {logs}")

    def stop(self) -> list[int]:
        """Stop every group started here; return the pgids still alive afterwards (should be none)."""
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            if group_members(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        time.sleep(0.2)
        return [p.pid for p in self.procs.values() if group_members(p.pid)]

    def __enter__(self) -> AirflowDeployment:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


if __name__ == "__main__":
    result = ensure_airflow(log=print)
    print(f"airflow venv {result.venv} ({'reused' if result.reused else 'installed'}) in {result.seconds:.1f} s")
