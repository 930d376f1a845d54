"""The 64-byte trailer: exact byte layout, round trips, and the region arithmetic the reader relies on."""

from __future__ import annotations

import hashlib
import struct

import pytest

from console.bundles.trailer import MAGIC, TRAILER_SIZE, Trailer, build_trailer


def test_layout_matches_the_spec_byte_for_byte() -> None:
    digest = hashlib.sha256(b"binary").digest()
    raw = build_trailer(0x01020304, 0x0A0B0C0D, digest)
    assert len(raw) == TRAILER_SIZE == 64
    assert raw[0:4] == struct.pack("<I", 0x01020304) == b"\x04\x03\x02\x01"
    assert raw[4:8] == b"\x0d\x0c\x0b\x0a"
    assert raw[8:12] == b"\x01\x00\x00\x00"
    assert raw[12:44] == digest
    assert raw[44:56] == bytes(12)
    assert raw[56:64] == b"AFBNDL01" == MAGIC


def test_parse_round_trips_every_field() -> None:
    digest = bytes(range(32))
    raw = build_trailer(7, 9, digest, footer_ver=3, reserved=b"\x01" * 12, magic=b"NOTMAGIC")
    trailer = Trailer.parse(raw)
    assert (trailer.source_len, trailer.metadata_len, trailer.footer_ver) == (7, 9, 3)
    assert trailer.binary_sha256 == digest
    assert trailer.reserved == b"\x01" * 12 and not trailer.reserved_is_zero
    assert trailer.magic == b"NOTMAGIC" and not trailer.has_magic
    assert trailer.to_bytes() == raw


def test_regions_are_counted_back_from_the_end_of_the_file() -> None:
    trailer = Trailer(source_len=10, metadata_len=20, footer_ver=1, binary_sha256=bytes(32))
    regions = trailer.regions(1000)
    assert regions.trailer_start == 936
    assert regions.metadata_start == 916
    assert regions.source_start == regions.binary_len == 906
    assert regions.valid


@pytest.mark.parametrize(("file_size", "valid"), [(94, False), (95, True), (93, False)])
def test_a_binary_region_must_be_left_before_the_source(file_size: int, valid: bool) -> None:
    trailer = Trailer(source_len=10, metadata_len=20, footer_ver=1, binary_sha256=bytes(32))
    assert trailer.regions(file_size).valid is valid


def test_parse_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        Trailer.parse(b"\x00" * 63)


@pytest.mark.parametrize("bad", [{"source_len": -1}, {"metadata_len": 1 << 32}, {"binary_sha256": b"short"}])
def test_building_refuses_values_the_fields_cannot_hold(bad: dict) -> None:
    fields = {"source_len": 1, "metadata_len": 1, "footer_ver": 1, "binary_sha256": bytes(32), **bad}
    with pytest.raises(ValueError):
        Trailer(**fields).to_bytes()
