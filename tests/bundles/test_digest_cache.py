"""The persistent digest cache: survives processes, bounded, atomic, and distrusts any file it did not write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.bundles.digest_cache import DigestCache, default_cache_path, program_fingerprint
from console.bundles.model import Status
from console.bundles.roots import RootSpec
from console.bundles.service import BundleService

from .builders import REPO, write_bundle

SCAN_IN_CHILD = (
    "import json, sys\n"
    "from console.bundles.service import BundleService\n"
    "from console.bundles.roots import RootSpec\n"
    "svc = BundleService([RootSpec(sys.argv[1], 'arg')])\n"
    "r = svc.scan()\n"
    "print(json.dumps({'hashed': r.bytes_hashed, 'hits': r.cache_hits, 'status': [b.status.value for b in r.bundles],"
    " 'warnings': svc.warnings}))\n"
)


def scan_in_new_process(root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", SCAN_IN_CHILD, str(root)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


V2 = {"format": "remsvc-console bundle digests", "version": 2, "program": program_fingerprint(), "reports": []}


def key(n: int) -> tuple[str, int, int, int, int, int, int]:
    """(path, source_start, dev, ino, size, mtime_ns, ctime_ns)."""
    return (f"/bundles/b{n}", 100, 2049, n, 4096, 1_700_000_000_000_000_000 + n, 1_700_000_000_000_000_000 + n)


def test_default_location_follows_xdg_cache_home(isolated_env: dict[str, str]) -> None:
    assert default_cache_path() == Path(isolated_env["XDG_CACHE_HOME"]) / "remsvc-console" / "bundle-digests.json"
    assert default_cache_path({"XDG_CACHE_HOME": "relative/dir", "HOME": "/h"}).parts[-2:] == ("remsvc-console", "bundle-digests.json")
    assert not str(default_cache_path({"XDG_CACHE_HOME": "relative/dir"})).startswith("relative")


def test_a_new_process_reuses_digests_and_rehashes_nothing(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b1", binary=os.urandom(1 << 20))
    write_bundle(tmp_path / "b2", binary=os.urandom(2 << 20))
    cold = scan_in_new_process(tmp_path)
    warm = scan_in_new_process(tmp_path)
    assert cold["hashed"] == 3 << 20 and cold["hits"] == 0
    assert warm["hashed"] == 0 and warm["hits"] == 2
    assert warm["status"] == ["ok", "ok"]


def test_a_replaced_file_misses_the_cache_and_is_reverified(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", binary=os.urandom(1 << 20))
    scan_in_new_process(tmp_path)
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    replacement = tmp_path.parent / "replacement"
    replacement.write_bytes(bytes(data))
    os.chmod(replacement, 0o755)
    os.replace(replacement, path)
    after = scan_in_new_process(tmp_path)
    assert after["hits"] == 0 and after["hashed"] == 1 << 20
    assert after["status"] == ["hash_mismatch"]


def test_save_is_atomic_private_and_leaves_no_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "digests.json"
    cache = DigestCache(path)
    cache.put(key(1), b"\x01" * 32)
    assert cache.save() is None
    assert sorted(p.name for p in path.parent.iterdir()) == ["digests.json"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    reloaded = DigestCache.open(path)
    assert reloaded.get(key(1)) == b"\x01" * 32


def test_lru_bound_holds_across_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "digests.json"
    cache = DigestCache(path, max_entries=3)
    for n in range(5):
        cache.put(key(n), bytes([n]) * 32)
    cache.get(key(2))
    cache.put(key(5), b"\x05" * 32)
    assert len(cache) == 3
    cache.save()
    reloaded = DigestCache.open(path, max_entries=3)
    assert [reloaded.get(key(n)) is not None for n in range(6)] == [False, False, True, False, True, True]


def test_saves_from_two_processes_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "digests.json"
    first, second = DigestCache.open(path), DigestCache.open(path)
    first.put(key(1), b"\x01" * 32)
    second.put(key(2), b"\x02" * 32)
    first.save()
    second.save()
    merged = DigestCache.open(path)
    assert merged.get(key(1)) == b"\x01" * 32 and merged.get(key(2)) == b"\x02" * 32


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        json.dumps({**V2, "version": 3, "entries": []}).encode(),
        json.dumps({**V2, "entries": [["/p", 1, 2, 3, 4, 5, 6, "zz" * 32]]}).encode(),
        json.dumps({**V2, "entries": [["/p", -1, 2, 3, 4, 5, 6, "aa" * 32]]}).encode(),
        json.dumps({**V2, "entries": [["/p", 1, 2, 3, 4, 5, "aa" * 32]]}).encode(),
        json.dumps({**V2, "entries": [], "reports": [["/p", 1, 2, 3, 4, 5, []]]}).encode(),
        json.dumps({**V2, "entries": [], "reports": {}}).encode(),
        b"\xff\xfe",
    ],
    ids=["syntax", "not-object", "version", "bad-hex", "negative", "short-entry", "bad-report", "reports-not-list", "binary"],
)
def test_a_corrupt_cache_file_is_discarded_whole(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "digests.json"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    cache = DigestCache.open(path)
    assert len(cache) == 0
    assert cache.discarded and "corrupt" in cache.discarded
    cache.put(key(1), b"\x01" * 32)
    assert cache.save() is None
    assert DigestCache.open(path).get(key(1)) == b"\x01" * 32


def test_a_poisoned_entry_cannot_make_a_tampered_bundle_pass(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    """A cache file others can write is not trusted, even when its entries look perfect."""
    path = write_bundle(tmp_path / "bundles" / "b")
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    st = path.stat()
    expected = bytes.fromhex(BundleService([RootSpec(str(path), "t")], use_cache=False).scan().bundles[0].binary_sha256)
    cache_file = default_cache_path()
    cache_file.parent.mkdir(parents=True)
    source_start = len(data) - 64 - int.from_bytes(data[-60:-56], "little") - int.from_bytes(data[-64:-60], "little")
    poisoned = [[str(path), source_start, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, expected.hex()]]
    cache_file.write_text(json.dumps({**V2, "entries": poisoned}))
    os.chmod(cache_file, 0o666)
    service = BundleService([RootSpec(str(path.parent), "t")])
    report = service.scan().bundles[0]
    assert report.status is Status.HASH_MISMATCH and not report.digest_cached
    assert any("writable by others; discarded" in w for w in service.warnings)


def test_a_symlinked_cache_file_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    holder = DigestCache(real)
    holder.put(key(1), b"\x01" * 32)
    holder.save()
    link = tmp_path / "digests.json"
    link.symlink_to(real)
    cache = DigestCache.open(link)
    assert len(cache) == 0 and cache.discarded and "unreadable" in cache.discarded


def test_an_unwritable_cache_location_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("file in the way")
    cache = DigestCache(blocker / "digests.json")
    cache.put(key(1), b"\x01" * 32)
    error = cache.save()
    assert error is not None and error.startswith("cannot save the digest cache")
