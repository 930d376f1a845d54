"""Start the embedded RemSvc server for tests: as a real child process, or in the test's own loop.

``start_server_process`` runs ``remsvc-console serve`` exactly as an operator would. Its INI file
and stderr log live in a private temporary directory; stderr goes to a file (never a pipe nobody
reads, which would stall the server once it filled up). ``in_process_server`` starts the same
server in the running event loop, for fast tests over a real loopback socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from console.remsvc._pb import remsvc_pb2_grpc
from console.remsvc.model import Target
from console.server.config import ServerConfig
from console.server.service import RunningServer, start_server

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING_PREFIX = "listening on "


class ServerStartError(RuntimeError):
    """The server exited or stayed silent instead of printing its ``listening on`` line."""

    def __init__(self, message: str, returncode: int | None, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass
class ServerProcess:
    """A running ``remsvc-console serve`` child; ``target()`` builds a Target pointing at it."""

    host: str
    port: int
    proc: subprocess.Popen
    workdir: Path
    target_defaults: dict = field(default_factory=dict)
    _owns_workdir: bool = True

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ini_path(self) -> Path:
        return self.workdir / "server.ini"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def target(self, name: str = "t", **overrides) -> Target:
        fields = {"name": name, "host": self.host, "port": self.port, **self.target_defaults, **overrides}
        return Target(**fields)

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, as a crashed or OOM-killed server would."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait for the graceful drain; return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL if it lingers) and remove its working directory."""
        try:
            if self.proc.poll() is None:
                self.terminate(timeout=15.0)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            if self._owns_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "console", "serve", *args]


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, plus the source tree on PYTHONPATH, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def start_server_process(
    ini_text: str = "",
    extra_args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    target_defaults: Mapping[str, object] | None = None,
    workdir: Path | None = None,
    startup_timeout: float = 30.0,
) -> ServerProcess:
    """Write ``ini_text`` (if any) to server.ini, run ``serve --port 0`` and wait for its address.

    ``extra_args`` come after ``--port 0`` so they can override it; ``env`` adds environment
    variables (``$VAR`` expansion tests); ``target_defaults`` pre-fills ``target()`` (TLS, token).
    Raises ServerStartError, carrying the server's stderr, if it exits or never reports ready.
    """
    owns = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="remsvc-server-")) if workdir is None else workdir
    args = ["--port", "0"]
    if ini_text:
        (workdir / "server.ini").write_text(ini_text, encoding="utf-8")
        args = ["--config", str(workdir / "server.ini"), *args]
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            serve_command(*args, *extra_args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=server_env(env),
            cwd=workdir,
        )
    try:
        host, port = _read_listening_line(proc, startup_timeout, log_path)
    except ServerStartError:
        if owns:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return ServerProcess(host, port, proc, workdir, dict(target_defaults or {}), owns)


def _read_listening_line(proc: subprocess.Popen, timeout: float, log_path: Path) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                _fail(proc, log_path, f"server printed no 'listening on' line within {timeout:.0f} s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                _fail(proc, log_path, "server exited before it was listening")
            buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    if not line.startswith(LISTENING_PREFIX):
        _fail(proc, log_path, f"unexpected first line from the server: {line!r}")
    host, _, port = line[len(LISTENING_PREFIX):].rpartition(":")
    return host.strip("[]"), int(port)


def _fail(proc: subprocess.Popen, log_path: Path, message: str) -> None:
    if proc.poll() is None:
        proc.kill()
    returncode = proc.wait(timeout=10)
    proc.stdout.close()
    stderr = log_path.read_text(encoding="utf-8", errors="replace")
    raise ServerStartError(f"{message} (exit status {returncode}): {stderr.strip()[-2000:]}", returncode, stderr)


@contextlib.asynccontextmanager
async def in_process_server(config: ServerConfig | None = None, **overrides) -> AsyncIterator[RunningServer]:
    """Serve on a free 127.0.0.1 port in this event loop; ``overrides`` replace ServerConfig fields."""
    config = dataclasses.replace(config or ServerConfig(), **overrides)
    server = await start_server(config, "127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop(0)


@contextlib.asynccontextmanager
async def remsvc_stub(
    address: str,
    *,
    root_ca: Path | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
) -> AsyncIterator[remsvc_pb2_grpc.RemSvcStub]:
    """A raw generated stub on a fresh channel (TLS when ``root_ca`` is given), closed afterwards."""
    if root_ca is None:
        channel = grpc.aio.insecure_channel(address)
    else:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root_ca.read_bytes(),
            private_key=client_key.read_bytes() if client_key else None,
            certificate_chain=client_cert.read_bytes() if client_cert else None,
        )
        channel = grpc.aio.secure_channel(address, credentials)
    async with channel:
        yield remsvc_pb2_grpc.RemSvcStub(channel)


async def wait_process_gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie nobody has reaped yet); polls politely."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        await asyncio.sleep(0.05)
    return False
