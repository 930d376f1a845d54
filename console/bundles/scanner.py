"""Walk the roots the way Airflow's coordinator does and classify every file, hashing on all cores.

Order matters: the coordinator runs the first matching bundle its depth-first walk meets, following
each directory's listing order, so the walk here mirrors it exactly (roots in order, entries in
``listdir`` order, symlinks followed, directories visited once by ``(st_dev, st_ino)`` so a symlink
loop cannot recurse forever). Files are classified on a thread pool: hashlib releases the GIL on large
buffers, so two workers hash two bundles at once.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from .digest_cache import DigestCache, file_key
from .model import BundleReport, RootInfo, ScanCancelled, ScanProgress, ScanResult
from .reader import METADATA_CAP, read_path, scan_error, stat_failure
from .roots import RootSpec
from .schema_versions import SchemaVersions

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

OnProgress = Callable[[ScanProgress], None]
PROGRESS_BYTES = 8 << 20
INLINE_BYTES = 256 << 10


class Scanner:
    """Scans a fixed list of roots; reusable, so a rescan reuses the digest cache and schema resolver."""

    def __init__(
        self,
        roots: Sequence[RootSpec | str | os.PathLike[str]],
        *,
        versions: SchemaVersions | None = None,
        digests: DigestCache | None = None,
        workers: int | None = None,
        metadata_cap: int = METADATA_CAP,
    ) -> None:
        self.roots = [r if isinstance(r, RootSpec) else RootSpec(os.fspath(r), "argument") for r in roots]
        self.versions = versions or SchemaVersions()
        self.digests = digests
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.metadata_cap = metadata_cap

    def walk(self, walk_errors: list[str] | None = None) -> Iterator[tuple[str, str, os.stat_result | OSError]]:
        """Yield ``(path, root, stat-or-error)`` for every regular file (or stat failure) in coordinator order."""
        seen: set[tuple[int, int]] = set()
        stack: list[Iterator[str]] = []
        for spec in self.roots:
            root = os.path.abspath(spec.path)
            stack.append(iter([root]))
            while stack:
                item = next(stack[-1], None)
                if item is None:
                    stack.pop()
                    continue
                try:
                    st = os.stat(item)
                except OSError as exc:
                    if item != root:
                        yield item, root, exc
                    continue
                if stat.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                    try:
                        names = os.listdir(item)
                    except OSError as exc:
                        if walk_errors is not None:
                            walk_errors.append(f"cannot list {item}: {exc.strerror or exc}")
                        continue
                    stack.append(iter([os.path.join(item, name) for name in names]))
                elif stat.S_ISREG(st.st_mode):
                    yield item, root, st

    def root_infos(self) -> list[RootInfo]:
        infos = []
        for spec in self.roots:
            path = os.path.abspath(spec.path)
            try:
                st = os.stat(path)
            except OSError as exc:
                error = "does not exist" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
                infos.append(RootInfo(path, spec.origin, exists=False, error=error))
                continue
            if stat.S_ISDIR(st.st_mode) and not os.access(path, os.R_OK | os.X_OK):
                infos.append(RootInfo(path, spec.origin, exists=True, error="permission denied"))
            elif not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                infos.append(RootInfo(path, spec.origin, exists=True, error=f"is a {_kind(st.st_mode)}, not a directory or regular file"))
            else:
                infos.append(RootInfo(path, spec.origin))
        return infos

    def scan(
        self,
        *,
        on_progress: OnProgress | None = None,
        cancel: threading.Event | None = None,
        progress_interval: float = 0.05,
    ) -> ScanResult:
        """Classify every file under the roots; ``on_progress`` is called from worker threads, serialised."""
        started = time.perf_counter()
        tracker = _Progress(on_progress, progress_interval, cancel)
        result = ScanResult(roots=self.root_infos(), bundles=[])
        slots: list[BundleReport | Future[BundleReport]] = []
        where: list[tuple[str, str]] = []
        pool: ThreadPoolExecutor | None = None  # started at the first file to hash: a warm scan needs none
        try:
            for path, root, st in self.walk(result.walk_errors):
                if cancel is not None and cancel.is_set():
                    break
                tracker.found()
                where.append((path, root))
                if isinstance(st, OSError):
                    slots.append(stat_failure(path, root, st))
                    tracker.done(path)
                elif self._cheap(path, st):
                    try:
                        slots.append(self._classify(path, root, st, tracker))
                    except ScanCancelled:
                        where.pop()
                        break
                else:
                    if pool is None:
                        from concurrent.futures import ThreadPoolExecutor

                        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bundle-scan")
                    slots.append(pool.submit(self._classify, path, root, st, tracker))
            tracker.walk_finished()
            for slot, (path, root) in zip(slots, where):
                if not isinstance(slot, BundleReport):
                    slot = self._collect(slot, path, root, cancel)
                    if slot is None:
                        continue
                result.bundles.append(slot)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        result.cancelled = bool(cancel is not None and cancel.is_set())
        result.bytes_hashed = tracker.bytes_hashed
        result.cache_hits = sum(1 for r in result.bundles if r.digest_cached)
        result.reports_cached = sum(1 for r in result.bundles if r.report_cached)
        result.elapsed_s = time.perf_counter() - started
        tracker.final()
        return result

    async def scan_async(
        self,
        *,
        on_progress: OnProgress | None = None,
        cancel: threading.Event | None = None,
        progress_interval: float = 0.05,
    ) -> ScanResult:
        """``scan`` in a thread, so an event loop (the UI's) stays responsive while gigabytes are hashed."""
        import asyncio  # only the UI awaits scans; the command line never loads asyncio

        return await asyncio.to_thread(
            self.scan, on_progress=on_progress, cancel=cancel, progress_interval=progress_interval
        )

    @staticmethod
    def _collect(future: Future[BundleReport], path: str, root: str, cancel: threading.Event | None) -> BundleReport | None:
        """A worker's report; None when the scan was cancelled before it finished."""
        from concurrent.futures import CancelledError

        if cancel is not None and cancel.is_set():
            future.cancel()
        try:
            return future.result()
        except (ScanCancelled, CancelledError):  # a cancelled scan is marked so by the caller
            return None
        except Exception as exc:  # no file drops out of a scan: the error is its report
            return scan_error(path, root, exc)

    def _cheap(self, path: str, st: os.stat_result) -> bool:
        """Small or already-verified files cost less than a hand-off to a thread; only hashing pays for one."""
        if st.st_size < INLINE_BYTES:
            return True
        return self.digests is not None and self.digests.knows(file_key(os.path.abspath(path), st))

    def _classify(self, path: str, root: str, st: os.stat_result, tracker: _Progress) -> BundleReport:
        tracker.current = path
        report = read_path(
            path,
            root=root,
            path_stat=st,
            versions=self.versions,
            digests=self.digests,
            metadata_cap=self.metadata_cap,
            on_hashed=tracker.hashed,
        ).report
        tracker.done(path)
        return report


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


class _Progress:
    """Thread-safe counters, throttled into ``ScanProgress`` snapshots for the caller."""

    def __init__(self, callback: OnProgress | None, interval: float, cancel: threading.Event | None) -> None:
        self.callback = callback
        self.interval = interval
        self.cancel = cancel
        self.files_found = 0
        self.files_done = 0
        self.bytes_hashed = 0
        self.walking = True
        self.current: str | None = None
        self._unreported = 0
        self._last = 0.0
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()

    def found(self) -> None:
        with self._lock:
            self.files_found += 1
        self._maybe_emit()

    def hashed(self, n: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ScanCancelled
        with self._lock:
            self.bytes_hashed += n
            self._unreported += n
            due = self._unreported >= PROGRESS_BYTES
            if due:
                self._unreported = 0
        self._maybe_emit(force=due)

    def done(self, path: str) -> None:
        with self._lock:
            self.files_done += 1
        self._maybe_emit(current=path)

    def walk_finished(self) -> None:
        self.walking = False
        self._maybe_emit(force=True)

    def final(self) -> None:
        self._maybe_emit(force=True)

    def _maybe_emit(self, *, force: bool = False, current: str | None = None) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        with self._emit_lock:
            self._last = now
            with self._lock:
                snapshot = ScanProgress(
                    files_found=self.files_found,
                    files_done=self.files_done,
                    bytes_hashed=self.bytes_hashed,
                    walking=self.walking,
                    current=current or self.current,
                )
            self.callback(snapshot)

