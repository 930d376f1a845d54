"""Write bundles per the spec's build-pipeline rules, for tests, demos and operators repacking by hand.

The binary is hashed exactly as it stands, ``<source><metadata><trailer>`` is appended in one write
(a torn write then fails the magic or hash check instead of looking half valid), the manifest is
serialised canonically (sorted keys) so equal inputs give byte-identical bundles, and the output
keeps the executable's permission bits. The result appears at its path atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .manifest import BigInt, ManifestError, parse_manifest, schema_version_problem, validate
from .model import ValidationWarning
from .trailer import MAGIC, MAX_REGION_LEN, TRAILER_SIZE, build_trailer

COPY_CHUNK = 1 << 20


class PackError(Exception):
    """Packing refused; the message is one line naming the input at fault."""


@dataclass(frozen=True)
class PackResult:
    out: Path
    binary_len: int
    source_len: int
    metadata_len: int
    binary_sha256: str
    warnings: list[ValidationWarning] = field(default_factory=list)


class _CanonicalDumper(yaml.SafeDumper):
    """The safe dumper, plus integers too long for decimal text (loaded as ``BigInt``), written in hex."""


_CanonicalDumper.add_representer(BigInt, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:int", hex(value)))


def canonical_manifest(manifest: Mapping[str, Any]) -> bytes:
    """The manifest as sorted-key block YAML, UTF-8: the spec's canonical, deterministic form."""
    text = yaml.dump(dict(manifest), Dumper=_CanonicalDumper, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return text.encode("utf-8")


def bundle_bytes(binary: bytes, source: bytes = b"", manifest: Mapping[str, Any] | bytes = b"") -> bytes:
    """A whole bundle in memory; raw ``bytes`` manifests are embedded verbatim (tests build bad ones so)."""
    metadata = manifest if isinstance(manifest, bytes) else canonical_manifest(manifest)
    digest = hashlib.sha256(binary).digest()
    return binary + source + metadata + build_trailer(len(source), len(metadata), digest)


def make_manifest(
    dags: Mapping[str, list[str]],
    *,
    source: str = "main.go",
    language: str = "go",
    sdk_version: str = "0.1.0",
    supervisor_schema_version: str = "2026-06-16",
) -> dict[str, Any]:
    """A well-formed spec 1.0 manifest; callers edit the dict to make variants."""
    return {
        "airflow_bundle_metadata_version": "1.0",
        "sdk": {"language": language, "version": sdk_version, "supervisor_schema_version": supervisor_schema_version},
        "source": source,
        "dags": {dag_id: {"tasks": list(tasks)} for dag_id, tasks in dags.items()},
    }


def load_manifest_file(path: Path, *, source_name: str | None = None) -> tuple[dict[str, Any], list[ValidationWarning]]:
    """Read a YAML or JSON manifest and check it would give a usable bundle; fill ``source`` if absent."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    try:
        data = parse_manifest(raw).data
    except ManifestError as exc:
        raise PackError(f"manifest {path}: {exc.reason}") from None
    if "source" not in data and source_name:
        data["source"] = source_name
    return data, check_manifest(data, origin=str(path))


def check_manifest(data: Mapping[str, Any], *, origin: str = "manifest") -> list[ValidationWarning]:
    """Refuse manifests Airflow could never use; return the remaining schema findings as warnings."""
    dags = data.get("dags")
    if not isinstance(dags, Mapping) or not any(isinstance(k, str) for k in dags):
        raise PackError(f"{origin}: dags must map at least one dag_id to its tasks")
    _, problem = schema_version_problem(data.get("sdk"))
    if problem:
        raise PackError(f"{origin}: {problem}")
    return validate(dict(data))


def pack(
    executable: Path,
    out: Path,
    *,
    manifest: Mapping[str, Any],
    source: Path | None = None,
) -> PackResult:
    """Append ``source`` and the canonical ``manifest`` to a copy of ``executable`` at ``out``."""
    warnings = check_manifest(manifest)
    metadata = canonical_manifest(manifest)
    source_bytes = b""
    if source is not None:
        try:
            source_bytes = source.read_bytes()
        except OSError as exc:
            raise PackError(f"cannot read source {source}: {exc.strerror or exc}") from None
    for name, blob in (("source", source_bytes), ("manifest", metadata)):
        if len(blob) > MAX_REGION_LEN:
            raise PackError(f"{name} is {len(blob):,} bytes; the trailer holds at most {MAX_REGION_LEN:,}")
    try:
        src = open(executable, "rb")  # noqa: SIM115 - closed below, after the copy
    except OSError as exc:
        raise PackError(f"cannot read executable {executable}: {exc.strerror or exc}") from None
    with src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise PackError(f"executable {executable} is not a regular file")
        if st.st_size == 0:
            raise PackError(f"executable {executable} is empty: a bundle needs a non-empty binary region")
        if st.st_size >= TRAILER_SIZE:
            src.seek(st.st_size - 8)
            if src.read(8) == MAGIC:
                raise PackError(f"{executable} already ends with an {MAGIC.decode()} trailer: pack the original binary")
            src.seek(0)
        if out.is_dir():
            raise PackError(f"output {out} is a directory")
        digest, binary_len = _copy_and_append(src, out, source_bytes, metadata, st.st_mode)
    return PackResult(
        out=out,
        binary_len=binary_len,
        source_len=len(source_bytes),
        metadata_len=len(metadata),
        binary_sha256=digest.hex(),
        warnings=warnings,
    )


def _copy_and_append(src, out: Path, source: bytes, metadata: bytes, mode: int) -> tuple[bytes, int]:
    directory = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".packing", dir=directory)
    except OSError as exc:
        raise PackError(f"cannot write in {directory}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as dst:
            digest = hashlib.sha256()
            length = 0
            while chunk := src.read(COPY_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                length += len(chunk)
            dst.flush()
            binary_digest = digest.digest()
            dst.write(source + metadata + build_trailer(len(source), len(metadata), binary_digest))
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp, stat.S_IMODE(mode))
        os.replace(tmp, out)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise PackError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return binary_digest, length


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
