"""Following the roots: rescans compared with the previous one, so redeploys are announced as they happen.

Only files Airflow would look at count (everything except ``not_bundle``/``not_executable``); a
bundle made non-executable therefore shows as removed, which is what it is to the coordinator. A
replaced or rewritten file has a new (device, inode, mtime, ctime, size) identity, so its cache key
changes and the rescan re-verifies it; an unchanged file is answered from the report cache after a
stat, which is what makes polling every few seconds cheap (no filesystem notifications are needed).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .model import BundleReport, ScanResult
from .scanner import OnProgress

if TYPE_CHECKING:
    import asyncio

WATCH_INTERVAL_S = 2.0


@dataclass(frozen=True)
class ScanDiff:
    added: list[BundleReport] = field(default_factory=list)
    replaced: list[tuple[BundleReport, BundleReport]] = field(default_factory=list)
    changed: list[tuple[BundleReport, BundleReport]] = field(default_factory=list)
    removed: list[tuple[BundleReport, BundleReport | None]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.replaced or self.changed or self.removed)


def diff_scans(old: ScanResult, new: ScanResult) -> ScanDiff:
    """Compare two scans path by path; ``removed`` pairs carry the new report when the file still exists."""
    before = {r.path: r for r in old.bundles if not r.status.is_ignored}
    after_all = new.by_path()
    after = {path: r for path, r in after_all.items() if not r.status.is_ignored}
    diff = ScanDiff()
    for path, report in after.items():
        previous = before.get(path)
        if previous is None:
            diff.added.append(report)
        elif previous.identity != report.identity:
            diff.replaced.append((previous, report))
        elif previous.status is not report.status or previous.reason != report.reason:
            diff.changed.append((previous, report))
    for path, previous in before.items():
        if path not in after:
            diff.removed.append((previous, after_all.get(path)))
    return diff


class Scans(Protocol):
    """What a watcher rescans: a ``Scanner`` or a ``BundleService``."""

    def scan(self, *, on_progress: OnProgress | None = None, cancel: threading.Event | None = None) -> ScanResult: ...


class Watcher:
    """Rescans on demand or on an interval, keeping the last result to diff against."""

    def __init__(self, scanner: Scans, previous: ScanResult | None = None) -> None:
        self.scanner = scanner
        self.previous = previous

    def poll(self, *, on_progress: OnProgress | None = None, cancel: threading.Event | None = None) -> tuple[ScanResult, ScanDiff]:
        """Scan once and diff against the previous complete scan (everything is "added" the first time)."""
        result = self.scanner.scan(on_progress=on_progress, cancel=cancel)
        previous = self.previous or ScanResult(roots=result.roots, bundles=[])
        if result.cancelled:
            return result, ScanDiff()
        self.previous = result
        return result, diff_scans(previous, result)

    async def watch(self, interval: float, *, stop: asyncio.Event | None = None) -> AsyncIterator[tuple[ScanResult, ScanDiff]]:
        """Yield ``(result, diff)`` for the first scan and then every ``interval`` seconds until ``stop`` is set."""
        import asyncio

        while stop is None or not stop.is_set():
            yield await asyncio.to_thread(self.poll)
            if stop is None:
                await asyncio.sleep(interval)
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
