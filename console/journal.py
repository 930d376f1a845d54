"""Append-only audit journal of dispatches: what was sent where, and every answer as it arrived.

One JSON object per line in ``$XDG_STATE_HOME/remsvc-console/journal/YYYY-MM-DD.jsonl`` (a file per
local day). By default each record is written and flushed to the OS before the call returns. With
``background=True`` (what dispatches use) a call only queues its record: a writer thread serializes
whatever is queued, writes it in one go and flushes it to the OS, so a 10,000-command start record
or a burst of answers never holds up the event loop, and an answer is on disk milliseconds after it
arrived. Either way a console killed mid-stream leaves every answer it received on disk; there is no
fsync per record. Tokens never reach the file: targets are journaled through ``Target.describe()``,
and every string is scrubbed of the tokens the journal knows about. Reading rebuilds each dispatch
and skips damaged lines (a power cut truncates the last one) with a warning instead of failing.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from .remsvc.model import (
    Command,
    CommandResult,
    CommandSent,
    DispatchEvent,
    ProtocolViolation,
    StreamFinished,
    StreamStatus,
    Target,
)
from .remsvc.report import TargetOutcome

FINAL_STATES = ("SUCCESS", "FAILED", "CANCELLED")
INTERRUPTED = "interrupted"
MASK = "***"
_RESULT_FLAGS = ("out_truncated", "err_truncated", "invalid_utf8")


def default_directory(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/remsvc-console/journal``, with XDG's default ``~/.local/state``."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "remsvc-console" / "journal"


@dataclass
class DispatchRecord:
    """One dispatch rebuilt from the journal; ``state`` is ``interrupted`` when it never finished."""

    dispatch_id: str
    started_at: float
    user: str
    host: str
    targets: list[dict[str, Any]]
    commands: list[Command]
    options: dict[str, Any]
    results: dict[tuple[str, int], CommandResult] = field(default_factory=dict)
    streams: dict[str, StreamFinished] = field(default_factory=dict)
    final_state: str | None = None
    error: str | None = None
    finished_at: float | None = None
    missing: dict[str, list[int]] = field(default_factory=dict)
    reason: str | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        return self.final_state is None

    @property
    def state(self) -> str:
        return self.final_state or INTERRUPTED

    @property
    def target_names(self) -> list[str]:
        return [t.get("name", "") for t in self.targets]

    def missing_tids(self, target_name: str) -> list[int]:
        """Tids that never answered: from the finish record, else the stream's end, else the results."""
        if target_name in self.missing:
            return list(self.missing[target_name])
        if target_name in self.streams:
            return list(self.streams[target_name].missing)
        return [tid for tid in range(1, len(self.commands) + 1) if (target_name, tid) not in self.results]

    def to_xcom(self, target_name: str) -> dict[str, Any]:
        """The ``run --json`` / Airflow XCom shape for one target of this dispatch."""
        if target_name not in self.target_names:
            raise KeyError(f"dispatch {self.dispatch_id} has no target {target_name!r}")
        outcome = TargetOutcome(target_name, self.commands)
        for (name, tid), result in self.results.items():
            if name == target_name:
                outcome.results[tid] = result
        outcome.finished = self.streams.get(target_name)
        xcom = outcome.to_xcom()
        if outcome.finished is None:
            if self.final_state == "CANCELLED":
                xcom["state"] = "CANCELLED"
            if xcom["error_msg"] is None:
                xcom["error_msg"] = self.error or (
                    "interrupted: the journal has no end for this dispatch" if self.interrupted
                    else "the stream's end was not recorded"
                )
        return xcom


class DispatchHistory(list[DispatchRecord]):
    """Dispatches newest first, plus one warning per damaged or orphaned line that was skipped."""

    def __init__(self, records: Iterable[DispatchRecord] = (), warnings: Iterable[str] = ()):
        super().__init__(records)
        self.warnings: list[str] = list(warnings)


@dataclass
class _Open:
    """What the journal remembers about a running dispatch to write its finish record."""

    targets: list[str]
    tid_count: int
    answered: dict[str, set[int]]
    streams: dict[str, list[int]] = field(default_factory=dict)


