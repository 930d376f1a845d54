"""The dispatch path the console's Dispatch pane calls, with no terminal code in it.

It turns editor text and options into commands, refuses to dispatch when the console is read-only
(here, not by hiding a button), asks for confirmation above the fan-out threshold, journals every
event as it happens, and hands the typed events on to whoever iterates the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import os
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .remsvc.model import (
    Command,
    CommandResult,
    DispatchEvent,
    ProtocolViolation,
    StreamFinished,
    StreamStatus,
    DEFAULT_CONCURRENCY,
    Target,
    text_problem,
)
from .remsvc.report import TargetOutcome

CMDTYP_NAMES = {0: "shell", 1: "PowerShell"}


class ReadOnlyError(Exception):
    """Dispatch refused because the console is read-only."""


class DispatchInputError(ValueError):
    """The editor text or an option cannot be dispatched; ``str()`` says what to fix."""


class ConfirmationRequired(Exception):
    """More targets than the confirmation threshold; call again with ``confirmed=True``."""

    def __init__(self, count: int, threshold: int):
        self.count = count
        self.threshold = threshold
        super().__init__(f"dispatch to {count} targets needs confirmation (threshold {threshold})")


def default_src(hostname: str | None = None) -> str:
    """The ``src`` servers log for our commands: who sent them, from where."""
    return f"remsvc-console@{hostname or socket.gethostname()}"


@dataclass(frozen=True)
class DispatchOptions:
    """Per-stream options from the compose form."""

    cmdtyp: int = 0
    cmdusr: str = ""
    src: str = ""
    timeout: float | None = None
    via: str = "tui"

    def journal_options(self) -> dict:
        return {"cmdtyp": self.cmdtyp, "cmdusr": self.cmdusr, "src": self.src, "timeout": self.timeout, "via": self.via}


def parse_timeout(text: str) -> float | None:
    """Stream timeout from a form field: blank means none; otherwise positive seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise DispatchInputError(f"timeout must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise DispatchInputError(f"timeout must be positive, got {text!r}")
    return value


def parse_commands(text: str, options: DispatchOptions) -> list[Command]:
    """One command per non-blank line; lines starting with ``#`` are notes, not commands."""
    if options.cmdtyp not in CMDTYP_NAMES:
        raise DispatchInputError(f"cmdtyp must be 0 (shell) or 1 (PowerShell), got {options.cmdtyp}")
    cmdtyp, cmdusr, src = options.cmdtyp, options.cmdusr.strip(), options.src
    commands = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped[0] == "#":
            continue
        commands.append(Command(line, cmdtyp, cmdusr, src))
    if not commands:
        raise DispatchInputError("nothing to run: write one command per line in the editor")
    return commands


def check_sendable(commands: Sequence[Command], targets: Sequence[Target] = ()) -> None:
    """Refuse, before any stream opens, what could not be sent or would break the stream mid-way.

    All texts are checked at once first (10,000 commands in about a millisecond); only when that
    finds a problem are they checked one by one to name the command."""
    fields = {c.cmdusr for c in commands} | {c.src for c in commands}
    if text_problem("\n".join([*fields, *(c.cmd for c in commands)])) is not None:
        _name_unsendable(commands)
    for target in targets:
        if target.token_problem:
            raise DispatchInputError(f"{target.token_problem}; nothing was sent")


def _name_unsendable(commands: Sequence[Command]) -> None:
    for number, command in enumerate(commands, start=1):
        problem = command.problem()
        if problem is not None:
            raise DispatchInputError(f"command {number}: {problem}; nothing was sent")


def overall_state(outcomes: Sequence[TargetOutcome], cancelled: bool) -> str:
    """SUCCESS only when every target answered every command with rc 0."""
    if cancelled:
        return "CANCELLED"
    states = {o.state for o in outcomes}
    if states == {"SUCCESS"}:
        return "SUCCESS"
    return "CANCELLED" if "CANCELLED" in states else "FAILED"


def overall_error(outcomes: Sequence[TargetOutcome]) -> str | None:
    errors = [o.error_msg for o in outcomes if o.state != "SUCCESS" and o.error_msg]
    if not errors:
        return None
    if len(outcomes) == 1:
        return errors[0]
    return f"{len(errors)} of {len(outcomes)} targets did not succeed; first: {errors[0]}"


@dataclass
class DispatchOutcome:
    """How a finished dispatch ended, per target and overall."""

    dispatch_id: str | None
    state: str
    error: str | None
    outcomes: dict[str, TargetOutcome]
    journal_error: str | None = None

    def to_json(self) -> dict:
        """The ``run --json`` shape: one target's XCom dict, or ``{"targets": {...}}`` for several."""
        if len(self.outcomes) == 1:
            return next(iter(self.outcomes.values())).to_xcom()
        return {"targets": {name: o.to_xcom() for name, o in self.outcomes.items()}}


@dataclass(eq=False, repr=False)
class DispatchRun:
    """One dispatch in flight: async-iterate it for events (journalled first), ``cancel()`` to stop it."""

    targets: list[Target]
    commands: list[Command]
    options: DispatchOptions
    journal: object | None
    dispatch_id: str | None
    concurrency: int = DEFAULT_CONCURRENCY
    sent_events: bool = True
    outcome: DispatchOutcome | None = None
    journal_error: str | None = None
    on_done: Callable[[DispatchRun], None] | None = None
    _fan: FanOut | None = field(default=None, repr=False)
    _outcomes: dict[str, TargetOutcome] = field(default_factory=dict, repr=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cancelled: bool = False
    _reason: str | None = None

    def cancel(self, reason: str | None = None) -> None:
        """End every stream; each target then reports its answered and missing tids.

        ``reason`` (e.g. ``"SIGTERM received"``) replaces "cancelled by user" in every stream's
        error and is journaled with the finish record."""
        if not self._cancelled:
            self._reason = reason
        self._cancelled = True
        if self._fan is not None:
            self._fan.cancel()

    @property
    def cancel_reason(self) -> str | None:
        return self._reason

    def __repr__(self) -> str:
        # Short on purpose: Textual's @work describes a worker by repr() of its arguments, and the
        # generated repr of 10,000 commands took tens of milliseconds at every dispatch start.
        return f"DispatchRun({self.dispatch_id or 'unjournaled'}, {len(self.targets)} targets, {len(self.commands)} commands)"

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def __aiter__(self) -> AsyncIterator[DispatchEvent]:
        return self._events()

    def _journal(self, method: str, *args, **kwargs) -> None:
        if self.journal is None or self.journal_error is not None:
            return
        try:
            getattr(self.journal, method)(*args, **kwargs)
        except OSError as exc:
            self.journal_error = f"journal write failed, later events not recorded: {exc}"

    async def _events(self) -> AsyncIterator[DispatchEvent]:
        fan = self._open()
        if fan is None:
            return  # closed before it streamed (the console stopped first)
        events = fan.__aiter__()
        interrupted = False
        try:
            async for event in events:
                yield self._take(event)
        except (GeneratorExit, asyncio.CancelledError):
            interrupted = True
            fan.cancel()
            raise
        finally:
            await events.aclose()
            self._close(interrupted)

    async def complete(self, on_event: Callable[[DispatchEvent], None] | None = None) -> DispatchOutcome:
        """Run to the end, handing each event to ``on_event`` as it arrives, and return the outcome.

        The same path as iterating the run, without a queue between the streams and the caller:
        for a caller that only reacts to events (``run``, the Dispatch pane), each answer costs no
        extra task switch."""
        fan = self._open()
        if fan is None:
            return self.outcome
        take = self._take

        def emit(event: DispatchEvent) -> None:
            event = take(event)
            if on_event is not None:
                on_event(event)

        interrupted = False
        try:
            await fan.run(emit)
        except asyncio.CancelledError:
            interrupted = True
            fan.cancel()
            raise
        finally:
            self._close(interrupted)
        return self.outcome

    def close_unstarted(self, reason: str) -> bool:
        """Journal a run that never streamed as cancelled, every command missing; False if it streamed.

        A run is journaled when it is started and streams when it is first iterated; a console that
        stops in between (a long stream still being prepared off the loop) closes it here."""
        with self._opening:
            if self._fan is not None or self.outcome is not None:
                return False
            self.cancel(reason)
            self._outcomes = {t.name: TargetOutcome(t.name, self.commands) for t in self.targets}
            self._close(interrupted=True)
            return True

    def _open(self) -> FanOut | None:
        """The fan-out this run streams through, or None when the run was closed before it streamed."""
        from .remsvc.fanout import FanOut

        with self._opening:
            if self.outcome is not None:
                return None
            self._outcomes = {t.name: TargetOutcome(t.name, self.commands) for t in self.targets}
            self._fan = FanOut(self.targets, self.commands, concurrency=self.concurrency,
                               timeout=self.options.timeout, sent_events=self.sent_events)
        if self._cancelled:
            self._fan.cancel()
        return self._fan

    def _take(self, event: DispatchEvent) -> DispatchEvent:
        """Journal an event and fold it into its target's outcome; a signal's reason names the cancel."""
        if isinstance(event, StreamFinished) and event.status is StreamStatus.CANCELLED and self._reason:
            from .remsvc.errors import describe

            target = next(t for t in self.targets if t.name == event.target)
            event = dataclasses.replace(event, error=describe(target, self._reason))
        if isinstance(event, (CommandResult, ProtocolViolation, StreamFinished)):
            self._journal("record", self.dispatch_id, event)
            self._outcomes[event.target].apply(event)
        return event

    def _close(self, interrupted: bool) -> None:
        """Journal the finish record and settle ``outcome``, however the run ended."""
        ordered = [self._outcomes[t.name] for t in self.targets]
        state = overall_state(ordered, self._cancelled or interrupted)
        error = overall_error(ordered)
        reason = self._reason
        if interrupted and reason is None:
            reason = "console stopped"
        if interrupted and error is None:
            error = "dispatch interrupted: the console stopped before every target answered"
        if self._reason and not any(o.state == "SUCCESS" for o in ordered):
            error = f"cancelled: {self._reason}"
        self._journal("finish", self.dispatch_id, state, error=error, reason=reason)
        if self.journal is not None:
            try:
                self.journal.close()
            except OSError as exc:
                self.journal_error = self.journal_error or f"journal close failed: {exc}"
            write_error = getattr(self.journal, "write_error", None)
            if write_error is not None and self.journal_error is None:
                self.journal_error = f"journal write failed, later events not recorded: {write_error}"
        self.outcome = DispatchOutcome(self.dispatch_id, state, error, {o.name: o for o in ordered}, self.journal_error)
        if self.on_done is not None:
            self.on_done(self)


class DispatchService:
    """Starts dispatches; owns the read-only switch and the fan-out confirmation threshold."""

    def __init__(
        self,
        *,
        journal_dir: Path | None = None,
        journal_enabled: bool = True,
        read_only: bool = False,
        read_only_locked: bool | None = None,
        confirm_threshold: int = 10,
        concurrency: int = DEFAULT_CONCURRENCY,
        sent_events: bool = True,
    ):
        """``sent_events=False`` leaves ``CommandSent`` out of the runs' events (``run`` only
        collects results; the Dispatch pane shows which command is running from them)."""
        self.journal_dir = journal_dir
        self.journal_enabled = journal_enabled
        self._read_only = read_only
        self.read_only_locked = read_only if read_only_locked is None else read_only_locked
        self.confirm_threshold = confirm_threshold
        self.concurrency = concurrency
        self.sent_events = sent_events
        self._active: set[DispatchRun] = set()
        self._stopping: str | None = None
        self._preparing = 0  # start() calls in progress, possibly in a worker thread
        self._prepared = threading.Condition()

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def active(self) -> list[DispatchRun]:
        """Runs started and not finished (iterated or not)."""
        return list(self._active)

    def cancel_all(self, reason: str) -> int:
        """Cancel every running dispatch with ``reason`` (a signal, the console quitting); how many.

        A run that has not streamed yet has nothing to wait for: it is journaled as cancelled now."""
        runs = self.active
        for run in runs:
            if not run.close_unstarted(reason):
                run.cancel(reason)
        return len(runs)

    def shutdown(self, reason: str = "console stopped", wait_s: float = 5.0) -> None:
        """The console is stopping: refuse new dispatches, let one being prepared finish (up to
        ``wait_s``), and journal every run that never streamed as cancelled, so no start record is
        left without its finish."""
        with self._prepared:
            self._stopping = reason
            self._prepared.wait_for(lambda: self._preparing == 0, timeout=wait_s)
        for run in self.active:
            run.close_unstarted(reason)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until every started dispatch has journaled its finish; False if ``timeout`` ran out."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._active:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def set_read_only(self, value: bool) -> None:
        """Turn read-only on at any time; off only when it was not imposed by flag or config."""
        if not value and self.read_only_locked:
            raise ReadOnlyError("read-only was set by --read-only or the config file; restart without it to dispatch")
        self._read_only = value

    def open_journal(self, targets: Sequence[Target]):
        from .journal import Journal  # not imported by `run --no-journal`

        tokens = [t.bearer_token for t in targets if t.bearer_token]
        return Journal(self.journal_dir, redact=tokens, background=True)

    def start(
        self,
        targets: Sequence[Target],
        commands: Sequence[Command],
        options: DispatchOptions,
        *,
        confirmed: bool = False,
    ) -> DispatchRun:
        """Check and journal a dispatch; nothing is sent until the returned run is iterated.

        Safe to call from a worker thread; once the service is shutting down it refuses, and a run
        whose preparation the shutdown waited for comes back already closed as cancelled."""
        with self._prepared:
            if self._stopping is not None:
                raise ReadOnlyError(f"dispatch refused: the console is stopping ({self._stopping})")
            self._preparing += 1
        try:
            run = self._start(targets, commands, options, confirmed)
        finally:
            with self._prepared:
                self._preparing -= 1
                stopping = self._stopping
                self._prepared.notify_all()
        if stopping is not None:
            run.close_unstarted(stopping)
        return run

    def _start(self, targets: Sequence[Target], commands: Sequence[Command], options: DispatchOptions,
               confirmed: bool) -> DispatchRun:
        if self._read_only:
            raise ReadOnlyError("dispatch refused: the console is read-only")
        if not targets:
            raise DispatchInputError("no target selected: pick one or more connections first")
        if not commands:
            raise DispatchInputError("nothing to run: write one command per line in the editor")
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise DispatchInputError("the same target is selected twice")
        if len(targets) > self.confirm_threshold and not confirmed:
            raise ConfirmationRequired(len(targets), self.confirm_threshold)
        check_sendable(commands, targets)
        journal, dispatch_id, journal_error = None, None, None
        if self.journal_enabled:
            try:
                journal = self.open_journal(targets)
                dispatch_id = journal.start(list(targets), list(commands), options=options.journal_options())
            except OSError as exc:
                journal, journal_error = None, f"journal disabled for this dispatch: {exc}"
        run = DispatchRun(
            targets=list(targets),
            commands=list(commands),
            options=options,
            journal=journal,
            dispatch_id=dispatch_id,
            concurrency=self.concurrency,
            sent_events=self.sent_events,
            journal_error=journal_error,
            on_done=self._active.discard,
        )
        self._active.add(run)
        return run

    def history(self, since_days: int = 7):
        """Past dispatches from the journal, newest first, with warnings about damaged lines."""
        from .journal import Journal

        return Journal(self.journal_dir).read_dispatches(since_days=since_days)


REMSVC_CONN_TYPES = ("remsvc", "grpc")


class TargetLookupError(Exception):
    """A connection id or glob that cannot be turned into targets; ``str()`` is one line."""


@dataclass(frozen=True)
class KnownTarget:
    """A target the picker can offer, with where it came from and what looks wrong with it."""

    target: Target
    source: str
    warnings: tuple[str, ...] = ()


class TargetCatalog:
    """Airflow connections (environment and connections file, the metadata DB on request) plus
    session-only targets such as DEMO."""

    def __init__(
        self, *, connections_file: Path | None = None, env: Mapping[str, str] | None = None, extra: Sequence[Target] = (),
        airflow_python: str | None = None,
    ):
        self.connections_file = connections_file
        self.env = env
        self.extra = [KnownTarget(t, "this session", ()) for t in extra]
        self.airflow_python = airflow_python

    @staticmethod
    def _known(conn) -> KnownTarget:
        return KnownTarget(conn.target, conn.source, tuple(w.message for w in conn.warnings))

    def scan(self) -> tuple[list[KnownTarget], list[str]]:
        """Everything selectable, and one line per connection that could not be read."""
        from .airflow.conn_model import ConnectionLookupError
        from .airflow.conn_sources import scan_connections

        try:
            scan = scan_connections(env=self.env, connections_file=self.connections_file, conn_types=REMSVC_CONN_TYPES)
        except ConnectionLookupError as exc:
            return list(self.extra), [str(exc)]
        return self._with_extra(scan.connections), [str(e) for e in scan.errors]

    def scan_with_airflow(self) -> tuple[list[KnownTarget], list[str]]:
        """``scan`` plus the metadata DB's RemSvc connections, each resolved by Airflow in its own order.

        Starts one Airflow child (seconds): call it off the event loop. Problems (Airflow not found
        or off, the DB not listable, an id Airflow refused, what stays unlisted) are one line each;
        the connections the console reads itself are still returned when Airflow cannot answer.
        """
        from .airflow.conn_model import ConnectionLookupError
        from .airflow.conn_sources import DB_UNLISTED, TEAM_UNLISTED, scan_with_airflow

        try:
            scan, problems = scan_with_airflow(env=self.env, connections_file=self.connections_file,
                                               airflow_python=self.airflow_python)
        except ConnectionLookupError as exc:
            return list(self.extra), [str(exc)]
        remsvc = [c for c in scan.connections if c.conn_type in REMSVC_CONN_TYPES]
        unlisted = [f"not listed: {u}" if u.startswith(TEAM_UNLISTED) else f"not listed: {u} (cannot be enumerated)"
                    for u in scan.unlisted if u != DB_UNLISTED]
        return self._with_extra(remsvc), [str(e) for e in scan.errors] + problems + unlisted

    def _with_extra(self, connections) -> list[KnownTarget]:
        """Session targets first; a connection with the same name as one of them is left out."""
        taken = {k.target.name for k in self.extra}
        return list(self.extra) + [self._known(c) for c in connections if c.conn_id not in taken]

    def resolve(self, patterns: Sequence[str]) -> list[KnownTarget]:
        """Ids and globs in order, without duplicates; raise TargetLookupError naming what failed."""
        from .airflow.conn_model import ConnectionLookupError, ConnectionNotFound
        from .airflow.conn_sources import is_glob, match_connections

        chosen: dict[str, KnownTarget] = {}
        for pattern in patterns:
            glob = is_glob(pattern)
            local = [k for k in self.extra if fnmatch.fnmatchcase(k.target.name, pattern)]
            for k in local:
                chosen.setdefault(k.target.name, k)
            if local and not glob:
                continue
            try:
                found = match_connections([pattern], env=self.env, connections_file=self.connections_file,
                                          conn_types=REMSVC_CONN_TYPES if glob else None)
            except ConnectionNotFound as exc:
                if local:
                    continue
                raise TargetLookupError(str(exc)) from None
            except ConnectionLookupError as exc:
                raise TargetLookupError(str(exc)) from None
            for conn in found:
                chosen.setdefault(conn.conn_id, self._known(conn))
        return list(chosen.values())


@dataclass(frozen=True)
class StatusProbe:
    """One Ping + GetStatus of a target, for the status line."""

    target: str
    latency_ms: float | None
    status: str | None
    error: str | None


def _short_cause(message: str) -> str:
    """``name (address): cause`` -> ``cause``; the status line already names the target."""
    _, sep, cause = message.partition("): ")
    return cause if sep else message


def format_server_status(rc: int, msg: str, uptime_s: float | None, commands: int | None) -> str:
    if rc != 0:
        return f"status rc {rc}: {msg}"
    parts = []
    if uptime_s is not None:
        parts.append(f"uptime {int(uptime_s)}s")
    if commands is not None:
        parts.append(f"{commands} cmds")
    return " · ".join(parts) or msg


async def probe_status(target: Target, *, timeout: float = 3.0) -> StatusProbe:
    """GetStatus, then Ping on the open channel so the latency is the round trip, not the connect.

    A failure is a result with ``error`` set, never an exception.
    """
    from .remsvc.client import RemSvcClient
    from .remsvc.errors import RemSvcError

    async with RemSvcClient(target, connect_timeout=timeout) as client:
        try:
            status = await client.get_status(timeout=timeout)
            latency = await client.ping(timeout=timeout)
        except RemSvcError as err:
            return StatusProbe(target.name, None, None, _short_cause(str(err)))
    text = format_server_status(status.rc, status.msg, status.uptime_s, status.commands)
    return StatusProbe(target.name, latency * 1000.0, text, None)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(*parts: object) -> str:
    """A file name from target names and ids that may hold anything."""
    return "-".join(_UNSAFE_NAME.sub("_", str(p)).strip("_") or "x" for p in parts)


def write_private(directory: Path, name: str, data: str) -> Path:
    """Write a new 0600 file under ``directory`` (made 0700); never overwrite, add a counter instead."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem, dot, suffix = name.partition(".")
    for attempt in range(1000):
        candidate = directory / (name if attempt == 0 else f"{stem}-{attempt}{dot}{suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)
        return candidate
    raise OSError(f"too many files named {name} in {directory}")


def save_result(result: CommandResult, directory: Path, stem: str) -> list[Path]:
    """The full stdout (and stderr when there is any) of one result, exactly as received."""
    paths = [write_private(directory, f"{stem}.stdout.txt", result.out)]
    if result.err:
        paths.append(write_private(directory, f"{stem}.stderr.txt", result.err))
    return paths


def export_json(payload: dict, directory: Path, stem: str) -> Path:
    """A dispatch in the ``run --json`` shape, as a file."""
    return write_private(directory, f"{stem}.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def record_json(record) -> dict:
    """A journalled dispatch in the ``run --json`` shape (one target, or ``{"targets": {...}}``)."""
    names = record.target_names
    if len(names) == 1:
        return record.to_xcom(names[0])
    return {"targets": {name: record.to_xcom(name) for name in names}}


def record_options(record) -> DispatchOptions:
    """The options a journalled dispatch ran with, for putting it back in the editor."""
    opts = record.options or {}
    first = record.commands[0] if record.commands else Command("")
    timeout = opts.get("timeout")
    return DispatchOptions(
        cmdtyp=int(opts.get("cmdtyp", first.cmdtyp) or 0),
        cmdusr=str(opts.get("cmdusr", first.cmdusr) or ""),
        src=str(opts.get("src", first.src) or ""),
        timeout=float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else None,
    )
