"""One bundle opened for display: its report, manifest text and embedded source, all bounded and inert.

The Bundles pane and ``bundles inspect`` show source and manifest text from files anyone with write
access to a bundle directory controls, so the source arrives here already made inert, with flags
saying what was changed on the way.
"""

from __future__ import annotations

import codecs

from ..safetext import decode_lenient, inert, is_inert
from .digest_cache import DigestCache
from .model import BundleDetail, SourceView, Status
from .reader import METADATA_CAP, read_path
from .schema_versions import SchemaVersions

SOURCE_CAP = 4 << 20


def load_detail(
    path: str,
    *,
    root: str = "",
    versions: SchemaVersions | None = None,
    digests: DigestCache | None = None,
    source_cap: int = SOURCE_CAP,
    metadata_cap: int = METADATA_CAP,
) -> BundleDetail:
    """Read ``path`` in full (even when it is not executable: inspecting is not running)."""
    reading = read_path(
        path,
        root=root,
        versions=versions or SchemaVersions(),
        digests=digests,
        metadata_cap=metadata_cap,
        keep_regions=True,
        source_cap=source_cap,
        require_executable=False,
    )
    report = reading.report
    if not report.executable and report.status is not Status.UNREADABLE:
        report.reason = f"Airflow skips it without reading (no execute permission); content: {report.status.value}: {report.reason}"
        report.status = Status.NOT_EXECUTABLE
    manifest_text = None
    manifest_invalid = False
    if reading.metadata is not None:
        manifest_text, manifest_invalid = decode_lenient(reading.metadata)
    source = None
    if report.source_len is not None and report.source_start is not None:
        source = source_view(report.source_name, reading.source or b"", report.source_len)
    return BundleDetail(report=report, manifest_text=manifest_text, manifest_invalid_utf8=manifest_invalid, source=source)


def source_view(name: str | None, prefix: bytes, total_len: int) -> SourceView:
    """Decode a source prefix for display: invalid UTF-8 becomes U+FFFD, control characters visible symbols."""
    if total_len == 0:
        return SourceView(name=name, length=0, text="(source not available)")
    truncated = len(prefix) < total_len
    text, invalid = _decode_prefix(prefix) if truncated else decode_lenient(prefix)
    text = text.replace("\r\n", "\n")
    controls = not is_inert(text)
    return SourceView(
        name=name,
        length=total_len,
        text=inert(text),
        invalid_utf8=invalid,
        had_controls=controls,
        truncated=truncated,
    )


def _decode_prefix(prefix: bytes) -> tuple[str, bool]:
    """Like ``decode_lenient`` but a multi-byte character cut by the cap is dropped, not flagged."""
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(prefix, final=False), False
    except UnicodeDecodeError:
        return codecs.getincrementaldecoder("utf-8")("replace").decode(prefix, final=False), True
