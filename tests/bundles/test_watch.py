"""Rescans: added, replaced (and re-verified), changed and removed bundles."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from console.bundles.digest_cache import DigestCache
from console.bundles.model import Status
from console.bundles.packer import make_manifest
from console.bundles.roots import RootSpec
from console.bundles.scanner import Scanner
from console.bundles.schema_versions import SchemaVersions
from console.bundles.service import BundleService
from console.bundles.watch import Watcher

from .builders import write_bundle, write_file


def test_rescan_diff_names_each_kind_of_change(tmp_path: Path) -> None:
    stays = write_bundle(tmp_path / "stays", {"a": ["t"]})
    replaced = write_bundle(tmp_path / "replaced", {"b": ["t"]}, binary=os.urandom(4096))
    gone = write_bundle(tmp_path / "gone", {"c": ["t"]})
    loses_x = write_bundle(tmp_path / "loses_x", {"d": ["t"]})
    service = BundleService([RootSpec(str(tmp_path), "t")], versions=SchemaVersions(use_airflow=False))
    _, diff = service.rescan()
    assert {Path(r.path).name for r in diff.added} == {"stays", "replaced", "gone", "loses_x"}

    data = bytearray(replaced.read_bytes())
    data[5] ^= 1
    write_file(tmp_path / "incoming", bytes(data))
    os.replace(tmp_path / "incoming", replaced)
    gone.unlink()
    os.chmod(loses_x, 0o644)
    write_bundle(tmp_path / "new", {"e": ["t"]})

    _, diff = service.rescan()
    assert [Path(r.path).name for r in diff.added] == ["new"]
    assert [(Path(old.path).name, old.status, new.status) for old, new in diff.replaced] == [
        ("replaced", Status.OK, Status.HASH_MISMATCH)
    ]
    assert not diff.replaced[0][1].digest_cached
    assert sorted((Path(old.path).name, new.status if new else None) for old, new in diff.removed) == [
        ("gone", None),
        ("loses_x", Status.NOT_EXECUTABLE),
    ]
    assert diff.changed == []
    assert service.rescan()[1].empty
    assert stays.exists()


def test_status_change_without_replacement_is_reported_as_changed(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b", manifest=make_manifest({"d": ["t"]}, supervisor_schema_version="2027-01-01"))
    digests = DigestCache()
    before = Scanner([tmp_path], versions=SchemaVersions(use_airflow=False), digests=digests)
    watcher = Watcher(before)
    watcher.poll()
    watcher.scanner = Scanner([tmp_path], versions=SchemaVersions(["2027-01-01"], use_airflow=False), digests=digests)
    _, diff = watcher.poll()
    assert [(old.status, new.status) for old, new in diff.changed] == [(Status.SCHEMA_VERSION_UNKNOWN, Status.OK)]


async def test_async_watch_yields_until_stopped(tmp_path: Path) -> None:
    write_bundle(tmp_path / "first")
    watcher = Watcher(Scanner([tmp_path], versions=SchemaVersions(use_airflow=False)))
    stop = asyncio.Event()
    seen = []
    async for result, diff in watcher.watch(0.01, stop=stop):
        seen.append(([Path(r.path).name for r in diff.added], len(result.bundles)))
        if len(seen) == 1:
            write_bundle(tmp_path / "second")
        else:
            stop.set()
    assert seen == [(["first"], 1), (["second"], 2)]


def test_rescans_hash_nothing_unchanged_even_without_the_persistent_cache(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    """Following the roots polls often: an unchanged file costs a stat, a changed one is re-verified."""
    write_bundle(tmp_path / "a", binary=os.urandom(300 << 10))
    changed = write_bundle(tmp_path / "b", binary=os.urandom(4096))
    service = BundleService([RootSpec(str(tmp_path), "t")], use_cache=False, versions=SchemaVersions(use_airflow=False))
    first, _ = service.rescan()
    assert first.bytes_hashed == (300 << 10) + 4096
    again, diff = service.rescan()
    assert diff.empty and again.bytes_hashed == 0 and again.reports_cached == 2
    write_bundle(tmp_path / ".incoming", binary=os.urandom(4096))
    os.replace(tmp_path / ".incoming", changed)
    third, diff = service.rescan()
    assert third.bytes_hashed == 4096 and third.reports_cached == 1
    assert [Path(new.path).name for _, new in diff.replaced] == ["b"]
    assert not (Path(isolated_env["XDG_CACHE_HOME"]) / "remsvc-console").exists()
