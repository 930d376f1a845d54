"""Start, stop and restart supervisord programs, and tail their logs: the only write path to supervisord.

Read-only mode is enforced here, in the service, not by hiding a key: a refused action raises
``ActionRefused`` and is journaled as refused. Every attempted action is journaled like a dispatch
(who, where, what, result) through ``console.journal.record_supervisor_action``, with the instance's
password scrubbed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..journal import record_supervisor_action
from ..safetext import decode_lenient, inert
from .supervisor_address import SupervisorAddress
from .supervisor_rpc import SupervisorRpc, SupervisorRpcError

ACTIONS = ("start", "stop", "restart")
STREAMS = ("stdout", "stderr")
TAIL_BYTES = 64 * 1024
ACTION_TIMEOUT_S = 60.0
_NOT_RUNNING = 70  # supervisor.xmlrpc.Faults.NOT_RUNNING
_ALREADY_STARTED = 60


class ActionRefused(Exception):
    """The action was not sent to supervisord (read-only console, unknown action)."""


@dataclass(frozen=True)
class ActionResult:
    server: str
    program: str
    action: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class LogChunk:
    """Text read from a program's log; ``offset`` is where the next read starts."""

    text: str
    offset: int
    overflow: bool


class SupervisorControl:
    """Actions and log reads against one supervisord instance."""

    def __init__(self, address: SupervisorAddress, *, read_only: bool, journal_dir: Path | str | None,
                 rpc: SupervisorRpc | None = None, clock: Callable[[], float] = time.time):
        self.address = address
        self.read_only = read_only
        self.journal_dir = journal_dir
        self.rpc = rpc or SupervisorRpc(address)
        self._clock = clock

    def _journal(self, program: str, action: str, result: str, detail: str) -> None:
        record_supervisor_action(self.journal_dir, server=self.address.display, program=program, action=action,
                                 result=result, detail=detail, secrets=self.address.secrets, clock=self._clock)

    async def act(self, program: str, action: str) -> ActionResult:
        """Run ``action`` on ``program`` (``group:name``) and wait for supervisord to finish it."""
        if action not in ACTIONS:
            raise ActionRefused(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        if self.read_only:
            self._journal(program, action, "refused", "console is read-only")
            raise ActionRefused(f"read-only: {action} {program} on {self.address.display} refused")
        try:
            if action in ("stop", "restart"):
                try:
                    await self.rpc.call("supervisor.stopProcess", program, True, timeout=ACTION_TIMEOUT_S)
                except SupervisorRpcError as err:
                    if not (action == "restart" and err.fault_code == _NOT_RUNNING):
                        raise
            if action in ("start", "restart"):
                await self.rpc.call("supervisor.startProcess", program, True, timeout=ACTION_TIMEOUT_S)
        except SupervisorRpcError as err:
            words = err.message if err.fault_code is None else f"{err.message} (fault {err.fault_code})"
            result = ActionResult(self.address.display, program, action, False, words)
            self._journal(program, action, "failed", words)
            return result
        done = {"start": "started", "stop": "stopped", "restart": "restarted"}[action]
        self._journal(program, action, "ok", done)
        return ActionResult(self.address.display, program, action, True, done)

    async def tail(self, program: str, stream: str = "stdout", offset: int | None = None,
                   length: int = TAIL_BYTES) -> LogChunk:
        """The last ``length`` bytes of a log (``offset`` None), or what was written since ``offset``.

        supervisord's tail call always answers with the *last* bytes of the file and the file's size,
        so what is new since ``offset`` is the tail of that answer. ``overflow`` means bytes were
        skipped (more than ``length`` new ones, or the log was rotated).
        """
        if stream not in STREAMS:
            raise ValueError(f"stream must be stdout or stderr, not {stream!r}")
        method = "supervisor.tailProcessStdoutLog" if stream == "stdout" else "supervisor.tailProcessStderrLog"
        text, size, _ = await self.rpc.call(method, program, 0 if offset is None else offset, length)
        data = str(text).encode("utf-8")
        size = int(size)
        if offset is None:
            fresh, overflow = data, size > len(data)
        elif size < offset:
            fresh, overflow = data, True
        else:
            new = size - offset
            fresh, overflow = (data[len(data) - new:] if new else b""), new > len(data)
        words, _ = decode_lenient(fresh)
        return LogChunk(inert(self.address.mask(words), tab_width=4), size, overflow)

    async def aclose(self) -> None:
        await self.rpc.aclose()
