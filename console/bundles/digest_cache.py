"""Binary-region digests remembered across console processes, so unchanged gigabytes are hashed once.

The key is Airflow's: ``(path, source_start, st_ino, st_mtime_ns, st_size)`` (with the absolute path,
since a persistent cache outlives the working directory). A replaced or rewritten file gets a new key
and is re-hashed. The cache only ever stores digests this console computed itself, and a cache file
that is malformed, too large, or writable by anyone but its owner is discarded whole, never trusted:
a poisoned entry would make a tampered bundle look verified.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

DigestKey = tuple[str, int, int, int, int]

FILE_NAME = "bundle-digests.json"
FORMAT = "remsvc-console bundle digests"
FORMAT_VERSION = 1
DEFAULT_MAX_ENTRIES = 50_000
MAX_FILE_BYTES = 64 << 20


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/remsvc-console`` (``~/.cache/remsvc-console`` when unset or relative)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "remsvc-console"


def default_cache_path(env: Mapping[str, str] | None = None) -> Path:
    return default_cache_dir(env) / FILE_NAME


class DigestCache:
    """A thread-safe bounded LRU of binary-region SHA-256 digests, optionally backed by a file."""

    def __init__(self, path: Path | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = path
        self.max_entries = max_entries
        self.discarded: str | None = None
        self._entries: OrderedDict[DigestKey, bytes] = OrderedDict()
        self._files: dict[tuple[str, int, int, int], int] = {}
        self._lock = threading.Lock()
        self._added = 0

    @classmethod
    def open(cls, path: Path | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> DigestCache:
        """Load the persistent cache (default location when ``path`` is None); a bad file starts empty."""
        cache = cls(path or default_cache_path(), max_entries=max_entries)
        cache.load()
        return cache

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

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

    def knows(self, path: str, st_ino: int, st_mtime_ns: int, st_size: int) -> bool:
        """Whether some digest is held for this file as it now stands (any ``source_start``).

        A hint for scheduling only: a scan does cheap cached files in line and sends the rest to
        its hashing threads. The verdict itself always uses the full key.
        """
        with self._lock:
            return (path, st_ino, st_mtime_ns, st_size) in self._files

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._files.clear()

    def _count(self, key: DigestKey, delta: int) -> None:
        identity = (key[0], key[2], key[3], key[4])
        left = self._files.get(identity, 0) + delta
        if left > 0:
            self._files[identity] = left
        else:
            self._files.pop(identity, None)

    def load(self) -> None:
        """Replace the in-memory entries with the file's; record why a file was discarded."""
        if self.path is None:
            return
        entries, why = _read_file(self.path)
        self.discarded = why
        with self._lock:
            self._entries = OrderedDict(list(entries.items())[-self.max_entries :])
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
        on_disk, _ = _read_file(self.path)
        merged: OrderedDict[DigestKey, bytes] = OrderedDict(on_disk)
        for key, digest in ours:
            merged[key] = digest
            merged.move_to_end(key)
        kept = list(merged.items())[-self.max_entries :]
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "entries": [[*key, digest.hex()] for key, digest in kept],
        }
        try:
            _atomic_write(self.path, json.dumps(document, separators=(",", ":")).encode("utf-8"))
        except OSError as exc:
            return f"cannot save the digest cache {self.path}: {exc.strerror or exc}"
        with self._lock:
            self._added = 0
            self.discarded = None
        return None


def _read_file(path: Path) -> tuple[dict[DigestKey, bytes], str | None]:
    """Entries from ``path`` oldest first, or nothing plus the reason the file was not trusted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"digest cache {path} unreadable ({exc.strerror or exc}); discarded"
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return {}, f"digest cache {path} is not a regular file; discarded"
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return {}, f"digest cache {path} is not owned by you or is writable by others; discarded"
        if st.st_size > MAX_FILE_BYTES:
            return {}, f"digest cache {path} is larger than {MAX_FILE_BYTES >> 20} MiB; discarded"
        raw = f.read(MAX_FILE_BYTES + 1)
    try:
        return _parse(json.loads(raw)), None
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError):
        return {}, f"digest cache {path} is corrupt; discarded"


def _parse(document: object) -> dict[DigestKey, bytes]:
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != FORMAT_VERSION:
        raise ValueError("not a digest cache document")
    entries = document["entries"]
    if not isinstance(entries, list):
        raise ValueError("entries is not a list")
    parsed: dict[DigestKey, bytes] = {}
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 6:
            raise ValueError("malformed entry")
        path, source_start, ino, mtime_ns, size, hexdigest = entry
        numbers = (source_start, ino, mtime_ns, size)
        if not isinstance(path, str) or not all(type(n) is int and n >= 0 for n in numbers):
            raise ValueError("malformed key")
        if not isinstance(hexdigest, str) or len(hexdigest) != 64:
            raise ValueError("malformed digest")
        parsed[(path, source_start, ino, mtime_ns, size)] = bytes.fromhex(hexdigest)
    return parsed


def _atomic_write(path: Path, data: bytes) -> None:
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