class Journal:
    """Writes dispatch records as they happen and reads them back.

    A failed write (disk full, permissions changed) raises OSError from the call that made it; the
    caller decides whether the dispatch goes on without its journal.
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        redact: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = False,
    ):
        self.directory = Path(directory).expanduser() if directory is not None else default_directory(env)
        self._clock = clock
        self._redact = {token for token in redact if token}
        self._open: dict[str, _Open] = {}
        self._file: TextIO | None = None
        self._file_day: date | None = None
        self._lock = threading.Lock()
        self._background = background
        self._cond = threading.Condition()
        self._queue: list[tuple[float, dict[str, Any] | _Listing]] = []
        self._queued = 0
        self._written = 0
        self._closing = False
        self._writer: threading.Thread | None = None
        self.write_error: OSError | None = None
        _make_private_dirs(self.directory)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self) -> None:
        """Wait until every queued record is written (background mode; a no-op otherwise)."""
        with self._cond:
            while self._written < self._queued and self._writer is not None and self._writer.is_alive():
                self._cond.wait(0.5)

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close the file."""
        writer = self._writer
        if writer is not None:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            writer.join()
            self._writer, self._closing = None, False
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
                self._file_day = None

    def redact(self, tokens: Iterable[str]) -> None:
        """Add secrets to scrub from every later record."""
        self._redact = self._redact | {token for token in tokens if token}

    def path_for(self, day: date) -> Path:
        return self.directory / f"{day.isoformat()}.jsonl"

    def start(self, targets: Sequence[Target], commands: Sequence[Command], *, options: Mapping[str, Any] | None = None) -> str:
        """Journal a new dispatch and return its id; the targets' tokens are added to the redaction set."""
        self.redact(t.bearer_token for t in targets if t.bearer_token)
        dispatch_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(self._clock()))}-{secrets.token_hex(4)}"
        names = [t.name for t in targets]
        self._open[dispatch_id] = _Open(names, len(commands), {name: set() for name in names})
        head = {
            "k": "start",
            "id": dispatch_id,
            "user": _local_user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "targets": [t.describe() for t in targets],
            "options": dict(options or {}),
        }
        commands = list(commands)

        def items() -> Iterable[dict[str, Any]]:
            for tid, c in enumerate(commands, start=1):
                yield {"tid": tid, "cmd": c.cmd, "cmdtyp": c.cmdtyp, "cmdusr": c.cmdusr, "src": c.src, "hsh": c.hsh}

        self._write(_Listing(head, "commands", items))
        return dispatch_id

    def record(self, dispatch_id: str, event: DispatchEvent) -> None:
        """Journal one event of a running dispatch. CommandSent is not journaled: results imply it."""
        state = self._state(dispatch_id)
        if isinstance(event, CommandSent):
            return
        if isinstance(event, CommandResult):
            state.answered.setdefault(event.target, set()).add(event.tid)
            rec = {
                "k": "result", "id": dispatch_id, "target": event.target, "tid": event.tid, "rc": event.rc,
                "out": event.out, "err": event.err, "hsh": event.hsh, "at": event.at, "elapsed_s": event.elapsed_s,
            }
            rec.update({flag: True for flag in _RESULT_FLAGS if getattr(event, flag)})
            self._write(rec)
            return
        if isinstance(event, ProtocolViolation):
            self._write({
                "k": "protocol", "id": dispatch_id, "target": event.target, "problem": event.problem,
                "tid": event.tid, "rc": event.rc, "out": event.out, "err": event.err, "raw": event.raw, "at": event.at,
            })
            return
        if isinstance(event, StreamFinished):
            state.streams[event.target] = list(event.missing)
            self._write({
                "k": "stream", "id": dispatch_id, "target": event.target, "status": event.status.value,
                "answered": list(event.answered), "missing": list(event.missing), "error": event.error,
                "code": event.code, "elapsed_s": event.elapsed_s, "at": event.at, "sent_any": event.sent_any,
            })
            return
        raise TypeError(f"not a dispatch event: {type(event).__name__}")

    def finish(self, dispatch_id: str, state: str, *, error: str | None = None, reason: str | None = None) -> None:
        """Journal the end of a dispatch with the tids each target never answered; ``reason`` says
        what ended it early (``signal SIGTERM``, ``console stopped``), None when it ran its course."""
        if state not in FINAL_STATES:
            raise ValueError(f"dispatch state must be one of {', '.join(FINAL_STATES)}, not {state!r}")
        open_ = self._state(dispatch_id)
        missing = {}
        for name in open_.targets:
            if name in open_.streams:
                missing[name] = open_.streams[name]
            else:
                answered = open_.answered.get(name, set())
                missing[name] = [tid for tid in range(1, open_.tid_count + 1) if tid not in answered]
        record = {"k": "finish", "id": dispatch_id, "state": state, "error": error, "missing": missing}
        if reason is not None:
            record["reason"] = reason
        self._write(record)
        del self._open[dispatch_id]

    def read_dispatches(self, since_days: int = 7, *, today: date | None = None) -> DispatchHistory:
        """Dispatches journaled from ``since_days`` days before ``today`` up to today, newest first."""
        today = today or date.fromtimestamp(self._clock())
        records: dict[str, DispatchRecord] = {}
        warnings: list[str] = []
        orphans: dict[str, list[str]] = {}
        for offset in range(since_days, -1, -1):
            path = self.path_for(today - timedelta(days=offset))
            if path.exists():
                _read_file(path, records, warnings, orphans)
        for dispatch_id, places in orphans.items():
            warnings.append(
                f"{places[0]}: {len(places)} record(s) of dispatch {dispatch_id} skipped: "
                "its start record is missing or outside the window read"
            )
        ordered = sorted(records.values(), key=lambda r: (r.started_at, r.dispatch_id), reverse=True)
        return DispatchHistory(ordered, warnings)

    def _state(self, dispatch_id: str) -> _Open:
        try:
            return self._open[dispatch_id]
        except KeyError:
            raise ValueError(f"unknown or already finished dispatch {dispatch_id!r}") from None

    def _write(self, record: dict[str, Any] | _Listing) -> None:
        """Write a record now, or queue it for the writer thread."""
        now = self._clock()
        if not self._background:
            self._write_batch([(now, record)])
            return
        with self._cond:
            if self.write_error is not None:
                raise OSError(self.write_error.errno, f"journal write failed earlier: {self.write_error}")
            self._queue.append((now, record))
            self._queued += 1
            if self._writer is None:
                self._writer = threading.Thread(target=self._drain, name="journal-writer", daemon=True)
                self._writer.start()
            self._cond.notify_all()

    def _drain(self) -> None:
        """The writer thread: write everything queued at once, until closed."""
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                batch, self._queue = self._queue, []
                if not batch:
                    return
            try:
                if self.write_error is None:
                    self._write_batch(batch)
            except OSError as exc:
                self.write_error = exc
            with self._cond:
                self._written += len(batch)
                self._cond.notify_all()

    def _write_batch(self, batch: list[tuple[float, Any]]) -> None:
        days: list[tuple[date, list[str]]] = []
        for now, record in batch:
            day = date.fromtimestamp(now)
            if not days or days[-1][0] != day:
                days.append((day, []))
            days[-1][1].append(self._line(record, now))
        with self._lock:
            for day, lines in days:
                handle = self._file_for(day)
                try:
                    handle.write("".join(lines))
                    handle.flush()
                except OSError:
                    self._file, self._file_day = None, None
                    with contextlib.suppress(OSError):
                        handle.close()
                    raise

    def _line(self, record: dict[str, Any] | _Listing, now: float) -> str:
        """One JSON line; a listing is encoded item by item, so the writer thread never holds the
        GIL (and the event loop) for one 10,000-command ``json.dumps``."""
        head = record.head if isinstance(record, _Listing) else record
        head["t"] = now
        if self._redact:
            head = _scrub(head, self._redact)
        text = json.dumps(head, separators=(",", ":"), default=str)
        if not isinstance(record, _Listing):
            return text + "\n"
        tokens = self._redact
        items = ",".join(
            json.dumps(_scrub(item, tokens) if tokens else item, separators=(",", ":"), default=str)
            for item in record.items()
        )
        return f"{text[:-1]},{json.dumps(record.key)}:[{items}]}}\n"

    def _file_for(self, day: date) -> TextIO:
        if self._file is None or self._file_day != day:
            if self._file is not None:
                self._file.close()
            path = self.path_for(day)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
                os.fchmod(fd, 0o600)
            except FileExistsError:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            self._file = os.fdopen(fd, "a", encoding="utf-8", newline="\n")
            self._file_day = day
        return self._file


