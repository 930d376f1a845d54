"""The 64-byte ``AFBNDL01`` trailer that ends every executable bundle, and the regions it implies.

Layout (little-endian): ``source_len`` u32, ``metadata_len`` u32, ``footer_ver`` u32, 32-byte
``binary_sha256``, 12 reserved bytes that must be zero, 8-byte magic ``AFBNDL01``. The file reads
``[binary][source][metadata][trailer]``; the trailer's lengths locate the two middle regions from the
end of the file, so everything here is arithmetic on the file size the caller stat'ed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"AFBNDL01"
TRAILER_SIZE = 64
FOOTER_VERSION = 1
RESERVED_ZERO = bytes(12)
MAX_REGION_LEN = 0xFFFFFFFF

_LAYOUT = struct.Struct("<III32s12s8s")
assert _LAYOUT.size == TRAILER_SIZE


@dataclass(frozen=True)
class Regions:
    """Byte offsets a trailer implies for a file of ``file_size`` bytes (possibly negative: invalid)."""

    file_size: int
    source_start: int
    metadata_start: int
    trailer_start: int

    @property
    def binary_len(self) -> int:
        return self.source_start

    @property
    def valid(self) -> bool:
        """The spec requires ``source_start >= 0`` and a non-empty binary region ``[0, source_start)``."""
        return self.source_start > 0


@dataclass(frozen=True)
class Trailer:
    """One parsed trailer, field for field; validity is judged by the reader, not here."""

    source_len: int
    metadata_len: int
    footer_ver: int
    binary_sha256: bytes
    reserved: bytes = RESERVED_ZERO
    magic: bytes = MAGIC

    @classmethod
    def parse(cls, raw: bytes) -> Trailer:
        if len(raw) != TRAILER_SIZE:
            raise ValueError(f"a trailer is {TRAILER_SIZE} bytes, got {len(raw)}")
        source_len, metadata_len, footer_ver, digest, reserved, magic = _LAYOUT.unpack(raw)
        return cls(source_len, metadata_len, footer_ver, digest, reserved, magic)

    def to_bytes(self) -> bytes:
        for name in ("source_len", "metadata_len", "footer_ver"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_REGION_LEN:
                raise ValueError(f"{name}={value} does not fit the trailer's unsigned 32-bit field")
        if len(self.binary_sha256) != 32:
            raise ValueError("binary_sha256 must be 32 bytes")
        if len(self.reserved) != 12 or len(self.magic) != 8:
            raise ValueError("reserved must be 12 bytes and magic 8 bytes")
        return _LAYOUT.pack(
            self.source_len, self.metadata_len, self.footer_ver, self.binary_sha256, self.reserved, self.magic
        )

    @property
    def has_magic(self) -> bool:
        return self.magic == MAGIC

    @property
    def reserved_is_zero(self) -> bool:
        return self.reserved == RESERVED_ZERO

    def regions(self, file_size: int) -> Regions:
        trailer_start = file_size - TRAILER_SIZE
        metadata_start = trailer_start - self.metadata_len
        return Regions(
            file_size=file_size,
            source_start=metadata_start - self.source_len,
            metadata_start=metadata_start,
            trailer_start=trailer_start,
        )


def build_trailer(
    source_len: int,
    metadata_len: int,
    binary_sha256: bytes,
    *,
    footer_ver: int = FOOTER_VERSION,
    reserved: bytes = RESERVED_ZERO,
    magic: bytes = MAGIC,
) -> bytes:
    """Serialise a trailer; the keyword overrides exist so tests can build every malformed variant."""
    return Trailer(source_len, metadata_len, footer_ver, binary_sha256, reserved, magic).to_bytes()
