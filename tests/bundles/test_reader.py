"""One status and one reason per file, for every way a file can fail Airflow's reader algorithm."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from console.bundles import manifest as manifest_module
from console.bundles.manifest import NESTING_LIMIT
from console.bundles.model import Status
from console.bundles.packer import bundle_bytes, canonical_manifest, make_manifest
from console.bundles.reader import hash_region, read_path
from console.bundles.schema_versions import SchemaVersions
from console.bundles.trailer import MAGIC, build_trailer

from tests.helpers.privileges import python_command
from .builders import BINARY, REPO, write_bundle, write_file, write_raw_bundle

VERSIONS = SchemaVersions(use_airflow=False)


def classify(path: Path, **kwargs):
    return read_path(str(path), versions=kwargs.pop("versions", VERSIONS), **kwargs).report


def test_ok_bundle_reports_every_trailer_and_manifest_fact(tmp_path: Path) -> None:
    source = b"package main\n"
    path = write_bundle(tmp_path / "b", {"etl": ["extract", "load"], "other": []}, source=source)
    report = classify(path)
    assert report.status is Status.OK, report.reason
    assert "verified" in report.reason and "2 dags" in report.reason
    assert report.footer_ver == 1
    assert report.source_len == len(source)
    assert report.source_start == len(BINARY)
    assert report.binary_sha256 == report.actual_sha256 == hashlib.sha256(BINARY).hexdigest()
    assert report.source_name == "main.go"
    assert report.sdk == {"language": "go", "version": "0.1.0", "supervisor_schema_version": "2026-06-16"}
    assert report.schema_version == "2026-06-16"
    assert report.dags == {"etl": ["extract", "load"], "other": []}
    assert report.warnings == []
    assert report.size == path.stat().st_size


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"#!/bin/sh\nexit 0\n", "smaller than the 64-byte trailer"),
        (b"#!/bin/sh\n" + b"# padding\n" * 20, "no AFBNDL01 magic"),
        (b"", "smaller than the 64-byte trailer"),
    ],
    ids=["short", "no-magic", "empty"],
)
def test_files_without_the_magic_are_not_bundles(tmp_path: Path, data: bytes, reason: str) -> None:
    report = classify(write_file(tmp_path / "script", data))
    assert report.status is Status.NOT_BUNDLE
    assert reason in report.reason


def test_non_executable_files_are_skipped_without_reading_the_trailer(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", mode=0o644)
    report = classify(path)
    assert report.status is Status.NOT_EXECUTABLE
    assert "without reading" in report.reason
    assert report.footer_ver is None and report.binary_sha256 is None
    assert report.size == path.stat().st_size


def test_unknown_footer_version_is_rejected_not_guessed(tmp_path: Path) -> None:
    report = classify(write_raw_bundle(tmp_path / "b", footer_ver=2))
    assert report.status is Status.UNSUPPORTED_FOOTER_VERSION
    assert "footer_ver=2" in report.reason
    assert report.actual_sha256 is None


def test_nonzero_reserved_bytes_are_rejected(tmp_path: Path) -> None:
    report = classify(write_raw_bundle(tmp_path / "b", reserved=b"\x00" * 11 + b"\x07"))
    assert report.status is Status.RESERVED_NONZERO
    assert "000000000000000000000007" in report.reason


def test_regions_past_the_start_of_the_file(tmp_path: Path) -> None:
    path = write_raw_bundle(tmp_path / "b", source=b"src", source_len=10_000)
    report = classify(path)
    assert report.status is Status.BAD_REGIONS
    assert "source_len=10,000" in report.reason and "precede the trailer" in report.reason


def test_regions_that_leave_no_binary(tmp_path: Path) -> None:
    metadata = canonical_manifest(make_manifest({"d": ["t"]}))
    path = write_raw_bundle(tmp_path / "b", binary=b"", source=b"", metadata=metadata)
    report = classify(path)
    assert report.status is Status.BAD_REGIONS
    assert "no binary region" in report.reason


def test_trailer_claiming_4_gib_of_metadata_in_a_small_file(tmp_path: Path) -> None:
    path = write_raw_bundle(tmp_path / "b", metadata_len=0xFFFFFFFF)
    report = classify(path)
    assert report.status is Status.BAD_REGIONS
    assert "metadata_len=4,294,967,295" in report.reason


def test_real_4_gib_metadata_region_is_capped_not_read(tmp_path: Path) -> None:
    """A sparse file really holding 4 GiB of metadata: verified, then refused at the 16 MiB cap."""
    path = tmp_path / "huge"
    metadata_len = 0xFFFFFFFF
    with open(path, "wb") as f:
        f.write(BINARY)
        f.seek(len(BINARY) + metadata_len)
        f.write(build_trailer(0, metadata_len, hashlib.sha256(BINARY).digest()))
    os.chmod(path, 0o755)
    report = classify(path)
    assert report.status is Status.METADATA_TOO_LARGE
    assert "exceeds the 16 MiB cap" in report.reason
    assert report.actual_sha256 == report.binary_sha256


def test_metadata_cap_is_configurable(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", {f"dag_{i}": ["t"] for i in range(100)})
    assert classify(path).status is Status.OK
    report = classify(path, metadata_cap=1024)
    assert report.status is Status.METADATA_TOO_LARGE


def test_hash_mismatch_shows_expected_and_actual_and_keeps_the_dags(tmp_path: Path) -> None:
    data = bytearray(bundle_bytes(BINARY, b"src", make_manifest({"tampered_dag": ["t"]})))
    data[0] ^= 0xFF
    report = classify(write_file(tmp_path / "b", bytes(data)))
    assert report.status is Status.HASH_MISMATCH
    expected = hashlib.sha256(BINARY).hexdigest()
    actual = hashlib.sha256(bytes(data[: len(BINARY)])).hexdigest()
    assert expected in report.reason and actual in report.reason
    assert (report.binary_sha256, report.actual_sha256) == (expected, actual)
    assert report.dags == {"tampered_dag": ["t"]}


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"key: : not: valid: yaml: [", "not valid YAML"),
        (b"sdk: 2026-13-45\n", "cannot be loaded"),
        (b"a: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
    ids=["not-utf8", "bad-yaml", "bad-date", "python-tag"],
)
def test_undecodable_metadata(tmp_path: Path, metadata: bytes, reason: str) -> None:
    report = classify(write_raw_bundle(tmp_path / "b", metadata=metadata))
    assert report.status is Status.METADATA_UNDECODABLE
    assert reason in report.reason


@pytest.mark.parametrize(
    ("metadata", "kind"), [(b"just-a-scalar\n", "string"), (b"- a\n- b\n", "sequence"), (b"", "null")], ids=["scalar", "list", "empty"]
)
def test_metadata_that_is_not_a_mapping(tmp_path: Path, metadata: bytes, kind: str) -> None:
    report = classify(write_raw_bundle(tmp_path / "b", metadata=metadata))
    assert report.status is Status.METADATA_NOT_MAPPING
    assert f"YAML {kind}, not a mapping" in report.reason


LOADERS = [yaml.SafeLoader, *([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])]


def nested_manifest(levels: int) -> bytes:
    """A valid manifest whose ``extra`` key nests ``levels`` collections counting the top mapping."""
    inner = levels - 1
    return canonical_manifest(make_manifest({"d": ["t"]})) + b"extra: " + b"[" * inner + b"]" * inner + b"\n"


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
@pytest.mark.parametrize("levels", [NESTING_LIMIT + 1, 1_000, 5_000])
def test_nesting_beyond_the_limit_is_undecodable_whichever_yaml_build_loads_it(tmp_path, monkeypatch, loader, levels):
    """Airflow's pure-Python safe_load dies near 490 levels; libyaml (when bundled) stops at 1,000; we decide."""
    monkeypatch.setattr(manifest_module, "_Loader", loader)
    report = classify(write_raw_bundle(tmp_path / "b", metadata=nested_manifest(levels)))
    assert report.status is Status.METADATA_UNDECODABLE
    assert report.reason.startswith(f"manifest YAML nests collections more than {NESTING_LIMIT} levels deep")


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
def test_nesting_up_to_the_limit_loads_and_skips_only_schema_validation(tmp_path, monkeypatch, loader):
    monkeypatch.setattr(manifest_module, "_Loader", loader)
    report = classify(write_raw_bundle(tmp_path / "b", metadata=nested_manifest(NESTING_LIMIT)))
    assert report.status is Status.OK
    assert report.dags == {"d": ["t"]}
    assert [str(w) for w in report.warnings] == ["$: manifest is nested more than 64 levels deep; schema validation skipped"]


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
def test_aliases_that_reach_deep_do_not_count_as_nesting(tmp_path, monkeypatch, loader):
    """A self-referencing alias makes the loaded value infinitely deep while the text nests two levels."""
    monkeypatch.setattr(manifest_module, "_Loader", loader)
    text = canonical_manifest(make_manifest({"d": ["t"]})) + b"loop: &loop [*loop]\n"
    report = classify(write_raw_bundle(tmp_path / "b", metadata=text))
    assert report.status is Status.OK
    assert report.dags == {"d": ["t"]}