@dataclass
class _Listing:
    """A record with one long list (``key``: ``items()``), encoded a piece at a time."""

    head: dict[str, Any]
    key: str
    items: Callable[[], Iterable[dict[str, Any]]]


def _make_private_dirs(directory: Path) -> None:
    """Create missing directories as 0700; an existing directory keeps the mode its owner chose."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)
    if not directory.is_dir():
        raise NotADirectoryError(f"journal directory {directory} is not a directory")


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _scrub(value: Any, tokens: set[str]) -> Any:
    if isinstance(value, str):
        for token in tokens:
            if token in value:
                value = value.replace(token, MASK)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, tokens) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, tokens) for v in value]
    return value


def _read_file(path: Path, records: dict[str, DispatchRecord], warnings: list[str], orphans: dict[str, list[str]]) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        warnings.append(f"{path}: cannot read: {exc.strerror or exc}")
        return
    lines = data.split(b"\n")
    truncated_tail = not data.endswith(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                raise ValueError("not a journal record")
            _apply(rec, records)
        except (ValueError, KeyError, TypeError) as exc:
            last = number == len(lines) and truncated_tail
            why = "truncated last line (interrupted write)" if last else f"corrupt line ({_short(exc)})"
            warnings.append(f"{path}:{number}: {why}, skipped")
        except _Orphan as exc:
            orphans.setdefault(exc.dispatch_id, []).append(f"{path}:{number}")


class _Orphan(Exception):
    """A record whose dispatch's start record is not in the files read."""

    def __init__(self, dispatch_id: str):
        super().__init__(dispatch_id)
        self.dispatch_id = dispatch_id


