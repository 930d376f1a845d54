"""Run one RemSvc command in its own child process, as RemSvc servers do.

The child gets ``/dev/null`` as stdin, its own session (so a timeout can kill everything it started)
and default SIGPIPE. Each command runs from start to exit in a worker thread: ``posix_spawn`` (no
Python code between fork and exec), then one ``poll`` over its two pipes and its pidfd. The event
loop only hands the command over and receives the result, so a spawn never blocks it. Output is kept
up to :data:`OUTPUT_LIMIT` bytes per stream and the rest is read and discarded, so a chatty child
never stalls on a full pipe.

Running as another user (``cmdusr``, root servers only) execs through util-linux ``setpriv``: the
uid, gid and groups change in that fresh single-threaded program, never in a child forked from this
threaded one, where glibc's set*id machinery can crash between fork and exec.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import select
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..remsvc.model import TRUNCATION_MARKER

OUTPUT_LIMIT = 262_144
TIMED_OUT = "process timed out"
RC_TIMED_OUT = 1
RC_CANNOT_RUN = 126  # the command exists but may not or cannot run (run-as refused, exec failure)
RC_NOT_FOUND = 127  # the interpreter is missing or the command type is unknown
SHELL = "/bin/sh"
MAX_RUNNING = 512  # commands running at once (one per stream); more wait for a free worker
_READ_SIZE = 65_536
_CANCEL_CHECK_S = 0.5  # how soon a cancelled command whose pipes outlive its group is given up
_SIGNALS_TO_DEFAULT = (signal.SIGPIPE, signal.SIGXFSZ)  # Python ignores these; children must not

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class ExecResult:
    rc: int
    out: str
    err: str
    timed_out: bool = False
    out_truncated: bool = False
    err_truncated: bool = False


@dataclass(frozen=True)
class RunAs:
    """The account a command switches to before it runs (only possible when the server is root)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


class RunAsError(Exception):
    """The command cannot run as the requested user; the message goes back to the client."""


def resolve_run_as(cmdusr: str, euid: int | None = None) -> RunAs | None:
    """Decide how to honour ``cmdusr``: None means run as the server's own user.

    Root switches to any existing user; any other server user can only run commands as itself.
    """
    if not cmdusr:
        return None
    euid = os.geteuid() if euid is None else euid
    try:
        entry = pwd.getpwnam(cmdusr)
    except KeyError:
        raise RunAsError(f"unknown user {cmdusr!r}: no such account on the server") from None
    if entry.pw_uid == euid:
        return None
    if euid != 0:
        raise RunAsError(
            f"cannot run as user {cmdusr!r}: the server runs as {_user_name(euid)!r}, not root, "
            "so it can only run commands as itself"
        )
    try:
        groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except OSError:
        groups = (entry.pw_gid,)
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def command_argv(cmd: str, cmdtyp: int) -> list[str]:
    """The child's argv: ``/bin/sh -c CMD`` for cmdtyp 0, ``pwsh ... -Command CMD`` for cmdtyp 1.

    pwsh gets ``-NoProfile -NonInteractive``: a server must not run profile scripts per command or
    wait at a prompt that can never be answered. Raises FileNotFoundError when pwsh is absent.
    """
    if cmdtyp == 0:
        return [SHELL, "-c", cmd]
    if cmdtyp == 1:
        pwsh = shutil.which("pwsh")
        if pwsh is None:
            raise FileNotFoundError("pwsh not found on the server's PATH: PowerShell commands (cmdtyp 1) cannot run")
        return [pwsh, "-NoProfile", "-NonInteractive", "-Command", cmd]
    raise ValueError(f"unsupported cmdtyp {cmdtyp} (0 = /bin/sh, 1 = pwsh)")


async def run_command(
    cmd: str,
    cmdtyp: int = 0,
    cmdusr: str = "",
    timeout_s: float | None = None,
    *,
    euid: int | None = None,
) -> ExecResult:
    """Run one command to completion (or timeout) and return its rc and valid UTF-8 output.

    If the awaiting task is cancelled (client gone, server stopping) the child's process group
    is killed; the worker reaps it.
    """
    child = _Child(cmd, cmdtyp, cmdusr, timeout_s, euid)
    try:
        return await asyncio.get_running_loop().run_in_executor(_workers(), child.run)
    except asyncio.CancelledError:
        child.cancel()
        raise


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _close_inherited_descriptors()
            _pool = ThreadPoolExecutor(MAX_RUNNING, thread_name_prefix="remsvc-command")
        return _pool


