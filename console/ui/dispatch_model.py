"""What the Dispatch pane shows for one dispatch, kept apart from the widgets that draw it.

Rows are (target, tid) in target order, then tid order. Events are applied as they arrive; each
row's timings are stamped with the pane's clock when the event reaches the UI, so a frozen clock
gives a frozen screen. Counts are kept incrementally: a 10,000-row dispatch never rescans its rows
to draw the summary line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from console.remsvc.model import (
    CmdState,
    Command,
    CommandResult,
    DispatchEvent,
    ProtocolViolation,
    StreamFinished,
    StreamStatus,
    StreamTracker,
    Target,
)
from console.safetext import first_line, inert

RowKey = tuple[str, int]

# How bad a stream's end is, most severe first: a target that never answered outranks one that
# answered with a non-zero rc, because every command on it is unknown.
STREAM_SEVERITY = {
    StreamStatus.UNAVAILABLE: 0,
    StreamStatus.UNAUTHENTICATED: 1,
    StreamStatus.HASH_REJECTED: 2,
    StreamStatus.DENIED: 3,
    StreamStatus.NOT_RESPONDING: 4,
    StreamStatus.DEADLINE_EXCEEDED: 4,
    StreamStatus.PROTOCOL_ERROR: 5,
    StreamStatus.CLOSED_EARLY: 5,
    StreamStatus.ERROR: 6,
    StreamStatus.CANCELLED: 8,
}
STREAM_LABELS = {
    StreamStatus.UNAVAILABLE: "unreachable",
    StreamStatus.UNAUTHENTICATED: "auth failed",
    StreamStatus.HASH_REJECTED: "hash rejected",
    StreamStatus.DENIED: "denied",
    StreamStatus.NOT_RESPONDING: "not responding",
    StreamStatus.DEADLINE_EXCEEDED: "deadline passed",
    StreamStatus.PROTOCOL_ERROR: "protocol error",
    StreamStatus.CLOSED_EARLY: "closed early",
    StreamStatus.ERROR: "stream error",
    StreamStatus.CANCELLED: "cancelled",
}
RC_SEVERITY = 7
# Violations kept per dispatch for display; more are counted, not kept (the journal has them all).
VIOLATIONS_KEPT = 100
# The summary wraps to two lines at most; a reason this long still leaves the counts on screen at 80.
REASON_LIMIT = 90


def not_utf8(result: CommandResult) -> bool:
    """Output that was not valid UTF-8: flagged by the client, or already replaced by the server
    (U+FFFD in the text), which is what the embedded server does before sending."""
    return result.invalid_utf8 or "\ufffd" in result.out or "\ufffd" in result.err


@dataclass(frozen=True)
class RowView:
    """One results-table row, ready to draw: every text field is already inert."""

    target: str
    tid: int
    cmd: str
    state: CmdState
    rc: int | None
    seconds: float | None
    truncated: bool
    invalid_utf8: bool
    summary: str
    protocol_error: bool = False


class RowKeys(Sequence):
    """The (target, tid) of every row, computed from the index: a 10,000-row dispatch builds no
    list of keys when it starts, so pressing run does not stall the screen."""

    def __init__(self, names: Sequence[str], per_target: int):
        self._names = list(names)
        self._per = per_target
        self._position = {name: i for i, name in enumerate(self._names)}

    def __len__(self) -> int:
        return len(self._names) * self._per

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        target, tid = divmod(index, self._per)
        return self._names[target], tid + 1

    def __iter__(self) -> Iterator[RowKey]:
        for name in self._names:
            for tid in range(1, self._per + 1):
                yield name, tid

    def index_of(self, key: RowKey) -> int | None:
        position = self._position.get(key[0])
        if position is None or not isinstance(key[1], int) or not 1 <= key[1] <= self._per:
            return None
        return position * self._per + key[1] - 1


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


class DispatchModel:
    """Per-row state of one dispatch, folded from its events."""

    def __init__(self, targets: Sequence[Target], commands: Sequence[Command], started_at: float, dispatch_id: str | None = None):
        self.targets = list(targets)
        self.commands = list(commands)
        self.dispatch_id = dispatch_id
        self.started_at = started_at
        self.finished_at: float | None = None
        self.state = "RUNNING"
        self.error: str | None = None
        self.trackers = {t.name: StreamTracker(t.name, self.commands) for t in self.targets}
        self.finished: dict[str, StreamFinished] = {}
        self.rows = RowKeys([t.name for t in self.targets], len(self.commands))
        self._running_since: dict[RowKey, float] = {}
        self._durations: dict[RowKey, float] = {}
        # Only rows that left QUEUED are stored; the rest are QUEUED by default.
        self._states: dict[RowKey, CmdState] = {}
        self.counts: Counter[CmdState] = Counter({CmdState.QUEUED: len(self.rows)})
        self.last_active: int | None = None
        self._first_lines: dict[RowKey, str] = {}
        self._first_failed: dict[str, int] = {}
        # Replies that broke the stream's contract: never results, but shown (summary, row, output).
        self.violations: list[ProtocolViolation] = []
        self.violation_count = 0
        self._row_violations: dict[RowKey, str] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def index_of(self, key: RowKey) -> int | None:
        return self.rows.index_of(key)

    def apply(self, event: DispatchEvent, now: float) -> list[int]:
        """Fold one event in; return the row indexes whose display changed."""
        tracker = self.trackers.get(event.target)
        if tracker is None:
            return []
        if isinstance(event, ProtocolViolation):
            return self._violation(event)
        if isinstance(event, StreamFinished):
            self.finished[event.target] = event
        changed_tids = tracker.apply(event)
        if isinstance(event, CommandResult) and event.rc != 0:
            known = self._first_failed.get(event.target)
            if known is None or event.tid < known:
                self._first_failed[event.target] = event.tid
        rows = []
        for tid in changed_tids:
            key = (event.target, tid)
            row = tracker.tids[tid]
            previous = self._states.get(key, CmdState.QUEUED)
            if previous is not row.state:
                self.counts[previous] -= 1
                self.counts[row.state] += 1
                self._states[key] = row.state
            if row.state is CmdState.RUNNING and key not in self._running_since:
                self._running_since[key] = now
            elif row.state.final and key not in self._durations:
                began = self._running_since.get(key)
                if isinstance(event, CommandResult) and event.tid == tid and event.elapsed_s is not None:
                    self._durations[key] = event.elapsed_s
                elif began is not None and row.result is not None:
                    self._durations[key] = now - began
            index = self.rows.index_of(key)
            rows.append(index)
            if row.state in (CmdState.RUNNING, CmdState.DONE, CmdState.FAILED):
                self.last_active = index if self.last_active is None else max(self.last_active, index)
        return rows

    def _violation(self, event: ProtocolViolation) -> list[int]:
        """Keep the problem; a reply naming a tid that was sent (a second answer) marks that row."""
        self.violation_count += 1
        if len(self.violations) < VIOLATIONS_KEPT:
            self.violations.append(event)
        if event.tid is None:
            return []
        index = self.rows.index_of((event.target, event.tid))
        if index is None:
            return []
        self._row_violations.setdefault((event.target, event.tid), first_line(event.problem, 200))
        return [index]

    def protocol_note(self, key: RowKey) -> str:
        """Why this row's stream broke its contract about it (e.g. a second answer), or ""."""
        problem = self._row_violations.get(key)
        return f"protocol error: {problem}" if problem else ""

    def protocol_line(self) -> str | None:
        """One line naming the first protocol error and how many there were, or None."""
        if not self.violation_count:
            return None
        first = self.violations[0]
        who = f"{inert(first.target, keep_newlines=False)} " if len(self.targets) > 1 else ""
        more = f" ({self.violation_count - 1} more)" if self.violation_count > 1 else ""
        return f"{who}protocol error: {first_line(first.problem, 120)}{more}"

    def apply_all(self, stamped: Iterable[tuple[float, DispatchEvent]]) -> set[int]:
        changed: set[int] = set()
        for now, event in stamped:
            changed.update(self.apply(event, now))
        return changed

    def finish(self, state: str, error: str | None, now: float) -> None:
        self.state = state
        self.error = error
        self.finished_at = now

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def row(self, index: int, now: float) -> RowView:
        target, tid = self.rows[index]
        tracked = self.trackers[target].tids[tid]
        result = tracked.result
        key = (target, tid)
        if tracked.state is CmdState.RUNNING:
            began = self._running_since.get(key)
            seconds = None if began is None else max(0.0, now - began)
        else:
            seconds = self._durations.get(key)
        return RowView(
            target=target,
            tid=tid,
            cmd=inert(tracked.cmd, keep_newlines=False),
            state=tracked.state,
            rc=None if result is None else result.rc,
            seconds=seconds,
            truncated=bool(result and (result.out_truncated or result.err_truncated)),
            invalid_utf8=bool(result and not_utf8(result)),
            summary=self._summary_text(tracked.state, result, target),
            protocol_error=key in self._row_violations,
        )

    def _summary_text(self, state: CmdState, result: CommandResult | None, target: str) -> str:
        if result is not None:
            key = (target, result.tid)
            text = self._first_lines.get(key)
            if text is None:
                text = self._first_lines[key] = first_line(result.out) or first_line(result.err)
            return text
        if state in (CmdState.DENIED, CmdState.MISSING, CmdState.CANCELLED):
            finished = self.finished.get(target)
            if state is CmdState.DENIED:
                return "never ran: the stream was denied"
            if finished is not None and finished.error:
                return first_line(finished.error)
        return ""

    def result(self, key: RowKey) -> CommandResult | None:
        tracker = self.trackers.get(key[0])
        tracked = tracker.tids.get(key[1]) if tracker is not None else None
        return tracked.result if tracked is not None else None

    def running_rows(self) -> list[int]:
        """Rows running now: at most one per target, since a server runs a stream's commands in order."""
        rows = []
        for name, tracker in self.trackers.items():
            tid = tracker.running_tid()
            if tid is not None:
                rows.append(self.rows.index_of((name, tid)))
        return rows

    def state_of(self, key: RowKey) -> CmdState:
        return self._states.get(key, CmdState.QUEUED)

    def elapsed(self, now: float) -> float:
        return (self.finished_at if self.finished_at is not None else now) - self.started_at

    def reason(self) -> str | None:
        """The most severe problem so far, naming its target: a refused connection before an rc 3."""
        worst: tuple[int, str] | None = None
        multi = len(self.targets) > 1
        for name, tracker in self.trackers.items():
            who = f"{inert(name, keep_newlines=False)} " if multi else ""
            finished = self.finished.get(name)
            named_by_violations = finished is not None and finished.status is StreamStatus.PROTOCOL_ERROR and self.violation_count
            if finished is not None and finished.status in STREAM_SEVERITY and not named_by_violations:
                detail = first_line(finished.error or "", 120)
                text = f"{who}{STREAM_LABELS[finished.status]}" + (f": {detail}" if detail else "")
                candidate = (STREAM_SEVERITY[finished.status], text)
                if worst is None or candidate[0] < worst[0]:
                    worst = candidate
            if worst is not None and worst[0] < RC_SEVERITY:
                continue
            tid = self._first_failed.get(name)
            result = tracker.tids[tid].result if tid is not None else None
            if result is not None and (worst is None or RC_SEVERITY < worst[0]):
                detail = first_line(result.err, 120) or first_line(result.out, 120)
                worst = (RC_SEVERITY, f"{who}tid {tid} rc {result.rc}" + (f": {detail}" if detail else ""))
        # A stream that ended on a protocol error names it itself; while it runs, the first
        # violation outranks a non-zero rc.
        if worst is not None and worst[0] <= STREAM_SEVERITY[StreamStatus.PROTOCOL_ERROR]:
            return worst[1]
        protocol = self.protocol_line()
        if protocol is not None:
            return protocol
        if worst is not None:
            return worst[1]
        return first_line(self.error, 120) if self.error and not self.running else None

    def summary(self, now: float) -> str:
        """State and its reason first (they must fit at 80 columns), then counts and elapsed time."""
        order = (
            CmdState.DONE, CmdState.FAILED, CmdState.RUNNING, CmdState.SENT, CmdState.QUEUED,
            CmdState.DENIED, CmdState.MISSING, CmdState.CANCELLED,
        )
        parts = [f"{state.value} {self.counts[state]}" for state in order if self.counts[state]]
        pending = self.counts[CmdState.QUEUED] + self.counts[CmdState.SENT] + self.counts[CmdState.RUNNING]
        head = f"running ({pending} pending)" if self.running else self.state
        reason = self.reason() if self.state != "SUCCESS" else None
        if reason and len(reason) > REASON_LIMIT:
            reason = reason[: REASON_LIMIT - 1] + "…"
        line = f"{head}: {reason}" if reason else head
        if self.violation_count:
            parts.append(f"protocol errors {self.violation_count}")
        line += f" · {' · '.join(parts)} · {format_seconds(self.elapsed(now))}"
        if len(self.targets) > 1:
            line += f" · {len(self.targets)} targets"
        return line
