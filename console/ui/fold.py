"""Fan-out folding: for each tid, gather targets whose results are identical (clubak-style).

An operator dispatching to 40 servers wants "tid 2 · 38 targets · rc 0 · identical output" and the
two that differ, with "timed out" and "unreachable" kept apart from a non-zero exit code: they call
for different fixes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from console.remsvc.model import (
    CmdState,
    Command,
    StreamFinished,
    StreamStatus,
    StreamTracker,
)
from console.safetext import first_line, inert

SERVER_TIMEOUT_ERR = "process timed out"

EXIT = "exit"
TIMED_OUT = "timed out"
UNREACHABLE = "unreachable"
AUTH_FAILED = "auth failed"
DENIED = "denied"
NO_ANSWER = "no answer"
CANCELLED = "cancelled"
PENDING = "pending"
SEVERITY = {UNREACHABLE: 0, AUTH_FAILED: 1, DENIED: 2, TIMED_OUT: 3, NO_ANSWER: 4, CANCELLED: 70, PENDING: 80}


@dataclass
class Variant:
    """Targets that gave the same outcome for one tid."""

    category: str
    rc: int | None
    targets: list[str] = field(default_factory=list)
    sample: str = ""

    def label(self) -> str:
        return f"rc {self.rc}" if self.category == EXIT else self.category

    @property
    def ok(self) -> bool:
        return self.category == EXIT and self.rc == 0

    @property
    def severity(self) -> int:
        """Lower is worse: what cannot be reached outranks what answered badly; rc 0 comes last."""
        if self.category == EXIT:
            return 90 if self.rc == 0 else 50
        return SEVERITY.get(self.category, 60)


@dataclass
class TidGroup:
    tid: int
    cmd: str
    variants: list[Variant]

    @property
    def total(self) -> int:
        return sum(len(v.targets) for v in self.variants)

    @property
    def identical(self) -> bool:
        return len(self.variants) == 1

    @property
    def problems(self) -> list[Variant]:
        return [v for v in self.variants if not v.ok and v.category != PENDING]


def _stream_category(finished: StreamFinished | None, state: CmdState) -> str:
    if finished is None:
        return PENDING if not state.final else NO_ANSWER
    status = finished.status
    if status is StreamStatus.DEADLINE_EXCEEDED:
        return TIMED_OUT
    if status is StreamStatus.UNAVAILABLE:
        return UNREACHABLE
    if status is StreamStatus.UNAUTHENTICATED:
        return AUTH_FAILED
    if status is StreamStatus.DENIED:
        return DENIED
    if status is StreamStatus.CANCELLED:
        return CANCELLED
    return NO_ANSWER


def _digest(out: str, err: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(out.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(err.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def fold_by_tid(
    trackers: Mapping[str, StreamTracker],
    finished: Mapping[str, StreamFinished],
    commands: Sequence[Command],
    target_order: Sequence[str],
    cache: dict | None = None,
) -> list[TidGroup]:
    """One group per tid; problem variants first (worst first), then the rest largest first.

    ``cache`` (kept by the caller for one dispatch) holds each answer's digest and first line, so
    refolding on every refresh does not hash every output again.
    """
    cache = {} if cache is None else cache
    groups = []
    for tid, command in enumerate(commands, start=1):
        variants: dict[tuple, Variant] = {}
        for name in target_order:
            tracked = trackers[name].tids[tid]
            result = tracked.result
            if result is not None:
                timed_out = result.rc != 0 and result.err.strip() == SERVER_TIMEOUT_ERR
                category = TIMED_OUT if timed_out else EXIT
                known = cache.get((name, tid))
                if known is None or known[0] is not result:
                    known = cache[(name, tid)] = (result, _digest(result.out, result.err),
                                                  first_line(result.out) or first_line(result.err))
                key: tuple = (category, result.rc, known[1])
                sample = known[2]
                rc: int | None = result.rc
            elif tracked.state.final:
                category = _stream_category(finished.get(name), tracked.state)
                key, sample, rc = (category,), "", None
            else:
                category = PENDING
                key, sample, rc = (category,), "", None
            variant = variants.get(key)
            if variant is None:
                variant = variants[key] = Variant(category, rc, sample=sample)
            variant.targets.append(name)
        ordered = sorted(variants.values(), key=lambda v: (v.severity, -len(v.targets)))
        groups.append(TidGroup(tid, command.cmd, ordered))
    return groups


def name_list(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(inert(n, keep_newlines=False) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def headline(group: TidGroup, limit: int = 3) -> str:
    """One line a folded group is read by: tid, command, then who failed and how (worst first)."""
    cmd = inert(group.cmd, keep_newlines=False)
    count = group.total
    if group.identical:
        only = group.variants[0]
        if count == 1:
            what = f"{only.label()}" + (f": {only.sample}" if only.sample else "")
        else:
            what = f"all {count} {only.label()}" + (" · identical output" if only.category == EXIT else "")
        if not only.ok and only.category != PENDING:
            what += f" · {name_list(only.targets, limit)}"
        return f"tid {group.tid} · {cmd} · {what}"
    parts = [f"{v.label()}: {name_list(v.targets, limit)}" for v in group.problems]
    ok = [v for v in group.variants if v.ok]
    if ok:
        outputs = f" ({len(ok)} different outputs)" if len(ok) > 1 else ""
        parts.append(f"{sum(len(v.targets) for v in ok)} rc 0{outputs}")
    pending = sum(len(v.targets) for v in group.variants if v.category == PENDING)
    if pending:
        parts.append(f"{pending} pending")
    return f"tid {group.tid} · {cmd} · " + " · ".join(parts)


def variant_line(variant: Variant) -> str:
    n = len(variant.targets)
    detail = f": {variant.sample}" if variant.sample else ""
    return f"{n:>4} × {variant.label()}{detail} — {name_list(variant.targets)}"


def describe_group(group: TidGroup) -> list[str]:
    """Plain lines for one tid: its headline, then one line per variant when they differ."""
    if group.identical:
        return [headline(group)]
    return [headline(group), *(variant_line(v) for v in group.variants)]
