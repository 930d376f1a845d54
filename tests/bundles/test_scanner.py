"""The walk (order, recursion, symlink cycles, roots) and the parallel classification with progress."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import threading
from pathlib import Path

from console.bundles.digest_cache import DigestCache
from console.bundles.model import ScanProgress, Status
from console.bundles.roots import RootSpec
from console.bundles.scanner import Scanner
from console.bundles.schema_versions import SchemaVersions

from .builders import write_bundle, write_file

VERSIONS = SchemaVersions(use_airflow=False)


def scanner(*roots: Path, **kwargs) -> Scanner:
    return Scanner([RootSpec(str(r), "test") for r in roots], versions=VERSIONS, **kwargs)


def reference_walk(items: list[Path], seen: set[tuple[int, int]] | None = None) -> list[str]:
    """The coordinator's documented walk, written plainly: the order the scanner must reproduce."""
    seen = set() if seen is None else seen
    found: list[str] = []
    for item in items:
        try:
            st = item.stat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            found.extend(reference_walk(list(item.iterdir()), seen))
        elif stat.S_ISREG(st.st_mode):
            found.append(str(item))
    return found


def test_walk_follows_the_coordinators_order_across_nested_dirs_and_roots(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(12):
        write_bundle(a / f"d{i % 3}" / f"sub{i % 2}" / f"bundle{i}", {f"dag{i}": ["t"]})
    write_bundle(b / "x", {"x": ["t"]})
    write_file(a / "README.md", b"docs", mode=0o644)
    result = scanner(a, b).scan()
    assert [r.path for r in result.bundles] == reference_walk([a, b])
    assert len(result.bundles) == 14
    assert {r.root for r in result.bundles} == {str(a), str(b)}


def test_symlink_loop_is_visited_once(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    write_bundle(inner / "pipeline", {"loop_dag": ["t"]})
    (inner / "loop").symlink_to(tmp_path)
    (inner / "self").symlink_to(inner)
    result = scanner(tmp_path).scan()
    assert [r.path for r in result.bundles] == [str(inner / "pipeline")]
    assert result.bundles[0].status is Status.OK


def test_nested_roots_do_not_scan_a_directory_twice(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    write_bundle(outer / "inner" / "b1")
    write_bundle(outer / "b0")
    result = scanner(outer, outer / "inner").scan()
    assert sorted(r.path for r in result.bundles) == sorted([str(outer / "b0"), str(outer / "inner" / "b1")])


def test_a_symlinked_file_is_listed_under_each_path(tmp_path: Path) -> None:
    target = write_bundle(tmp_path / "real", {"d": ["t"]})
    (tmp_path / "alias").symlink_to(target)
    result = scanner(tmp_path).scan()
    assert sorted(Path(r.path).name for r in result.bundles) == ["alias", "real"]
    assert len({(r.dev, r.ino) for r in result.bundles}) == 1


def test_missing_and_file_roots(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "single")
    result = scanner(tmp_path / "missing", bundle).scan()
    assert [(i.exists, i.error) for i in result.roots] == [(False, "does not exist"), (True, None)]
    assert [r.path for r in result.bundles] == [str(bundle)]


def test_every_file_gets_a_report_with_ignored_ones_marked(tmp_path: Path) -> None:
    write_bundle(tmp_path / "ok")
    write_bundle(tmp_path / "plain", mode=0o644)
    write_file(tmp_path / "script", b"#!/bin/sh\necho hi\n")
    (tmp_path / "fifo-is-skipped").mkdir()
    os.mkfifo(tmp_path / "fifo-is-skipped" / "pipe")
    statuses = {Path(r.path).name: r.status for r in scanner(tmp_path).scan().bundles}
    assert statuses == {"ok": Status.OK, "plain": Status.NOT_EXECUTABLE, "script": Status.NOT_BUNDLE}


def test_progress_reports_files_and_bytes_hashed(tmp_path: Path) -> None:
    sizes = [3 << 20, 9 << 20, 1 << 10]
    for i, size in enumerate(sizes):
        write_bundle(tmp_path / f"b{i}", binary=os.urandom(size))
    events: list[ScanProgress] = []
    threads: set[str] = set()

    def record(progress: ScanProgress) -> None:
        threads.add(threading.current_thread().name)
        events.append(progress)

    result = scanner(tmp_path, workers=2).scan(on_progress=record, progress_interval=0)
    assert result.bytes_hashed == sum(sizes)
    assert events[-1].files_done == events[-1].files_found == 3
    assert events[-1].bytes_hashed == sum(sizes) and not events[-1].walking
    hashed = [e.bytes_hashed for e in events]
    assert hashed == sorted(hashed)
    assert any(0 < e.bytes_hashed < sum(sizes) for e in events), "no progress while hashing"
    assert any(name.startswith("bundle-scan") for name in threads)


def test_two_files_are_classified_at_the_same_time(tmp_path: Path) -> None:
    """Each worker reaches the digest lookup (just before hashing) while the other is still inside its file."""
    for i in range(4):
        write_bundle(tmp_path / f"b{i}", binary=os.urandom(1 << 20))
    barrier = threading.Barrier(2, timeout=30)
    met: list[str] = []
    arrivals = itertools.count()

    class MeetingCache(DigestCache):
        def get(self, key):
            if next(arrivals) < 2:
                barrier.wait()
                met.append(threading.current_thread().name)
            return super().get(key)

    result = scanner(tmp_path, workers=2, digests=MeetingCache()).scan()
    assert len(set(met)) == 2
    assert [r.status for r in result.bundles] == [Status.OK] * 4


def test_cancel_stops_the_scan(tmp_path: Path) -> None:
    for i in range(4):
        write_bundle(tmp_path / f"b{i}", binary=os.urandom(4 << 20))
    cancel = threading.Event()

    def stop_at_first_chunk(progress: ScanProgress) -> None:
        if progress.bytes_hashed:
            cancel.set()

    result = scanner(tmp_path, workers=1).scan(on_progress=stop_at_first_chunk, cancel=cancel, progress_interval=0)
    assert result.cancelled
    assert len(result.bundles) < 4


def test_digest_cache_skips_rehashing_unchanged_files(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b", binary=os.urandom(1 << 20))
    cache = DigestCache()
    first = scanner(tmp_path, digests=cache).scan()
    second = scanner(tmp_path, digests=cache).scan()
    assert first.bytes_hashed == 1 << 20 and first.cache_hits == 0
    assert second.bytes_hashed == 0 and second.cache_hits == 1
    assert second.bundles[0].digest_cached and second.bundles[0].status is Status.OK


async def test_scan_async_keeps_the_event_loop_running(tmp_path: Path) -> None:
    for i in range(3):
        write_bundle(tmp_path / f"b{i}", binary=os.urandom(4 << 20))
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    result = await scanner(tmp_path).scan_async()
    stop.set()
    await task
    assert len(result.bundles) == 3
    assert ticks > 1
