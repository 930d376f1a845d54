"""Typed results the bundle services hand to the CLI and the Bundles pane.

A ``BundleReport`` is one file's verdict (exactly one ``Status`` plus a human reason) and every
trailer and manifest fact that explains it; ``ScanResult`` is one walk over the roots in the order
Airflow's coordinator would meet the files, which is what dag_id resolution depends on.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:
    from typing import Any


class ScanCancelled(Exception):
    """Raised inside a reader or worker to stop hashing once the caller cancelled the scan."""


class Status(str, enum.Enum):
    """Why a file is, or is not, a bundle Airflow would run."""

    OK = "ok"
    NOT_BUNDLE = "not_bundle"
    NOT_EXECUTABLE = "not_executable"
    UNSUPPORTED_FOOTER_VERSION = "unsupported_footer_version"
    RESERVED_NONZERO = "reserved_nonzero"
    BAD_REGIONS = "bad_regions"
    HASH_MISMATCH = "hash_mismatch"
    METADATA_TOO_LARGE = "metadata_too_large"
    METADATA_TOO_COMPLEX = "metadata_too_complex"
    METADATA_UNDECODABLE = "metadata_undecodable"
    METADATA_NOT_MAPPING = "metadata_not_mapping"
    SCHEMA_VERSION_MISSING = "schema_version_missing"
    SCHEMA_VERSION_UNKNOWN = "schema_version_unknown"
    UNREADABLE = "unreadable"
    SCAN_ERROR = "scan_error"

    @property
    def is_rejection(self) -> bool:
        """A file that claims to be (or may be) a bundle but that Airflow will not run."""
        return self not in (Status.OK, Status.NOT_BUNDLE, Status.NOT_EXECUTABLE)

    @property
    def is_ignored(self) -> bool:
        """Files Airflow passes over silently; listings omit them unless asked for everything."""
        return self in (Status.NOT_BUNDLE, Status.NOT_EXECUTABLE)

    @property
    def coordinator_sees_dags(self) -> bool:
        """The coordinator matches dag_ids only for bundles whose manifest it could load."""
        return self in (Status.OK, Status.SCHEMA_VERSION_MISSING, Status.SCHEMA_VERSION_UNKNOWN)


@dataclass(frozen=True)
class ValidationWarning:
    """One JSON Schema finding in a manifest; ``path`` is a JSON path such as ``$.sdk.language``."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class BundleReport:
    """Everything one read of one file established, in a shape both the CLI and the pane render."""

    path: str
    status: Status
    reason: str
    root: str = ""
    size: int | None = None
    mtime_ns: int | None = None
    ino: int | None = None
    dev: int | None = None
    ctime_ns: int | None = None
    executable: bool = True
    footer_ver: int | None = None
    source_len: int | None = None
    metadata_len: int | None = None
    source_start: int | None = None
    metadata_start: int | None = None
    binary_sha256: str | None = None
    actual_sha256: str | None = None
    digest_cached: bool = False
    report_cached: bool = False
    source_name: str | None = None
    sdk: dict[str, str | None] = field(default_factory=dict)
    schema_version: str | None = None
    dags: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[ValidationWarning] = field(default_factory=list)

    @property
    def identity(self) -> tuple[int | None, int | None, int | None, int | None, int | None]:
        """What changes when a file is replaced or rewritten: (dev, inode, mtime_ns, ctime_ns, size).

        ``ctime`` is in it because a rewrite in place can restore the mtime but never the ctime.
        """
        return (self.dev, self.ino, self.mtime_ns, self.ctime_ns, self.size)

    def to_cache(self) -> list[Any]:
        """Every field in declaration order as JSON-ready values, for the report cache (compact to load)."""
        values = [getattr(self, name) for name in _REPORT_FIELD_NAMES]
        values[_STATUS] = self.status.value
        values[_SDK] = dict(self.sdk)
        values[_DAGS] = {dag_id: list(tasks) for dag_id, tasks in self.dags.items()}
        values[_WARNINGS] = [[w.path, w.message] for w in self.warnings]
        return values

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "root": self.root or None,
            "status": self.status.value,
            "reason": self.reason,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "source_name": self.source_name,
            "source_len": self.source_len,
            "metadata_len": self.metadata_len,
            "footer_ver": self.footer_ver,
            "binary_sha256": self.binary_sha256,
            "actual_sha256": self.actual_sha256,
            "schema_version": self.schema_version,
            "sdk": dict(self.sdk),
            "dags": {dag_id: list(tasks) for dag_id, tasks in self.dags.items()},
            "warnings": [w.to_json() for w in self.warnings],
        }

    @classmethod
    def from_cache(cls, values: Any) -> BundleReport:
        """A report written by ``to_cache``; anything else raises ``ValueError`` (or TypeError)."""
        if type(values) is not list or len(values) != len(_REPORT_TYPES):
            raise ValueError("not a cached report")
        for value, kind in zip(values, _REPORT_TYPES):
            if not isinstance(value, kind):
                raise ValueError("a cached report field is malformed")
        for tasks in values[_DAGS].values():
            if type(tasks) is not list or not all(type(t) is str for t in tasks):
                raise ValueError("cached report dags are malformed")
        if not all(v is None or type(v) is str for v in values[_SDK].values()):
            raise ValueError("cached report sdk is malformed")
        report = cls(*values)
        report.status = Status(values[_STATUS])
        report.warnings = [ValidationWarning(str(path), str(message)) for path, message in values[_WARNINGS]]
        return report


