"""What the Dispatch pane shows for one dispatch, kept apart from the widgets that draw it.

Rows are (target, tid) in target order, then tid order. Events are applied as they arrive; each
row's timings are stamped with the pane's clock when the event reaches the UI, so a frozen clock
gives a frozen screen. Counts are kept incrementally: a 10,000-row dispatch never rescans its rows
to draw the summary line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.remsvc.model import (
    CmdState,
    Command,
    CommandResult,
    DispatchEvent,
    StreamFinished,
    StreamTracker,
    Target,
)
from console.safetext import first_line, inert

RowKey = tuple[str, int]


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
        self.rows: list[RowKey] = [(t.name, tid) for t in self.targets for tid in range(1, len(self.commands) + 1)]
        self._index = {key: i for i, key in enumerate(self.rows)}
        self._running_since: dict[RowKey, float] = {}
        self._durations: dict[RowKey, float] = {}
        self._states: dict[RowKey, CmdState] = dict.fromkeys(self.rows, CmdState.QUEUED)
        self.counts: Counter[CmdState] = Counter({CmdState.QUEUED: len(self.rows)})
        self.last_active: int | None = None
        self._first_lines: dict[RowKey, str] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def index_of(self, key: RowKey) -> int | None:
        return self._index.get(key)

    def apply(self, event: DispatchEvent, now: float) -> list[int]:
        """Fold one event in; return the row indexes whose display changed."""
        tracker = self.trackers.get(event.target)
        if tracker is None:
            return []
        if isinstance(event, StreamFinished):
            self.finished[event.target] = event
        changed_tids = tracker.apply(event)
        rows = []
        for tid in changed_tids:
            key = (event.target, tid)
            row = tracker.tids[tid]
            previous = self._states[key]
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
            index = self._index[key]
            rows.append(index)
            if row.state in (CmdState.RUNNING, CmdState.DONE, CmdState.FAILED):
                self.last_active = index if self.last_active is None else max(self.last_active, index)
        return rows

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
            invalid_utf8=bool(result and result.invalid_utf8),
            summary=self._summary_text(tracked.state, result, target),
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
                rows.append(self._index[(name, tid)])
        return rows

    def state_of(self, key: RowKey) -> CmdState:
        return self._states[key]

    def elapsed(self, now: float) -> float:
        return (self.finished_at if self.finished_at is not None else now) - self.started_at

    def summary(self, now: float) -> str:
        """One line: overall state, per-state counts, elapsed time and the first error."""
        order = (
            CmdState.DONE, CmdState.FAILED, CmdState.RUNNING, CmdState.SENT, CmdState.QUEUED,
            CmdState.DENIED, CmdState.MISSING, CmdState.CANCELLED,
        )
        parts = [f"{state.value} {self.counts[state]}" for state in order if self.counts[state]]
        pending = self.counts[CmdState.QUEUED] + self.counts[CmdState.SENT] + self.counts[CmdState.RUNNING]
        head = f"running ({pending} pending)" if self.running else self.state
        line = f"{head} · {' · '.join(parts)} · {format_seconds(self.elapsed(now))}"
        if len(self.targets) > 1:
            line += f" · {len(self.targets)} targets"
        if self.error and not self.running:
            line += f" · {first_line(self.error)}"
        return line
