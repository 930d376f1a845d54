"""Property tests: whatever bytes a file holds, the reader returns exactly one known status and never raises."""

from __future__ import annotations

import hashlib
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.bundles.model import Status
from console.bundles.packer import bundle_bytes, make_manifest
from console.bundles.reader import read_path
from console.bundles.schema_versions import SchemaVersions
from console.bundles.trailer import MAGIC, TRAILER_SIZE, build_trailer

VERSIONS = SchemaVersions(use_airflow=False)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BINARY = b"\x7fELF-binary" * 3
GOOD = bundle_bytes(BINARY, b"package main\n", make_manifest({"etl": ["a", "b"]}))

U32 = st.one_of(
    st.sampled_from([0, 1, 63, 64, 65, len(GOOD) - 64, len(GOOD), 0x7FFFFFFF, 0xFFFFFFFF]),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
)


def classify_bytes(data: bytes, directory: str) -> object:
    path = os.path.join(directory, "candidate")
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o755)
    return read_path(path, versions=VERSIONS).report


def check(report) -> None:
    assert isinstance(report.status, Status)
    assert isinstance(report.reason, str) and report.reason and "\n" not in report.reason
    if report.status is Status.OK:
        assert report.actual_sha256 == report.binary_sha256
        assert report.source_start is not None and report.source_start > 0
        assert report.schema_version == "2026-06-16"
    if report.status is Status.NOT_BUNDLE:
        assert report.binary_sha256 is None


@SETTINGS
@given(st.binary(max_size=400))
def test_random_files(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        check(classify_bytes(data, d))


@SETTINGS
@given(st.binary(max_size=300), st.binary(min_size=TRAILER_SIZE - 8, max_size=TRAILER_SIZE - 8))
def test_random_trailers_with_the_magic(body: bytes, fields: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        check(classify_bytes(body + fields + MAGIC, d))


@SETTINGS
@given(U32, U32, st.sampled_from([0, 1, 2, 0xFFFFFFFF]), st.booleans(), st.booleans())
def test_lying_trailer_fields(source_len: int, metadata_len: int, footer_ver: int, keep_digest: bool, zero_reserved: bool) -> None:
    head = GOOD[:-TRAILER_SIZE]
    digest = GOOD[-52:-20] if keep_digest else hashlib.sha256(head).digest()
    reserved = bytes(12) if zero_reserved else b"\x00" * 11 + b"\x01"
    data = head + build_trailer(source_len, metadata_len, digest, footer_ver=footer_ver, reserved=reserved)
    with tempfile.TemporaryDirectory() as d:
        report = classify_bytes(data, d)
    check(report)
    if footer_ver != 1:
        assert report.status is Status.UNSUPPORTED_FOOTER_VERSION
    elif not zero_reserved:
        assert report.status is Status.RESERVED_NONZERO
    elif source_len + metadata_len >= len(head):
        assert report.status is Status.BAD_REGIONS


@SETTINGS
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(GOOD) - 1), st.integers(min_value=1, max_value=255)), min_size=1, max_size=6))
def test_mutated_bundles(flips: list[tuple[int, int]]) -> None:
    data = bytearray(GOOD)
    for offset, mask in flips:
        data[offset] ^= mask
    with tempfile.TemporaryDirectory() as d:
        report = classify_bytes(bytes(data), d)
    check(report)
    binary_changed = data[: len(BINARY)] != BINARY
    rest_unchanged = data[len(BINARY) :] == GOOD[len(BINARY) :]
    if binary_changed and rest_unchanged:
        assert report.status is Status.HASH_MISMATCH
    if not binary_changed and rest_unchanged:
        assert report.status is Status.OK


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_manifest_text(text: str) -> None:
    data = bundle_bytes(b"\x7fELF", b"", text.encode("utf-8"))
    with tempfile.TemporaryDirectory() as d:
        report = classify_bytes(data, d)
    check(report)
    assert report.status in {
        Status.OK,
        Status.METADATA_UNDECODABLE,
        Status.METADATA_NOT_MAPPING,
        Status.SCHEMA_VERSION_MISSING,
        Status.SCHEMA_VERSION_UNKNOWN,
    }