_REPORT_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(BundleReport))
_OPT_INT = (int, type(None))
_OPT_STR = (str, type(None))
_FIELD_TYPES: dict[str, Any] = {
    "path": str, "status": str, "reason": str, "root": str, "executable": bool, "digest_cached": bool,
    "report_cached": bool, "sdk": dict, "dags": dict, "warnings": list,
    "binary_sha256": _OPT_STR, "actual_sha256": _OPT_STR, "source_name": _OPT_STR, "schema_version": _OPT_STR,
}
_REPORT_TYPES = tuple(_FIELD_TYPES.get(name, _OPT_INT) for name in _REPORT_FIELD_NAMES)
_STATUS, _SDK, _DAGS, _WARNINGS = (_REPORT_FIELD_NAMES.index(n) for n in ("status", "sdk", "dags", "warnings"))


@dataclass(frozen=True)
class SourceView:
    """The embedded source, decoded for display and already inert (safe to put on a terminal)."""

    name: str | None
    length: int
    text: str
    invalid_utf8: bool = False
    had_controls: bool = False
    truncated: bool = False

    @property
    def available(self) -> bool:
        return self.length > 0

    @property
    def extension(self) -> str:
        """Lower-case extension of the manifest's ``source`` name, which picks the highlighter."""
        name = self.name or ""
        base = name.rsplit("/", 1)[-1]
        return base.rsplit(".", 1)[-1].lower() if "." in base else ""


@dataclass(frozen=True)
class BundleDetail:
    """One bundle opened for reading in full: the report plus manifest text and source for display.

    ``manifest_text`` is raw decoded text (run it through ``console.safetext.inert`` before showing
    it); ``source.text`` is inert already.
    """

    report: BundleReport
    manifest_text: str | None
    manifest_invalid_utf8: bool
    source: SourceView | None


@dataclass(frozen=True)
class RootInfo:
    """One configured root and whether it could be walked; ``origin`` says where it was configured."""

    path: str
    origin: str
    exists: bool = True
    error: str | None = None


@dataclass(frozen=True)
class ScanProgress:
    """A snapshot posted while scanning; byte counts cover only files whose digest was not cached."""

    files_found: int
    files_done: int
    bytes_hashed: int
    walking: bool
    current: str | None = None


@dataclass
class ScanResult:
    """One walk's reports in coordinator order, plus what went wrong with the walk itself."""

    roots: list[RootInfo]
    bundles: list[BundleReport]
    walk_errors: list[str] = field(default_factory=list)
    bytes_hashed: int = 0
    cache_hits: int = 0
    reports_cached: int = 0
    elapsed_s: float = 0.0
    cancelled: bool = False

    def by_path(self) -> dict[str, BundleReport]:
        return {report.path: report for report in self.bundles}

    @property
    def rejected(self) -> list[BundleReport]:
        return [report for report in self.bundles if report.status.is_rejection]