def test_schema_version_missing(tmp_path: Path) -> None:
    manifest = make_manifest({"d": ["t"]})
    del manifest["sdk"]["supervisor_schema_version"]
    report = classify(write_bundle(tmp_path / "b", manifest=manifest))
    assert report.status is Status.SCHEMA_VERSION_MISSING
    assert report.reason == "sdk.supervisor_schema_version is missing"
    assert report.dags == {"d": ["t"]}


def test_unquoted_schema_version_is_a_yaml_date_and_counts_as_missing(tmp_path: Path) -> None:
    text = canonical_manifest(make_manifest({"d": ["t"]})).replace(b"'2026-06-16'", b"2026-06-16")
    report = classify(write_raw_bundle(tmp_path / "b", metadata=text))
    assert report.status is Status.SCHEMA_VERSION_MISSING
    assert "YAML date" in report.reason and "quote it" in report.reason


def test_schema_version_unknown_names_the_known_ones(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", manifest=make_manifest({"d": ["t"]}, supervisor_schema_version="1999-01-01"))
    report = classify(path)
    assert report.status is Status.SCHEMA_VERSION_UNKNOWN
    assert "'1999-01-01'" in report.reason and "2026-06-16" in report.reason
    assert classify(path, versions=SchemaVersions(["1999-01-01"], use_airflow=False)).status is Status.OK


def test_empty_source_is_a_valid_bundle(tmp_path: Path) -> None:
    report = classify(write_bundle(tmp_path / "b", source=b""))
    assert report.status is Status.OK
    assert report.source_len == 0


def test_file_truncated_while_hashing_is_unreadable(tmp_path: Path) -> None:
    """The file shrinks between the fd's stat and the end of the hash: a replace-in-place mid-scan."""
    binary = os.urandom(3 << 20)
    path = write_bundle(tmp_path / "b", binary=binary)
    calls = []

    def shrink(n: int) -> None:
        if not calls:
            os.truncate(path, 1 << 20)
        calls.append(n)

    report = classify(path, on_hashed=shrink)
    assert report.status is Status.UNREADABLE
    assert "shrank while hashing" in report.reason
    assert calls == [1 << 20]


def test_file_replaced_during_the_read_is_judged_as_the_file_that_was_opened(tmp_path: Path) -> None:
    """An atomic rename mid-hash leaves the open fd on the old inode: one consistent verdict."""
    old_binary = os.urandom(3 << 20)
    path = write_bundle(tmp_path / "b", {"old_dag": ["t"]}, binary=old_binary)
    replacement = write_bundle(tmp_path / "new", {"new_dag": ["t"]})
    replaced = []

    def swap(_: int) -> None:
        if not replaced:
            os.replace(replacement, path)
            replaced.append(True)

    report = classify(path, on_hashed=swap)
    assert report.status is Status.OK
    assert report.actual_sha256 == hashlib.sha256(old_binary).hexdigest()
    assert report.dags == {"old_dag": ["t"]}
    assert classify(path).dags == {"new_dag": ["t"]}


def test_vanished_between_walk_and_open(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b")
    st = os.stat(path)
    path.unlink()
    report = read_path(str(path), path_stat=st, versions=VERSIONS, require_executable=False).report
    assert report.status is Status.UNREADABLE
    assert "vanished" in report.reason


def test_dangling_symlink_is_unreadable(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing")
    report = classify(link)
    assert report.status is Status.UNREADABLE
    assert "symlink to nothing" in report.reason


def test_executable_but_unreadable_file_is_reported_not_crashed(tmp_path: Path) -> None:
    """Permission denied for real: root runs the check without its DAC-override capabilities."""
    directory = Path(tempfile.mkdtemp(prefix="bundle-perm-"))
    try:
        path = write_bundle(directory / "locked", mode=0o111)
        code = (
            "import json, sys\n"
            "from console.bundles.reader import read_path\n"
            "from console.bundles.schema_versions import SchemaVersions\n"
            "r = read_path(sys.argv[1], versions=SchemaVersions(use_airflow=False)).report\n"
            "print(json.dumps([r.status.value, r.reason]))\n"
        )
        command = python_command(code, str(path))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=True, timeout=60).stdout
        status, reason = json.loads(out)
        assert status == "unreadable"
        assert "permission denied" in reason
    finally:
        shutil.rmtree(directory)


def test_hash_region_reports_progress_per_chunk(tmp_path: Path) -> None:
    data = os.urandom((5 << 20) + 17)
    path = write_file(tmp_path / "blob", data)
    seen: list[int] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        digest = hash_region(fd, len(data) - 17, on_hashed=seen.append)
    finally:
        os.close(fd)
    assert digest == hashlib.sha256(data[:-17]).digest()
    assert sum(seen) == len(data) - 17 and len(seen) == 5


def test_magic_alone_is_not_enough_to_be_trusted(tmp_path: Path) -> None:
    """A file that merely ends in the magic, with garbage before it, never reads as ok."""
    data = os.urandom(200) + MAGIC
    report = classify(write_file(tmp_path / "fake", data))
    assert report.status is not Status.OK and report.status.is_rejection
