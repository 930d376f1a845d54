"""Nothing falsely verified, no file lost from a scan, bounded work per bundle, whatever the files hold."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import console.bundles.manifest as manifest_module
from console.bundles.digest_cache import DigestCache
from console.bundles.manifest import MAX_DAGS, MAX_TASKS
from console.bundles.model import Status
from console.bundles.packer import canonical_manifest, make_manifest
from console.bundles.reader import read_path
from console.bundles.scanner import INLINE_BYTES, Scanner
from console.bundles.schema_versions import SchemaVersions
from tests.helpers.privileges import python_command

from .builders import REPO, run_cli, write_bundle, write_raw_bundle

VERSIONS = SchemaVersions(use_airflow=False)
HUGE_HEX = "0x" + "f" * 4000
SCAN_IN_CHILD = (
    "import json, sys\n"
    "from console.bundles.service import BundleService\n"
    "from console.bundles.roots import RootSpec\n"
    "r = BundleService([RootSpec(sys.argv[1], 'arg')]).scan()\n"
    "print(json.dumps({'hits': r.cache_hits, 'reports': r.reports_cached, 'status': [b.status.value for b in r.bundles]}))\n"
)


def scan_in_new_process(root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", SCAN_IN_CHILD, str(root)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def rewrite_in_place_keeping_mtime(path: Path, offset: int) -> os.stat_result:
    """Flip one byte through the same inode, then set the mtime back: only the ctime can tell."""
    before = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        flipped = bytes([f.read(1)[0] ^ 0x01])
    while True:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(flipped)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = path.stat()
        if after.st_ctime_ns != before.st_ctime_ns:
            break
        time.sleep(0.01)  # the same clock tick as the first write: write again once the clock moved
    assert (after.st_dev, after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns
    )
    return after


# Falsely verified ---------------------------------------------------------------------------------


def test_a_bundle_changed_in_place_with_its_mtime_restored_is_rehashed_not_taken_from_the_cache(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "bundles" / "b", binary=os.urandom(64 << 10))
    assert scan_in_new_process(tmp_path / "bundles")["status"] == ["ok"]
    warm = scan_in_new_process(tmp_path / "bundles")
    assert warm["hits"] == 1 and warm["reports"] == 1
    rewrite_in_place_keeping_mtime(path, 100)
    text = run_cli("bundles", "inspect", str(path)).stdout.decode()
    assert "MISMATCH" in text and "from the digest cache" not in text
    path.chmod(0o755)  # a second change the same way, for the scan to meet with a cold cache again
    rewrite_in_place_keeping_mtime(path, 100)
    after = scan_in_new_process(tmp_path / "bundles")
    assert after == {"hits": 0, "reports": 0, "status": ["ok"]}
    rewrite_in_place_keeping_mtime(path, 100)
    assert scan_in_new_process(tmp_path / "bundles") == {"hits": 0, "reports": 0, "status": ["hash_mismatch"]}


def test_the_same_process_does_not_reuse_a_report_after_an_in_place_change(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b")
    cache = DigestCache()
    scanner = Scanner([tmp_path], versions=VERSIONS, digests=cache)
    assert [r.status for r in scanner.scan().bundles] == [Status.OK]
    rewrite_in_place_keeping_mtime(path, 3)
    report = scanner.scan().bundles[0]
    assert report.status is Status.HASH_MISMATCH and not report.digest_cached and not report.report_cached


# Lost or hidden -----------------------------------------------------------------------------------


def huge_int_manifest() -> bytes:
    """A valid manifest with an integer Python refuses to print in decimal as task, dag_id, sdk field and extra."""
    return (
        canonical_manifest(make_manifest({"huge_dag": ["t"]}))
        + f"extra: {HUGE_HEX}\n".encode()
    ).replace(b"- t\n", f"- t\n    - {HUGE_HEX}\n".encode()).replace(b"version: 0.1.0", f"version: {HUGE_HEX}".encode())


def test_huge_integers_neither_kill_the_scan_nor_drop_a_file(tmp_path: Path) -> None:
    metadata = huge_int_manifest()
    write_raw_bundle(tmp_path / "small", metadata=metadata)
    write_raw_bundle(tmp_path / "large", binary=os.urandom(INLINE_BYTES + 4096), metadata=metadata)
    write_bundle(tmp_path / "plain", {"plain": ["t"]})
    proc = run_cli("bundles", str(tmp_path), "--json", "--no-cache")
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    bundles = {Path(b["path"]).name: b for b in json.loads(proc.stdout)["bundles"]}
    assert set(bundles) == {"small", "large", "plain"}
    for name in ("small", "large"):
        assert bundles[name]["status"] == "ok"
        assert bundles[name]["dags"]["huge_dag"] == ["t", HUGE_HEX[:239] + "…"]
        assert any(w["path"] == "$.sdk.version" for w in bundles[name]["warnings"])


def test_inspect_shows_a_manifest_with_a_huge_integer(tmp_path: Path) -> None:
    path = write_raw_bundle(tmp_path / "b", metadata=huge_int_manifest())
    proc = run_cli("bundles", "inspect", str(path), "--no-cache")
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode == 0
    assert b"status          ok" in proc.stdout and HUGE_HEX.encode() in proc.stdout


def test_a_huge_integer_as_a_dag_id_is_named_in_a_warning(tmp_path: Path) -> None:
    explicit_key = f"dags:\n  ? {HUGE_HEX}\n  : {{tasks: [x]}}\n"  # YAML allows only short implicit keys
    metadata = canonical_manifest(make_manifest({"d": ["t"]})).replace(b"dags:\n", explicit_key.encode())
    report = read_path(str(write_raw_bundle(tmp_path / "b", metadata=metadata)), versions=VERSIONS).report
    assert report.status is Status.OK and list(report.dags) == ["d"]
    assert any("0xfff" in w.message and "not a string" in w.message for w in report.warnings)


@pytest.mark.parametrize("binary_size", [100, INLINE_BYTES + 4096], ids=["inline", "worker-thread"])
def test_an_unexpected_error_becomes_that_files_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binary_size: int) -> None:
    """Fault injection in the manifest parser: the file is reported with the reason, the others are not lost."""
    write_bundle(tmp_path / "a", {"fault_here": ["t"]}, binary=os.urandom(binary_size))
    write_bundle(tmp_path / "b", {"fine": ["t"]})
    real = manifest_module.parse_manifest

    def faulty(raw: bytes):
        if b"fault_here" in raw:
            raise RuntimeError("injected fault")
        return real(raw)

    monkeypatch.setattr(manifest_module, "parse_manifest", faulty)
    result = Scanner([tmp_path], versions=VERSIONS).scan()
    by_name = {Path(r.path).name: r for r in result.bundles}
    assert {name: r.status for name, r in by_name.items()} == {"a": Status.SCAN_ERROR, "b": Status.OK}
    assert by_name["a"].reason == "unexpected error while reading: RuntimeError: injected fault"


# Bounded work -------------------------------------------------------------------------------------


def manifest_with_dags(count: int) -> bytes:
    manifest = make_manifest({})
    del manifest["dags"]
    head = canonical_manifest(manifest)
    lines = [f"  d{i}: {{tasks: [t]}}\n" for i in range(count)]
    return head + b"dags:\n" + "".join(lines).encode()


def test_a_16_mib_manifest_of_703k_dags_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    metadata = manifest_with_dags(703_000)
    assert len(metadata) < 16 << 20
    path = write_raw_bundle(tmp_path / "b", metadata=metadata)
    tracemalloc.start()
    try:
        report = read_path(str(path), versions=VERSIONS).report
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.status is Status.METADATA_TOO_COMPLEX
    assert "more than 250,000 YAML values" in report.reason and f"{MAX_DAGS:,} dags" in report.reason
    assert peak < 3 * len(metadata) + (16 << 20), f"peak {peak:,} bytes"


def test_more_dags_than_the_bound_is_too_complex_and_the_bound_itself_is_fine(tmp_path: Path) -> None:
    over = read_path(str(write_raw_bundle(tmp_path / "over", metadata=manifest_with_dags(MAX_DAGS + 1))), versions=VERSIONS).report
    assert over.status is Status.METADATA_TOO_COMPLEX
    assert over.reason.startswith(f"manifest declares {MAX_DAGS + 1:,} dags;")
    at = read_path(str(write_raw_bundle(tmp_path / "at", metadata=manifest_with_dags(MAX_DAGS))), versions=VERSIONS).report
    assert at.status is Status.OK and len(at.dags) == MAX_DAGS


def test_task_lists_multiplied_by_aliases_are_bounded(tmp_path: Path) -> None:
    tasks = ", ".join(f"t{i}" for i in range(1000))
    dags = "".join(f"  d{i}: {{tasks: *tasks}}\n" for i in range(MAX_TASKS // 1000 + 1))
    text = canonical_manifest(make_manifest({"first": ["t"]})).replace(b"dags:\n", b"dags:\n  first: {tasks: &tasks [" + tasks.encode() + b"]}\n" + dags.encode())
    report = read_path(str(write_raw_bundle(tmp_path / "b", metadata=text)), versions=VERSIONS).report
    assert report.status is Status.METADATA_TOO_COMPLEX
    assert f"more than {MAX_TASKS:,} tasks" in report.reason


# The command line ---------------------------------------------------------------------------------


def test_an_empty_root_is_a_usage_error_not_the_current_directory(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b")
    proc = run_cli("bundles", "", cwd=tmp_path)
    assert proc.returncode == 2
    assert b"empty ROOT" in proc.stderr and b"roots:" not in proc.stdout


@pytest.mark.parametrize("kind", ["fifo", "dev-null"])
def test_a_root_that_is_neither_a_directory_nor_a_file_is_an_error(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        root = tmp_path / "pipe"
        os.mkfifo(root)
        expected = "is a FIFO, not a directory or regular file"
    else:
        root = Path(os.devnull)
        expected = "is a character device, not a directory or regular file"
    proc = run_cli("bundles", str(root), "--json", "--no-cache", timeout=30)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["roots"][0]["error"] == expected


def test_an_unlistable_subdirectory_is_reported_and_fails_the_scan(tmp_path: Path) -> None:
    """Permission denied for real: as root, the scan runs without its DAC-override capabilities."""
    directory = Path(tempfile.mkdtemp(prefix="bundle-walk-"))
    try:
        write_bundle(directory / "open" / "b")
        locked = directory / "locked"
        write_bundle(locked / "hidden")
        locked.chmod(0)
        code = "import sys\nfrom console.cli import main\nsys.exit(main(sys.argv[1:]))\n"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.run(
            python_command(code, "bundles", str(directory), "--no-cache"), capture_output=True, env=env, timeout=60, check=False
        )
        text = proc.stdout.decode()
        assert proc.returncode == 2, (text, proc.stderr.decode())
        assert f"cannot list {locked}: Permission denied: the files in it were not scanned" in text
        assert "1 files: 1 accepted" in text
    finally:
        (directory / "locked").chmod(0o700)
        shutil.rmtree(directory)


def test_inspect_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    source = b"".join(b"// line %d of a long embedded source file\n" % i for i in range(40_000))
    path = write_bundle(tmp_path / "b", source=source)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "bundles", "inspect", str(path), "--no-cache"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"path")
    proc.stdout.close()  # what `| head -1` does once it has its line
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141
    assert err == b""


# Fuzzing ------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
MEMORY_BOUND = 64 << 20


def alias_bomb(levels: int, fanout: int) -> str:
    lines = [f"b0: &b0 [{', '.join(['x'] * fanout)}]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * fanout)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ndags_alias: {{tasks: *b{levels - 1}}}\n"


FRAGMENTS = st.one_of(
    st.integers(1000, 6000).map(lambda n: f"big_hex: 0x{'f' * n}\n"),
    st.integers(4000, 6000).map(lambda n: f"big_decimal: {'9' * n}\n"),
    st.integers(4000, 6000).map(lambda n: f"sdk_task_big: [{'7' * n}]\n"),
    st.integers(1, 1500).map(lambda d: f"deep: {'[' * d}{']' * d}\n"),
    st.integers(1, 700).map(lambda d: "deep_block:\n" + "".join(f"{'  ' * i}- \n" for i in range(d))),
    st.tuples(st.integers(2, 9), st.integers(2, 12)).map(lambda t: alias_bomb(*t)),
    st.just("loop: &loop [*loop, *loop]\n"),
    st.integers(1, 3000).map(lambda n: "many: {" + ", ".join(f"k{i}: {i}" for i in range(n)) + "}\n"),
)


@st.composite
def fuzzed_bundles(draw) -> list[tuple[bytes, int]]:
    """1-4 bundles: a valid manifest with hostile fragments appended, some big enough for the worker threads."""
    bundles = []
    for index in range(draw(st.integers(1, 4))):
        extra = "".join(draw(st.lists(FRAGMENTS, min_size=1, max_size=3)))
        dags = {f"dag_{index}": ["t"]}
        if draw(st.booleans()):
            extra = extra.replace("dags_alias:", f"dags:\n  dag_{index}:")
            dags = {}
        text = canonical_manifest(make_manifest(dags)) if dags else b"airflow_bundle_metadata_version: '1.0'\n"
        binary_size = draw(st.sampled_from([64, INLINE_BYTES + 1024]))
        bundles.append((text + extra.encode(), binary_size))
    return bundles


@FUZZ
@given(fuzzed_bundles())
def test_fuzzed_manifests_get_one_report_each_within_bounded_memory(bundles: list[tuple[bytes, int]]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bundle-fuzz-"))
    try:
        paths = set()
        for index, (metadata, binary_size) in enumerate(bundles):
            paths.add(str(write_raw_bundle(directory / f"b{index}", binary=bytes(binary_size), metadata=metadata)))
        tracemalloc.start()
        try:
            result = Scanner([directory], versions=VERSIONS, digests=DigestCache(), workers=2).scan()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert sorted(r.path for r in result.bundles) == sorted(paths)
        for report in result.bundles:
            assert isinstance(report.status, Status) and report.status is not Status.SCAN_ERROR, report.reason
            assert report.reason and "\n" not in report.reason and len(report.reason) < 1000
        assert peak < MEMORY_BOUND, f"peak {peak:,} bytes"
    finally:
        shutil.rmtree(directory)


def test_pack_keeps_a_huge_integer_exactly(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_bytes(huge_int_manifest())
    exe = tmp_path / "exe"
    exe.write_bytes(b"\x7fELF binary")
    exe.chmod(0o755)
    proc = run_cli("bundles", "pack", str(exe), "--manifest", str(manifest), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr.decode()
    report = read_path(str(tmp_path / "out"), versions=VERSIONS).report
    assert report.status is Status.OK and report.dags["huge_dag"][1].startswith("0xfff")
    assert read_path(str(tmp_path / "out"), versions=VERSIONS, keep_regions=True).manifest.data["extra"] == int(HUGE_HEX, 16)
