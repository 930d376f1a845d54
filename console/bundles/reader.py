"""Classify one file as Airflow's coordinator would, with one status and a reason a person can act on.

The file is opened once: the fd is stat'ed, the trailer, the binary-region hash (on a digest-cache
miss) and the manifest are all read through it, so a bundle replaced mid-scan is judged as one
consistent file. Reads never go past the size the fd reported, whatever the trailer claims, and the
manifest read is capped. Bundles are only ever read, never executed.

A report is remembered under the file's full identity (see ``digest_cache``), so an unchanged file
is answered without opening it. Whatever goes wrong inside, a file gets a report: an unexpected
error becomes its ``scan_error`` status with the reason, never a missing entry or a crashed scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .digest_cache import DigestCache, digest_key, file_key
from .model import BundleReport, ScanCancelled, Status
from .schema_versions import SchemaVersions, UnknownSchemaVersion
from .trailer import FOOTER_VERSION, MAGIC, TRAILER_SIZE, Trailer

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:  # the manifest module (YAML, JSON Schema) loads when a manifest is read, not for a cached report
    from .manifest import Manifest

METADATA_CAP = 16 << 20
REASON_LIMIT = 240
HASH_CHUNK = 1 << 20

OnHashed = Callable[[int], None]

_buffers = threading.local()


class ShortRead(Exception):
    """The file ended before the bytes its stat promised: it was truncated or replaced in place."""

    def __init__(self, got: int, wanted: int) -> None:
        super().__init__(f"read {got} of {wanted} bytes")
        self.got = got
        self.wanted = wanted


@dataclass
class Reading:
    """A report plus the raw regions a caller asked to keep (manifest bytes, a bounded source prefix)."""

    report: BundleReport
    trailer: Trailer | None = None
    manifest: Manifest | None = None
    metadata: bytes | None = None
    source: bytes | None = None


def read_path(
    path: str,
    *,
    root: str = "",
    path_stat: os.stat_result | None = None,
    versions: SchemaVersions,
    digests: DigestCache | None = None,
    metadata_cap: int = METADATA_CAP,
    on_hashed: OnHashed | None = None,
    keep_regions: bool = False,
    source_cap: int = 0,
    require_executable: bool = True,
) -> Reading:
    """Classify the file at ``path``; ``path_stat`` is the walker's stat (following symlinks), if it has one.

    Never raises except ``ScanCancelled`` (and what is not an ``Exception``, like KeyboardInterrupt).
    """
    try:
        return _read_path(
            path,
            root=root,
            path_stat=path_stat,
            versions=versions,
            digests=digests,
            metadata_cap=metadata_cap,
            on_hashed=on_hashed,
            keep_regions=keep_regions,
            source_cap=source_cap,
            require_executable=require_executable,
        )
    except ScanCancelled:
        raise
    except Exception as exc:
        return Reading(scan_error(path, root, exc))


def scan_error(path: str, root: str, exc: BaseException) -> BundleReport:
    """The report for a file whose reading failed in a way the reader did not foresee."""
    try:
        detail = " ".join(str(exc).split())
    except Exception:  # even the message of an exception can fail to print
        detail = ""
    reason = f"unexpected error while reading: {type(exc).__name__}{': ' + detail if detail else ''}"
    if len(reason) > REASON_LIMIT:
        reason = reason[: REASON_LIMIT - 1] + "…"
    return BundleReport(path, Status.SCAN_ERROR, reason, root=root)


def _read_path(
    path: str,
    *,
    root: str,
    path_stat: os.stat_result | None,
    versions: SchemaVersions,
    digests: DigestCache | None,
    metadata_cap: int,
    on_hashed: OnHashed | None,
    keep_regions: bool,
    source_cap: int,
    require_executable: bool,
) -> Reading:
    if path_stat is None:
        try:
            path_stat = os.stat(path)
        except OSError as exc:
            return Reading(stat_failure(path, root, exc))
    executable = os.access(path, os.X_OK)
    if require_executable and not executable:
        report = BundleReport(
            path,
            Status.NOT_EXECUTABLE,
            "no execute permission for this user: Airflow skips it without reading",
            root=root,
            executable=False,
        )
        _fill_stat(report, path_stat)
        return Reading(report)
    absolute = os.path.abspath(path)
    if digests is not None and not keep_regions and metadata_cap == METADATA_CAP:
        cached = digests.report(file_key(absolute, path_stat), versions.fingerprint)
        if cached is not None:
            cached.root = root
            cached.executable = executable
            return Reading(cached)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        report = BundleReport(path, Status.UNREADABLE, _open_failure(exc), root=root, executable=executable)
        _fill_stat(report, path_stat)
        return Reading(report)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            report = BundleReport(
                path, Status.UNREADABLE, "no longer a regular file (replaced during the scan)", root=root
            )
            _fill_stat(report, st)
            return Reading(report)
        reading = read_bundle(
            fd,
            path,
            st,
            root=root,
            versions=versions,
            digests=digests,
            metadata_cap=metadata_cap,
            on_hashed=on_hashed,
            keep_regions=keep_regions,
            source_cap=source_cap,
        )
        reading.report.executable = executable
        report = reading.report
        if digests is not None and metadata_cap == METADATA_CAP and report.status not in _NOT_REMEMBERED:
            digests.put_report(file_key(absolute, st), versions.fingerprint, report)
        return reading
    finally:
        os.close(fd)


def read_bundle(
    fd: int,
    path: str,
    st: os.stat_result,
    *,
    root: str = "",
    versions: SchemaVersions,
    digests: DigestCache | None = None,
    metadata_cap: int = METADATA_CAP,
    on_hashed: OnHashed | None = None,
    keep_regions: bool = False,
    source_cap: int = 0,
) -> Reading:
    """Classify the open regular file ``fd`` whose ``fstat`` is ``st``; never raises for file content."""
    report = BundleReport(path, Status.OK, "", root=root)
    _fill_stat(report, st)
    reading = Reading(report)
    size = st.st_size

    def finish(status: Status, reason: str) -> Reading:
        report.status = status
        report.reason = reason
        return reading

    if size < TRAILER_SIZE:
        return finish(Status.NOT_BUNDLE, f"{size} bytes: smaller than the {TRAILER_SIZE}-byte trailer")
    try:
        trailer = Trailer.parse(_pread_exact(fd, TRAILER_SIZE, size - TRAILER_SIZE))
    except ShortRead as exc:
        return finish(Status.UNREADABLE, f"file shrank while reading the trailer ({exc}): replaced during the scan")
    except OSError as exc:
        return finish(Status.UNREADABLE, f"cannot read the trailer: {_os_error(exc)}")
    if not trailer.has_magic:
        return finish(Status.NOT_BUNDLE, f"no {MAGIC.decode()} magic in the last 8 bytes")
    reading.trailer = trailer
    report.footer_ver = trailer.footer_ver
    report.source_len = trailer.source_len
    report.metadata_len = trailer.metadata_len
    report.binary_sha256 = trailer.binary_sha256.hex()
    if trailer.footer_ver != FOOTER_VERSION:
        return finish(
            Status.UNSUPPORTED_FOOTER_VERSION,
            f"footer_ver={trailer.footer_ver}; Airflow reads only footer_ver={FOOTER_VERSION} and rejects others",
        )
    if not trailer.reserved_is_zero:
        return finish(Status.RESERVED_NONZERO, f"reserved trailer bytes 44..55 must be zero, found {trailer.reserved.hex()}")
    regions = trailer.regions(size)
    if regions.source_start < 0:
        return finish(
            Status.BAD_REGIONS,
            f"trailer declares source_len={trailer.source_len:,} + metadata_len={trailer.metadata_len:,} bytes "
            f"but only {regions.trailer_start:,} bytes precede the trailer",
        )
    if regions.source_start == 0:
        return finish(
            Status.BAD_REGIONS,
            "source and metadata regions fill the whole file: no binary region is left",
        )
    report.source_start = regions.source_start
    report.metadata_start = regions.metadata_start

    key = digest_key(os.path.abspath(path), regions.source_start, st)
    actual = digests.get(key) if digests is not None else None
    report.digest_cached = actual is not None
    if actual is None:
        try:
            actual = hash_region(fd, regions.source_start, on_hashed=on_hashed)
        except ShortRead as exc:
            return finish(
                Status.UNREADABLE, f"file shrank while hashing the binary region ({exc}): replaced or truncated during the scan"
            )
        except OSError as exc:
            return finish(Status.UNREADABLE, f"cannot read the binary region: {_os_error(exc)}")
        if digests is not None:
            digests.put(key, actual)
    report.actual_sha256 = actual.hex()

    if keep_regions and source_cap > 0 and trailer.source_len > 0:
        try:
            reading.source = _pread_exact(fd, min(trailer.source_len, source_cap), regions.source_start)
        except (OSError, ShortRead):
            reading.source = None

    manifest_status, manifest_reason = _read_manifest(fd, reading, regions.metadata_start, metadata_cap, keep_regions)

    if actual != trailer.binary_sha256:
        return finish(
            Status.HASH_MISMATCH,
            f"binary region [0, {regions.source_start:,}) hashes to {actual.hex()}, "
            f"trailer expects {trailer.binary_sha256.hex()}",
        )
    if manifest_status is not None:
        return finish(manifest_status, manifest_reason)
    assert reading.manifest is not None
    from .manifest import schema_version_problem

    version, problem = schema_version_problem(reading.manifest.data.get("sdk"))
    if version is None:
        return finish(Status.SCHEMA_VERSION_MISSING, problem or "sdk.supervisor_schema_version is missing")
    try:
        report.schema_version = versions.resolve(version)
    except UnknownSchemaVersion as exc:
        return finish(Status.SCHEMA_VERSION_UNKNOWN, str(exc))
    dags = len(report.dags)
    return finish(Status.OK, f"verified; {dags} dag{'s' if dags != 1 else ''}, schema {report.schema_version}")


def hash_region(fd: int, length: int, *, on_hashed: OnHashed | None = None, chunk: int = HASH_CHUNK) -> bytes:
    """SHA-256 of bytes ``[0, length)`` of ``fd``; hashlib releases the GIL, so threads hash in parallel."""
    buf = getattr(_buffers, "buf", None)
    if buf is None or len(buf) != chunk:
        buf = _buffers.buf = memoryview(bytearray(chunk))
    with contextlib.suppress(AttributeError, OSError):
        os.posix_fadvise(fd, 0, length, os.POSIX_FADV_SEQUENTIAL)
    os.lseek(fd, 0, os.SEEK_SET)
    digest = hashlib.sha256()
    done = 0
    while done < length:
        want = min(chunk, length - done)
        n = os.readv(fd, [buf[:want]])
        if n <= 0:
            raise ShortRead(done, length)
        digest.update(buf[:n])
        done += n
        if on_hashed is not None:
            on_hashed(n)
    return digest.digest()


def _read_manifest(
    fd: int, reading: Reading, metadata_start: int, cap: int, keep: bool
) -> tuple[Status | None, str]:
    """Load the manifest into ``reading``; return the failing status and reason, or ``(None, "")``."""
    from .manifest import ManifestError, parse_manifest

    report = reading.report
    assert report.metadata_len is not None
    if report.metadata_len > cap:
        return Status.METADATA_TOO_LARGE, (
            f"metadata_len={report.metadata_len:,} bytes exceeds the {cap >> 20} MiB cap; manifest not read"
        )
    try:
        raw = _pread_exact(fd, report.metadata_len, metadata_start)
    except ShortRead as exc:
        return Status.UNREADABLE, f"file shrank while reading the manifest ({exc}): replaced during the scan"
    except OSError as exc:
        return Status.UNREADABLE, f"cannot read the manifest: {_os_error(exc)}"
    if keep:
        reading.metadata = raw
    try:
        manifest = parse_manifest(raw)
    except ManifestError as exc:
        return exc.status, exc.reason
    reading.manifest = manifest
    report.source_name = manifest.source_name
    report.sdk = manifest.sdk
    report.dags = manifest.dags
    report.warnings = manifest.warnings
    return None, ""


def _pread_exact(fd: int, n: int, offset: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        part = os.pread(fd, min(n - got, HASH_CHUNK * 4), offset + got)
        if not part:
            raise ShortRead(got, n)
        parts.append(part)
        got += len(part)
    return b"".join(parts)


_NOT_REMEMBERED = (Status.UNREADABLE, Status.SCAN_ERROR)


def _fill_stat(report: BundleReport, st: os.stat_result) -> None:
    report.size = st.st_size
    report.mtime_ns = st.st_mtime_ns
    report.ctime_ns = st.st_ctime_ns
    report.ino = st.st_ino
    report.dev = st.st_dev


def _os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def stat_failure(path: str, root: str, exc: OSError) -> BundleReport:
    """The report for a directory entry that could not even be stat'ed."""
    if isinstance(exc, FileNotFoundError):
        reason = "vanished during the scan, or a symlink to nothing"
    else:
        reason = f"cannot stat: {_os_error(exc)}"
    return BundleReport(path, Status.UNREADABLE, reason, root=root)


def _open_failure(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied: executable but not readable, so it cannot be verified"
    if isinstance(exc, FileNotFoundError):
        return "vanished during the scan"
    return f"cannot open: {_os_error(exc)}"
