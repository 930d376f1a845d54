"""The one object the Bundles pane and the ``bundles`` subcommand talk to.

It owns the roots, the schema-version resolver and the digest/report cache (persistent unless turned
off, in memory always, so a rescan never re-hashes an unchanged file), keeps the last scan for
resolution and diffs, and saves the cache after every scan so the next process starts warm.
Every method is plain Python; the ``*_async`` variants run the blocking work in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from .digest_cache import DEFAULT_MAX_ENTRIES, DigestCache
from .model import BundleDetail, BundleReport, ScanResult
from .resolve import Resolution, dag_index, resolve_dag
from .roots import RootSpec
from .scanner import OnProgress, Scanner
from .schema_versions import SchemaVersions

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:
    from .watch import ScanDiff, Watcher


class BundleService:
    """Scan, inspect and resolve over a fixed set of roots."""

    def __init__(
        self,
        roots: Sequence[RootSpec],
        *,
        use_cache: bool = True,
        cache_path: Path | None = None,
        cache_max_entries: int = DEFAULT_MAX_ENTRIES,
        versions: SchemaVersions | None = None,
        workers: int | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.roots = list(roots)
        self.versions = versions or SchemaVersions()
        if use_cache:
            self.digests = DigestCache.open(cache_path, max_entries=cache_max_entries)
        else:
            self.digests = DigestCache(None, max_entries=cache_max_entries)
        self.warnings = list(warnings)
        if self.digests.discarded:
            self.warnings.append(self.digests.discarded)
        self.scanner = Scanner(self.roots, versions=self.versions, digests=self.digests, workers=workers)
        self.last: ScanResult | None = None
        self._watcher: Watcher | None = None
        self._by_path: dict[str, BundleReport] = {}
        self._lock = threading.Lock()

    @property
    def watcher(self) -> Watcher:
        """Made on first use: a scan from the command line never watches."""
        if self._watcher is None:
            from .watch import Watcher

            self._watcher = Watcher(self)
        return self._watcher

    @classmethod
    def from_config(
        cls,
        arguments: Sequence[str | Path] = (),
        *,
        config_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        airflow_cfg: Path | None = None,
        use_cache: bool = True,
        cache_path: Path | None = None,
        workers: int | None = None,
    ) -> BundleService:
        """Roots from ``arguments``, else the config file, else Airflow's ``[sdk] coordinators``."""
        from .options import load_bundle_options  # reads YAML settings: not needed by a scan given its roots
        from .roots import discover_roots

        options, warnings = load_bundle_options(config_path, env=env)
        found = discover_roots(arguments, options.roots, config_origin=options.roots_origin, env=env, cfg_path=airflow_cfg)
        return cls(
            found.roots,
            use_cache=use_cache,
            cache_path=cache_path,
            cache_max_entries=options.cache_max_entries,
            versions=SchemaVersions(options.schema_versions),
            workers=workers,
            warnings=[*warnings, *found.warnings],
        )

    @property
    def root_paths(self) -> list[str]:
        return [info.path for info in self.scanner.root_infos()]

    def scan(
        self,
        *,
        on_progress: OnProgress | None = None,
        cancel: threading.Event | None = None,
        progress_interval: float = 0.05,
    ) -> ScanResult:
        """Scan every root; on success the result becomes ``last`` and the digest cache is saved."""
        result = self.scanner.scan(on_progress=on_progress, cancel=cancel, progress_interval=progress_interval)
        if not result.cancelled:
            with self._lock:
                self.last = result
                self._by_path = result.by_path()
        self.save_cache()
        return result

    def rescan(
        self, *, on_progress: OnProgress | None = None, cancel: threading.Event | None = None
    ) -> tuple[ScanResult, ScanDiff]:
        """Scan again and say what changed since ``last`` (everything is "added" on the first scan)."""
        self.watcher.previous = self.last
        return self.watcher.poll(on_progress=on_progress, cancel=cancel)

    async def scan_async(
        self, *, on_progress: OnProgress | None = None, cancel: threading.Event | None = None
    ) -> ScanResult:
        import asyncio  # only the UI awaits scans; the command line never loads asyncio

        return await asyncio.to_thread(self.scan, on_progress=on_progress, cancel=cancel)

    async def rescan_async(
        self, *, on_progress: OnProgress | None = None, cancel: threading.Event | None = None
    ) -> tuple[ScanResult, ScanDiff]:
        import asyncio  # only the UI awaits scans; the command line never loads asyncio

        return await asyncio.to_thread(self.rescan, on_progress=on_progress, cancel=cancel)

    def detail(self, path: str) -> BundleDetail:
        """Trailer, manifest text, warnings and inert source of one file (cached digest reused)."""
        from .detail import load_detail

        report = self._by_path.get(path)
        root = report.root if report else ""
        return load_detail(path, root=root, versions=self.versions, digests=self.digests)

    async def detail_async(self, path: str) -> BundleDetail:
        import asyncio  # only the UI awaits scans; the command line never loads asyncio

        return await asyncio.to_thread(self.detail, path)

    def resolve(self, dag_id: str) -> Resolution:
        """Which bundle Airflow runs for ``dag_id`` per the last scan (scanning first if there is none)."""
        result = self.last or self.scan()
        return resolve_dag(result.bundles, dag_id, self.root_paths)

    def dag_index(self) -> dict[str, Resolution]:
        result = self.last or self.scan()
        return dag_index(result.bundles, self.root_paths)

    def save_cache(self) -> str | None:
        """Persist new digests; a failure is returned as one line (and kept in ``warnings``)."""
        error = self.digests.save()
        if error:
            self.warnings.append(error)
        return error
