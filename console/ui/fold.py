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


@dataclass
class Variant:
    """Targets that gave the same outcome for one tid."""

    category: str
    rc: int | None
    targets: list[str] = field(default_factory=list)
    sample: str = ""

    def label(self) -> str:
        return f"rc {self.rc}" if self.category == EXIT else self.category


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
) -> list[TidGroup]:
    """One group per tid; variants ordered largest first, targets in dispatch order."""
    groups = []
    for tid, command in enumerate(commands, start=1):
        variants: dict[tuple, Variant] = {}
        for name in target_order:
            tracked = trackers[name].tids[tid]
            result = tracked.result
            if result is not None:
                timed_out = result.rc != 0 and result.err.strip() == SERVER_TIMEOUT_ERR
                category = TIMED_OUT if timed_out else EXIT
                key: tuple = (category, result.rc, _digest(result.out, result.err))
                sample = first_line(result.out) or first_line(result.err)
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
        ordered = sorted(variants.values(), key=lambda v: (-len(v.targets), v.category != EXIT))
        groups.append(TidGroup(tid, command.cmd, ordered))
    return groups


def name_list(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(inert(n, keep_newlines=False) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def describe_group(group: TidGroup) -> list[str]:
    """Plain lines for one tid: a headline, then one line per variant that differs from the majority."""
    count = group.total
    noun = "target" if count == 1 else "targets"
    if group.identical:
        only = group.variants[0]
        what = "identical output" if only.category == EXIT else "all the same"
        if count == 1:
            what = only.sample or "no output"
        return [f"tid {group.tid} · {count} {noun} · {only.label()} · {what}"]
    lines = [f"tid {group.tid} · {count} {noun} · {len(group.variants)} different outcomes"]
    for variant in group.variants:
        n = len(variant.targets)
        detail = f": {variant.sample}" if variant.sample else ""
        lines.append(f"  {n:>4} × {variant.label()}{detail} — {name_list(variant.targets)}")
    return lines
