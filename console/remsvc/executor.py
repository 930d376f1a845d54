"""Run one RemSvc command in its own child process, as RemSvc servers do.

The child gets ``/dev/null`` as stdin and its own session (so a timeout can kill everything it
started). Its stdout and stderr are drained together from the event loop, and its exit is watched
through a pidfd where the kernel offers one: no thread per command, and nothing blocks the loop but
the spawn itself. Output is kept up to :data:`OUTPUT_LIMIT` bytes per stream and the rest is read
and discarded, so a chatty child never stalls on a full pipe.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass

from .model import TRUNCATION_MARKER

OUTPUT_LIMIT = 262_144
TIMED_OUT = "process timed out"
RC_TIMED_OUT = 1
RC_CANNOT_RUN = 126  # the command exists but may not or cannot run (run-as refused, exec failure)
RC_NOT_FOUND = 127  # the interpreter is missing or the command type is unknown
SHELL = "/bin/sh"
_READ_SIZE = 65_536


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
    is killed; it is reaped as soon as it exits.
    """
    try:
        argv = command_argv(cmd, cmdtyp)
        run_as = resolve_run_as(cmdusr, euid)
    except (FileNotFoundError, ValueError) as exc:
        return ExecResult(RC_NOT_FOUND, "", str(exc))
    except RunAsError as exc:
        return ExecResult(RC_CANNOT_RUN, "", str(exc))

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            start_new_session=True,
            **_run_as_kwargs(run_as),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        rc = RC_NOT_FOUND if isinstance(exc, FileNotFoundError) else RC_CANNOT_RUN
        return ExecResult(rc, "", f"cannot start command: {exc}")
    os.close(out_w)
    os.close(err_w)
    child = _Child(asyncio.get_running_loop(), proc, out_r, err_r, timeout_s)
    try:
        await child.done
    finally:
        child.release()
    return child.result()


def _run_as_kwargs(run_as: RunAs | None) -> dict:
    if run_as is None:
        return {}
    env = dict(os.environ, HOME=run_as.home, USER=run_as.name, LOGNAME=run_as.name)
    cwd = run_as.home if os.path.isdir(run_as.home) else "/"
    return {"user": run_as.uid, "group": run_as.gid, "extra_groups": list(run_as.groups), "env": env, "cwd": cwd}


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
    """Event-loop bookkeeping for one running child: two pipes, its exit, and the timeout."""

    def __init__(self, loop: asyncio.AbstractEventLoop, proc: subprocess.Popen, out_fd: int, err_fd: int,
                 timeout_s: float | None) -> None:
        self.loop = loop
        self.proc = proc
        self.done: asyncio.Future[None] = loop.create_future()
        self.captures = {out_fd: _Capture(), err_fd: _Capture()}
        self.open_fds = {out_fd, err_fd}
        self.exit_rc: int | None = None
        self.timed_out = False
        for fd in (out_fd, err_fd):
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._on_output, fd)
        self.pidfd = self._watch_exit()
        self.timer = loop.call_later(timeout_s, self._on_timeout) if timeout_s else None

    def _watch_exit(self) -> int | None:
        try:
            pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self.loop.run_in_executor(None, self.proc.wait).add_done_callback(lambda _: self._on_exit())
            return None
        self.loop.add_reader(pidfd, self._on_exit)
        return pidfd

    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.captures[fd].feed(data)
            return
        self._close_fd(fd)
        self._check_done()

    def _on_exit(self) -> None:
        rc = self.proc.poll()
        if rc is None:
            return
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        self.exit_rc = rc
        self._check_done()

    def _on_timeout(self) -> None:
        self.timed_out = True
        self.kill()
        self._check_done()

    def _check_done(self) -> None:
        if self.exit_rc is None or self.done.done():
            return
        if self.timed_out or not self.open_fds:
            self.done.set_result(None)

    def kill(self) -> None:
        """SIGKILL the child's whole process group (it leads its own session)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _close_fd(self, fd: int) -> None:
        if fd in self.open_fds:
            self.open_fds.discard(fd)
            self.loop.remove_reader(fd)
            os.close(fd)

    def release(self) -> None:
        """Stop watching the pipes; if the child still runs (we were cancelled), kill its group.

        The exit watcher stays registered until the kernel reports the exit, so the child is
        always reaped.
        """
        if self.timer is not None:
            self.timer.cancel()
        if self.exit_rc is None:
            self.kill()
        for fd in list(self.open_fds):
            self._close_fd(fd)

    def result(self) -> ExecResult:
        (out, out_cut), (err, err_cut) = (capture.text() for capture in self.captures.values())
        if self.timed_out:
            return ExecResult(RC_TIMED_OUT, out, TIMED_OUT, True, out_cut, False)
        rc = self.exit_rc
        if rc < 0:
            rc = 128 - rc  # killed by a signal: report it the way a shell would
        return ExecResult(rc, out, err, False, out_cut, err_cut)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)