def _apply(rec: dict[str, Any], records: dict[str, DispatchRecord]) -> None:
    kind, dispatch_id = rec.get("k"), rec["id"]
    if kind == "start":
        records[dispatch_id] = DispatchRecord(
            dispatch_id=dispatch_id,
            started_at=float(rec["t"]),
            user=str(rec.get("user", "")),
            host=str(rec.get("host", "")),
            targets=list(rec["targets"]),
            commands=[Command(cmd=c["cmd"], cmdtyp=int(c.get("cmdtyp", 0)), cmdusr=c.get("cmdusr", ""), src=c.get("src", ""))
                      for c in rec["commands"]],
            options=dict(rec.get("options") or {}),
        )
        return
    if kind not in ("result", "stream", "protocol", "finish"):
        raise ValueError(f"unknown record kind {kind!r}")
    record = records.get(dispatch_id)
    if record is None:
        raise _Orphan(dispatch_id)
    if kind == "result":
        result = CommandResult(
            target=rec["target"], tid=int(rec["tid"]), rc=int(rec["rc"]), out=rec["out"], err=rec["err"],
            hsh=rec["hsh"], at=float(rec["at"]), elapsed_s=rec.get("elapsed_s"),
            **{flag: bool(rec.get(flag, False)) for flag in _RESULT_FLAGS},
        )
        record.results[(result.target, result.tid)] = result
    elif kind == "protocol":
        record.violations.append({k: rec.get(k) for k in ("target", "problem", "tid", "rc", "out", "err", "raw", "at")})
    elif kind == "stream":
        record.streams[rec["target"]] = StreamFinished(
            target=rec["target"], status=StreamStatus(rec["status"]), answered=tuple(rec["answered"]),
            missing=tuple(rec["missing"]), error=rec.get("error"), code=rec.get("code"),
            elapsed_s=float(rec["elapsed_s"]), at=float(rec["at"]), sent_any=bool(rec.get("sent_any", True)),
        )
    else:
        if rec["state"] not in FINAL_STATES:
            raise ValueError(f"unknown dispatch state {rec['state']!r}")
        record.final_state = rec["state"]
        record.error = rec.get("error")
        record.reason = rec.get("reason")
        record.finished_at = float(rec["t"])
        record.missing = {name: list(tids) for name, tids in (rec.get("missing") or {}).items()}


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 80 else text[:79] + "…"
