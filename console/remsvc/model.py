"""Plain data the dispatch path hands to its callers: targets, commands, events and per-tid state.

Nothing here talks to the network; the client produces these events, and the CLI, the journal and
the UI consume them.
"""

from __future__ import annotations

import enum
import zlib
from dataclasses import dataclass, field
from typing import Union

DEFAULT_PORT = 50051
TRUNCATION_LIMIT = 262144
DEFAULT_CONCURRENCY = 0  # fan-out: every target at once, up to fanout.fanout_cap()
TRUNCATION_MARKER = "\n\x01[remSvc: output truncated at 262144 bytes]\x01\n"


def command_hash(cmd: str) -> str:
    """CRC-32 (zlib) of the UTF-8 command as 8 lowercase hex digits: servers compare it exactly."""
    return format(zlib.crc32(cmd.encode("utf-8")) & 0xFFFFFFFF, "08x")


@dataclass(frozen=True)
class Target:
    """Where to send commands and how: one resolved RemSvc connection.

    The bearer token never appears in ``repr`` or ``describe``.
    """

    name: str
    host: str
    port: int = DEFAULT_PORT
    use_ssl: bool = False
    ca_cert_path: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    label: str | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @property
    def token_without_tls(self) -> bool:
        return bool(self.bearer_token) and not self.use_ssl

    @property
    def token_problem(self) -> str | None:
        """Why the bearer token cannot travel as gRPC metadata (a header value), or None."""
        token = self.bearer_token
        if not token:
            return None
        bad = next((ch for ch in token if not " " <= ch <= "~"), None)
        if bad is None:
            return None
        what = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(bad, f"the character U+{ord(bad):04X}")
        return f"the bearer_token of connection {self.name!r} contains {what}; a token must be printable ASCII"

    def describe(self) -> dict:
        """Journal- and JSON-safe description: address and transport, never the token."""
        return {
            "name": self.name,
            "address": self.address,
            "tls": self.use_ssl,
            "ca_cert_path": self.ca_cert_path,
            "token": bool(self.bearer_token),
            "label": self.label,
        }


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot go on the wire as a proto string the server accepts, or None."""
    if "\x00" in text:
        return "contains a NUL byte"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"is not valid UTF-8 (undecodable byte at position {exc.start})"
    return None


@dataclass(frozen=True)
class Command:
    """One command of a stream; ``tid`` is assigned by position when the stream is sent."""

    cmd: str
    cmdtyp: int = 0
    cmdusr: str = ""
    src: str = ""

    @property
    def hsh(self) -> str:
        return command_hash(self.cmd)

    def problem(self) -> str | None:
        """Why this command cannot be sent (NUL byte, text that is not UTF-8), or None."""
        for label, text in (("the command", self.cmd), ("its user", self.cmdusr), ("its src", self.src)):
            problem = text_problem(text)
            if problem is not None:
                return f"{label} {problem}"
        return None


class StreamStatus(str, enum.Enum):
    """How a stream to one target ended."""

    COMPLETED = "completed"  # every tid answered (rc may still be non-zero)
    DENIED = "denied"  # PERMISSION_DENIED: allow/deny list hit, later tids never ran
    UNAUTHENTICATED = "unauthenticated"
    HASH_REJECTED = "hash_rejected"  # INVALID_ARGUMENT hash mismatch
    DEADLINE_EXCEEDED = "deadline_exceeded"
    UNAVAILABLE = "unavailable"  # refused, unreachable, TLS handshake failure
    CLOSED_EARLY = "closed_early"  # server ended the stream with tids unanswered
    PROTOCOL_ERROR = "protocol_error"  # phantom or repeated tid, or a reply that does not decode
    NOT_RESPONDING = "not_responding"  # the server stopped answering liveness pings mid-stream
    CANCELLED = "cancelled"  # cancelled by the user
    ERROR = "error"  # any other gRPC failure

    @property
    def is_connection_error(self) -> bool:
        return self in (StreamStatus.UNAVAILABLE, StreamStatus.UNAUTHENTICATED)


class CmdState(str, enum.Enum):
    """What a UI shows for one (target, tid)."""

    QUEUED = "queued"
    SENT = "sent"
    RUNNING = "running"
    DONE = "done"  # answered with rc 0
    FAILED = "failed"  # answered with rc != 0
    DENIED = "denied"  # the command that hit the deny/allow list, or one after it: never ran
    MISSING = "missing"  # sent but never answered (stream broke)
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in (CmdState.QUEUED, CmdState.SENT, CmdState.RUNNING)


@dataclass(frozen=True)
class CommandSent:
    target: str
    tid: int
    at: float


@dataclass(frozen=True)
class CommandResult:
    target: str
    tid: int
    rc: int
    out: str
    err: str
    hsh: str
    at: float
    elapsed_s: float | None = None
    out_truncated: bool = False
    err_truncated: bool = False
    invalid_utf8: bool = False

    def as_xcom(self, cmd: str) -> dict:
        return {"tid": self.tid, "rc": self.rc, "out": self.out, "err": self.err, "hsh": self.hsh, "cmd": cmd}


@dataclass(frozen=True)
class ProtocolViolation:
    """A reply that breaks the stream's contract; it is journaled, never taken as a result.

    ``tid`` is None when the reply did not decode; ``raw`` then holds up to 4 KiB of its bytes as hex.
    """

    target: str
    problem: str
    tid: int | None = None
    rc: int | None = None
    out: str = ""
    err: str = ""
    raw: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class StreamFinished:
    target: str
    status: StreamStatus
    answered: tuple[int, ...]
    missing: tuple[int, ...]
    error: str | None
    code: str | None
    elapsed_s: float
    at: float
    sent_any: bool = True

    @property
    def ok(self) -> bool:
        return self.status is StreamStatus.COMPLETED


DispatchEvent = Union[CommandSent, CommandResult, ProtocolViolation, StreamFinished]


@dataclass
class TidState:
    tid: int
    cmd: str
    state: CmdState = CmdState.QUEUED
    sent_at: float | None = None
    result: CommandResult | None = None
    finished_at: float | None = None


class StreamTracker:
    """Folds one target's events into per-tid state.

    The server runs a stream's commands one at a time in order, so the lowest sent tid without a
    result is the one running now.
    """

    def __init__(self, target: str, commands: list[Command]):
        self.target = target
        self.tids = {i: TidState(i, c.cmd) for i, c in enumerate(commands, start=1)}
        self.finished: StreamFinished | None = None
        self._next_unanswered = 1

    def apply(self, event: DispatchEvent) -> list[int]:
        """Apply one event; return the tids whose state changed."""
        if isinstance(event, CommandSent):
            row = self.tids.get(event.tid)
            if row is None or row.state.final:
                return []
            row.sent_at = event.at
            row.state = CmdState.SENT
            return [event.tid, *self._promote_running()]
        if isinstance(event, CommandResult):
            row = self.tids.get(event.tid)
            if row is None:
                return []
            row.result = event
            row.finished_at = event.at
            row.state = CmdState.DONE if event.rc == 0 else CmdState.FAILED
            return [event.tid, *self._promote_running()]
        if not isinstance(event, StreamFinished):
            return []
        self.finished = event
        changed = []
        for row in self.tids.values():
            if row.state.final:
                continue
            if event.status is StreamStatus.CANCELLED:
                row.state = CmdState.CANCELLED
            elif event.status is StreamStatus.DENIED:
                row.state = CmdState.DENIED
            else:
                row.state = CmdState.MISSING
            row.finished_at = event.at
            changed.append(row.tid)
        return changed

    def _promote_running(self) -> list[int]:
        while self._next_unanswered in self.tids and self.tids[self._next_unanswered].result is not None:
            self._next_unanswered += 1
        row = self.tids.get(self._next_unanswered)
        if row is not None and row.state is CmdState.SENT:
            row.state = CmdState.RUNNING
            return [row.tid]
        return []

    def running_tid(self) -> int | None:
        row = self.tids.get(self._next_unanswered)
        return row.tid if row is not None and row.state is CmdState.RUNNING else None

    def counts(self) -> dict[CmdState, int]:
        out: dict[CmdState, int] = {}
        for row in self.tids.values():
            out[row.state] = out.get(row.state, 0) + 1
        return out
