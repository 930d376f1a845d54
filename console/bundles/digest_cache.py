"""Digests and whole per-file reports remembered across console processes, so unchanged files cost a stat.

Keys are Airflow's digest-cache key made stricter: ``(path, source_start, st_dev, st_ino, st_size,
st_mtime_ns, st_ctime_ns)`` for a binary-region digest, and the same without ``source_start`` (which
the file's own bytes imply) for the whole report. ``ctime`` is there because a file rewritten in place
can have its size and mtime restored, but not its ctime; the device because inode numbers repeat
across filesystems. A cached report also depends on what judged it: reports from another console
version are dropped on load, and each report carries the fingerprint of the schema versions it was
resolved with, so a lookup with other accepted versions misses.

The cache only ever stores what this console computed itself, and a cache file that is malformed, too
large, or writable by anyone but its owner is discarded whole, never trusted: a poisoned entry would
make a tampered bundle look verified. A file in the previous format is replaced without a warning.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from .. import __version__
from .model import BundleReport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every scan's start)
if TYPE_CHECKING:
    from typing import Any

DigestKey = tuple[str, int, int, int, int, int, int]
FileKey = tuple[str, int, int, int, int, int]

FILE_NAME = "bundle-digests.json"
FORMAT = "remsvc-console bundle digests"
FORMAT_VERSION = 2
DEFAULT_MAX_ENTRIES = 50_000
MAX_FILE_BYTES = 64 << 20
REPORT_NAMES_LIMIT = 5_000


@functools.cache
def program_fingerprint() -> str:
    """The console version plus a digest of the code and schema that judge bundles.

    Any change to how files are classified makes earlier reports stale, released or not.
    """
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in sorted([*here.glob("*.py"), *here.glob("*.json")]):
        with contextlib.suppress(OSError):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def file_key(path: str, st: os.stat_result) -> FileKey:
    """The identity of the file at absolute ``path`` as ``st`` saw it."""
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def digest_key(path: str, source_start: int, st: os.stat_result) -> DigestKey:
    return (path, source_start, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/remsvc-console`` (``~/.cache/remsvc-console`` when unset or relative)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "remsvc-console"


def default_cache_path(env: Mapping[str, str] | None = None) -> Path:
    return default_cache_dir(env) / FILE_NAME


class DigestCache:
    """A thread-safe bounded LRU of binary-region digests and per-file reports, optionally backed by a file."""

    def __init__(self, path: Path | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES, program: str | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = path
        self.max_entries = max_entries
        self.program = program if program is not None else program_fingerprint()
        self.discarded: str | None = None
        self._entries: OrderedDict[DigestKey, bytes] = OrderedDict()
        self._files: dict[FileKey, int] = {}
        self._reports: OrderedDict[FileKey, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._added = 0

    @classmethod
    def open(cls, path: Path | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES, program: str | None = None) -> DigestCache:
        """Load the persistent cache (default location when ``path`` is None); a bad file starts empty."""
        cache = cls(path or default_cache_path(), max_entries=max_entries, program=program)
        cache.load()
        return cache

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def report_count(self) -> int:
        with self._lock:
            return len(self._reports)

    def get(self, key: DigestKey) -> bytes | None:
        with self._lock:
            digest = self._entries.get(key)
            if digest is not None:
                self._entries.move_to_end(key)
            return digest

    def put(self, key: DigestKey, digest: bytes) -> None:
        if len(digest) != 32:
            raise ValueError("a SHA-256 digest is 32 bytes")
        with self._lock:
            if key not in self._entries:
                self._count(key, 1)
            self._entries[key] = digest
            self._entries.move_to_end(key)
            self._added += 1
            while len(self._entries) > self.max_entries:
                evicted, _ = self._entries.popitem(last=False)
                self._count(evicted, -1)

    def knows(self, key: FileKey) -> bool:
        """Whether some digest is held for this file as it now stands (any ``source_start``).

        A hint for scheduling only: a scan does cheap cached files in line and sends the rest to
        its hashing threads. The verdict itself always uses the full key.
        """
        with self._lock:
            return key in self._files

    def report(self, key: FileKey, fingerprint: str) -> BundleReport | None:
        """A fresh copy of the report stored for exactly this file identity and ``fingerprint``, or None."""
        with self._lock:
            stored = self._reports.get(key)
            if stored is None or stored[0] != fingerprint:
                return None
            self._reports.move_to_end(key)
            document = stored[1]
        try:
            report = BundleReport.from_cache(document)
        except (ValueError, TypeError, KeyError, AttributeError):
            with self._lock:
                self._reports.pop(key, None)
            return None
        report.report_cached = True
        report.digest_cached = report.actual_sha256 is not None
        return report

    def put_report(self, key: FileKey, fingerprint: str, report: BundleReport) -> None:
        """Remember ``report`` (one this console just computed) unless it is too big to be worth a cache line."""
        if sum(1 + len(tasks) for tasks in report.dags.values()) > REPORT_NAMES_LIMIT:
            return
        document = report.to_cache()
        with self._lock:
            self._reports[key] = [fingerprint, document]
            self._reports.move_to_end(key)
            self._added += 1
            while len(self._reports) > self.max_entries:
                self._reports.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._files.clear()
            self._reports.clear()

    def _count(self, key: DigestKey, delta: int) -> None:
        identity = (key[0], *key[2:])
        left = self._files.get(identity, 0) + delta
        if left > 0:
            self._files[identity] = left
        else:
            self._files.pop(identity, None)

    def load(self) -> None:
        """Replace the in-memory entries with the file's; record why a file was discarded."""
        if self.path is None:
            return
        entries, reports, why = _read_file(self.path, self.program)
        self.discarded = why
        with self._lock:
            self._entries = OrderedDict(list(entries.items())[-self.max_entries :])
            self._reports = OrderedDict(list(reports.items())[-self.max_entries :])
            self._files.clear()
            for key in self._entries:
                self._count(key, 1)
            self._added = 0

    def save(self) -> str | None:
        """Write atomically, merged with entries other processes saved meanwhile; return an error line or None."""
        if self.path is None:
            return None
        with self._lock:
            if self._added == 0 and self.discarded is None:
                return None
            ours = list(self._entries.items())
            our_reports = list(self._reports.items())
        on_disk, disk_reports, _ = _read_file(self.path, self.program)
        merged: OrderedDict[DigestKey, bytes] = OrderedDict(on_disk)
        for key, digest in ours:
            merged[key] = digest
            merged.move_to_end(key)
        merged_reports: OrderedDict[FileKey, Any] = OrderedDict(disk_reports)
        for file, document in our_reports:
            merged_reports[file] = document
            merged_reports.move_to_end(file)
        entries = [[*key, digest.hex()] for key, digest in list(merged.items())[-self.max_entries :]]
        reports = [[*file, document] for file, document in list(merged_reports.items())[-self.max_entries :]]
        document = {"format": FORMAT, "version": FORMAT_VERSION, "program": self.program, "entries": entries, "reports": reports}
        data = json.dumps(document, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            document["reports"] = []
            data = json.dumps(document, separators=(",", ":")).encode("utf-8")
        try:
            _atomic_write(self.path, data)
        except OSError as exc:
            return f"cannot save the digest cache {self.path}: {exc.strerror or exc}"
        with self._lock:
            self._added = 0
            self.discarded = None
        return None


def _read_file(path: Path, program: str) -> tuple[dict[DigestKey, bytes], dict[FileKey, Any], str | None]:
    """Entries and reports from ``path`` oldest first, or nothing plus the reason the file was not trusted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return {}, {}, None
    except OSError as exc:
        return {}, {}, f"digest cache {path} unreadable ({exc.strerror or exc}); discarded"
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return {}, {}, f"digest cache {path} is not a regular file; discarded"
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return {}, {}, f"digest cache {path} is not owned by you or is writable by others; discarded"
        if st.st_size > MAX_FILE_BYTES:
            return {}, {}, f"digest cache {path} is larger than {MAX_FILE_BYTES >> 20} MiB; discarded"
        raw = f.read(MAX_FILE_BYTES + 1)
    try:
        document = json.loads(raw)
        if isinstance(document, dict) and document.get("format") == FORMAT and document.get("version") == 1:
            return {}, {}, None
        entries, reports = _parse(document)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError):
        return {}, {}, f"digest cache {path} is corrupt; discarded"
    return entries, (reports if document["program"] == program else {}), None


def _parse(document: object) -> tuple[dict[DigestKey, bytes], dict[FileKey, Any]]:
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != FORMAT_VERSION:
        raise ValueError("not a digest cache document")
    entries, reports = document["entries"], document["reports"]
    if not isinstance(entries, list) or not isinstance(reports, list) or not isinstance(document["program"], str):
        raise ValueError("entries or reports is not a list")
    parsed: dict[DigestKey, bytes] = {}
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 8:
            raise ValueError("malformed entry")
        key = tuple(entry[:7])
        if not isinstance(key[0], str) or not all(type(n) is int and n >= 0 for n in key[1:]):
            raise ValueError("malformed key")
        hexdigest = entry[7]
        if not isinstance(hexdigest, str) or len(hexdigest) != 64:
            raise ValueError("malformed digest")
        parsed[key] = bytes.fromhex(hexdigest)  # type: ignore[index]
    parsed_reports: dict[FileKey, Any] = {}
    for entry in reports:
        if not isinstance(entry, list) or len(entry) != 7:
            raise ValueError("malformed report entry")
        stored = entry[6]
        if not isinstance(stored, list) or len(stored) != 2 or not isinstance(stored[0], str) or not isinstance(stored[1], list):
            raise ValueError("malformed report")
        file = tuple(entry[:6])
        if not isinstance(file[0], str) or not all(type(n) is int and n >= 0 for n in file[1:]):
            raise ValueError("malformed report key")
        parsed_reports[file] = entry[6]  # type: ignore[index]
    return parsed, parsed_reports


def _atomic_write(path: Path, data: bytes) -> None:
    import tempfile  # only a scan that learned something writes

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
