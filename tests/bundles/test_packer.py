"""The packer follows the spec's build-pipeline rules and refuses inputs that make useless bundles."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml

from console.bundles.model import Status
from console.bundles.packer import PackError, bundle_bytes, canonical_manifest, load_manifest_file, make_manifest, pack
from console.bundles.reader import read_path
from console.bundles.schema_versions import SchemaVersions
from console.bundles.trailer import Trailer

from .builders import BINARY, write_file


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    exe = write_file(tmp_path / "app", BINARY + os.urandom(5000), mode=0o750)
    src = tmp_path / "main.go"
    src.write_bytes(b"package main\n// caf\xc3\xa9\n")
    manifest = tmp_path / "airflow-metadata.yaml"
    manifest.write_text(
        "dags:\n  etl: {tasks: [extract, load]}\nsdk: {version: '0.1.0', language: go, supervisor_schema_version: '2026-06-16'}\n"
        "airflow_bundle_metadata_version: '1.0'\nextra_key: kept\n"
    )
    return exe, src, manifest


def test_packed_bundle_is_verified_by_the_reader_and_byte_identical_on_repeat(tmp_path: Path, inputs) -> None:
    exe, src, manifest_path = inputs
    manifest, warnings = load_manifest_file(manifest_path, source_name=src.name)
    assert warnings == []
    out1 = pack(exe, tmp_path / "bundle1", manifest=manifest, source=src)
    out2 = pack(exe, tmp_path / "bundle2", manifest=manifest, source=src)
    data = out1.out.read_bytes()
    assert data == out2.out.read_bytes()
    binary = exe.read_bytes()
    assert data == bundle_bytes(binary, src.read_bytes(), manifest)
    assert out1.binary_sha256 == hashlib.sha256(binary).hexdigest()
    trailer = Trailer.parse(data[-64:])
    assert (trailer.source_len, trailer.metadata_len) == (out1.source_len, out1.metadata_len)
    embedded = yaml.safe_load(data[len(binary) + out1.source_len : -64])
    assert embedded["source"] == "main.go" and embedded["extra_key"] == "kept"
    assert list(embedded) == sorted(embedded)
    report = read_path(str(out1.out), versions=SchemaVersions(use_airflow=False)).report
    assert report.status is Status.OK and report.dags == {"etl": ["extract", "load"]}


def test_permission_bits_are_preserved(tmp_path: Path, inputs) -> None:
    exe, _, manifest_path = inputs
    manifest, _ = load_manifest_file(manifest_path)
    assert pack(exe, tmp_path / "x", manifest=manifest).out.stat().st_mode & 0o7777 == 0o750
    os.chmod(exe, 0o644)
    assert pack(exe, tmp_path / "y", manifest=manifest).out.stat().st_mode & 0o7777 == 0o644


def test_packing_in_place_replaces_the_executable_atomically(tmp_path: Path, inputs) -> None:
    exe, src, manifest_path = inputs
    original = exe.read_bytes()
    manifest, _ = load_manifest_file(manifest_path, source_name="main.go")
    pack(exe, exe, manifest=manifest, source=src)
    assert exe.read_bytes().startswith(original) and exe.read_bytes()[-8:] == b"AFBNDL01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["airflow-metadata.yaml", "app", "main.go"]
    with pytest.raises(PackError, match="already ends with an AFBNDL01 trailer"):
        pack(exe, tmp_path / "again", manifest=manifest)


def test_canonical_manifest_is_sorted_block_yaml() -> None:
    text = canonical_manifest({"z": 1, "a": {"y": 2, "b": [1]}}).decode()
    assert text == "a:\n  b:\n  - 1\n  y: 2\nz: 1\n"


@pytest.mark.parametrize(
    ("manifest_text", "message"),
    [
        ("dags: {}\nsdk: {supervisor_schema_version: '2026-06-16'}\n", "dags must map at least one dag_id"),
        ("dags: {etl: {tasks: []}}\nsdk: {supervisor_schema_version: 2026-06-16}\n", "YAML date"),
        ("dags: {etl: {tasks: []}}\n", "sdk is missing"),
        ("- just\n- a list\n", "not a mapping"),
        ("dags: [\n", "not valid YAML"),
    ],
    ids=["no-dags", "unquoted-date", "no-sdk", "list", "bad-yaml"],
)
def test_manifests_airflow_could_never_use_are_refused(tmp_path: Path, manifest_text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(manifest_text)
    with pytest.raises(PackError, match=message) as info:
        load_manifest_file(path)
    assert "\n" not in str(info.value)


def test_schema_findings_are_warnings_not_refusals(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    manifest = make_manifest({"etl": ["t"]}, language="Go")
    path.write_bytes(canonical_manifest(manifest))
    _, warnings = load_manifest_file(path)
    assert [w.path for w in warnings] == ["$.sdk.language"]


@pytest.mark.parametrize("case", ["missing", "empty", "directory-out", "missing-out-dir"])
def test_bad_inputs_fail_with_one_line_and_leave_nothing_behind(tmp_path: Path, case: str) -> None:
    manifest = make_manifest({"etl": ["t"]})
    exe = write_file(tmp_path / "app", BINARY)
    out = tmp_path / "out"
    if case == "missing":
        exe = tmp_path / "nope"
    elif case == "empty":
        write_file(exe, b"")
    elif case == "directory-out":
        out.mkdir()
    else:
        out = tmp_path / "no-such-dir" / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(PackError) as info:
        pack(exe, out, manifest=manifest)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