def _close_inherited_descriptors() -> None:
    """Mark descriptors this process inherited close-on-exec, once: commands get only 0, 1 and 2.

    ``posix_spawn`` closes nothing itself; what Python and gRPC open is close-on-exec already.
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, min(os.sysconf("SC_OPEN_MAX"), 65_536))
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def spawn_argv(argv: list[str], run_as: RunAs | None) -> tuple[list[str], dict[str, str]]:
    """The argv and environment to spawn: ``argv`` itself, or through setpriv and env for ``run_as``."""
    if run_as is None:
        return argv, dict(os.environ)
    setpriv, env_tool = shutil.which("setpriv"), shutil.which("env")
    if setpriv is None or env_tool is None:
        raise RunAsError(f"cannot run as user {run_as.name!r}: setpriv (util-linux) is not installed on the server")
    groups = f"--groups={','.join(map(str, run_as.groups))}" if run_as.groups else "--clear-groups"
    cwd = run_as.home if os.path.isdir(run_as.home) else "/"
    env = dict(os.environ, HOME=run_as.home, USER=run_as.name, LOGNAME=run_as.name)
    wrapped = [setpriv, f"--reuid={run_as.uid}", f"--regid={run_as.gid}", groups, "--",
               env_tool, f"--chdir={cwd}", "--", *argv]
    return wrapped, env


class _Capture:
    """Keeps the first OUTPUT_LIMIT bytes of one stream and counts what it had to drop."""

    __slots__ = ("chunks", "size", "overflow")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False

    def feed(self, data: bytes) -> None:
        room = OUTPUT_LIMIT - self.size
        if len(data) > room:
            self.overflow = True
            data = data[:room]
        if data:
            self.chunks.append(data)
            self.size += len(data)

    def text(self) -> tuple[str, bool]:
        data = b"".join(self.chunks)
        if not self.overflow:
            return data.decode("utf-8", errors="replace"), False
        return data[: complete_utf8_length(data)].decode("utf-8", errors="replace") + TRUNCATION_MARKER, True


def complete_utf8_length(data: bytes) -> int:
    """Length of ``data`` without a UTF-8 sequence that the cut left incomplete."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 != 0x80:  # a lead byte or ASCII
            need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return end - back if need > back else end
    return end


class _Child:
    """One command's life in a worker thread; ``cancel`` (from the event loop) kills its group."""

    def __init__(self, cmd: str, cmdtyp: int, cmdusr: str, timeout_s: float | None, euid: int | None) -> None:
        self.cmd, self.cmdtyp, self.cmdusr, self.euid = cmd, cmdtyp, cmdusr, euid
        self.timeout_s = timeout_s
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.reaped = False
        self.cancelled = False

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            if self.pid is not None and not self.reaped:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the child's whole process group (it leads its own session)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def run(self) -> ExecResult:
        if self.cancelled:  # the caller left while this command waited for a worker
            return ExecResult(RC_CANNOT_RUN, "", "cancelled before it started")
        deadline = time.monotonic() + self.timeout_s if self.timeout_s else None
        try:
            argv, env = spawn_argv(command_argv(self.cmd, self.cmdtyp), resolve_run_as(self.cmdusr, self.euid))
        except (FileNotFoundError, ValueError) as exc:
            return ExecResult(RC_NOT_FOUND, "", str(exc))
        except RunAsError as exc:
            return ExecResult(RC_CANNOT_RUN, "", str(exc))
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            pid = os.posix_spawn(
                argv[0], argv, env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
                setsid=True, setsigdef=_SIGNALS_TO_DEFAULT, setsigmask=(),
            )
        except OSError as exc:
            os.close(out_r)
            os.close(err_r)
            rc = RC_NOT_FOUND if isinstance(exc, FileNotFoundError) else RC_CANNOT_RUN
            return ExecResult(rc, "", f"cannot start command: {exc}")
        finally:
            os.close(out_w)
            os.close(err_w)
        with self.lock:
            self.pid = pid
            if self.cancelled:
                self.kill()
        try:
            out, err, status = self._wait(out_r, err_r, deadline)
        finally:
            os.close(out_r)
            os.close(err_r)
        if status is None:
            return ExecResult(RC_TIMED_OUT, *_timed_out(out))
        rc = os.waitstatus_to_exitcode(status)
        if rc < 0:
            rc = 128 - rc  # killed by a signal: report it the way a shell would
        (out_text, out_cut), (err_text, err_cut) = out.text(), err.text()
        return ExecResult(rc, out_text, err_text, False, out_cut, err_cut)

    def _wait(self, out_fd: int, err_fd: int, deadline: float | None) -> tuple[_Capture, _Capture, int | None]:
        """Drain both pipes until EOF and the child's exit; the wait status is None on timeout.

        Pipes still open at the deadline (a background child holding them) count as a timeout too.
        """
        captures = {out_fd: _Capture(), err_fd: _Capture()}
        poller = select.poll()
        for fd in captures:
            poller.register(fd, select.POLLIN)
        open_fds = len(captures)
        pidfd = _pidfd(self.pid)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        status: int | None = None
        try:
            while open_fds or status is None:
                wait_s = _CANCEL_CHECK_S if deadline is None else min(_CANCEL_CHECK_S, deadline - time.monotonic())
                if wait_s <= 0 or self.cancelled:
                    break
                if not open_fds and pidfd is None:  # old kernels: no pidfd, so poll for the exit
                    status = self._reap(os.WNOHANG)
                    time.sleep(0 if status is not None else 0.005)
                    continue
                for fd, _ in poller.poll(wait_s * 1000):
                    if fd == pidfd:
                        poller.unregister(pidfd)
                        status = self._reap(0)
                        continue
                    data = os.read(fd, _READ_SIZE)
                    if data:
                        captures[fd].feed(data)
                    else:
                        poller.unregister(fd)
                        open_fds -= 1
        finally:
            if pidfd is not None:
                os.close(pidfd)
            finished = status is not None and not open_fds
            if not finished:
                with self.lock:
                    self.kill()
                if status is None:
                    self._reap(0)
        return captures[out_fd], captures[err_fd], status if finished else None

    def _reap(self, flags: int) -> int | None:
        pid, status = os.waitpid(self.pid, flags)
        if pid == 0:
            return None
        with self.lock:
            self.reaped = True
        return status


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _timed_out(out: _Capture) -> tuple[str, str, bool, bool, bool]:
    text, cut = out.text()
    return text, TIMED_OUT, True, cut, False


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)

