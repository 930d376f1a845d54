"""Bundle builders for tests: packer-built files, hand-assembled trailers, and the CLI as a child process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from console.bundles.packer import bundle_bytes, canonical_manifest, make_manifest
from console.bundles.trailer import MAGIC, build_trailer

REPO = Path(__file__).resolve().parents[2]
BINARY = b"\x7fELF" + b"\x00" * 12 + b"not-a-real-binary; never executed\n"


def write_bundle(
    path: Path,
    dags: Mapping[str, Sequence[str]] | None = None,
    *,
    binary: bytes = BINARY,
    source: bytes = b"package main\n\nfunc main() {}\n",
    manifest: Mapping[str, Any] | bytes | None = None,
    mode: int = 0o755,
) -> Path:
    """A packer-built bundle; ``manifest`` bytes are embedded verbatim for malformed cases."""
    if manifest is None:
        manifest = make_manifest({k: list(v) for k, v in (dags or {"example_dag": ["run"]}).items()})
    return write_file(path, bundle_bytes(binary, source, manifest), mode)


def write_raw_bundle(
    path: Path,
    *,
    binary: bytes = BINARY,
    source: bytes = b"",
    metadata: bytes | None = None,
    source_len: int | None = None,
    metadata_len: int | None = None,
    footer_ver: int = 1,
    digest: bytes | None = None,
    reserved: bytes = bytes(12),
    magic: bytes = MAGIC,
    mode: int = 0o755,
) -> Path:
    """A bundle assembled by hand, so every trailer field can lie."""
    if metadata is None:
        metadata = canonical_manifest(make_manifest({"example_dag": ["run"]}))
    trailer = build_trailer(
        len(source) if source_len is None else source_len,
        len(metadata) if metadata_len is None else metadata_len,
        hashlib.sha256(binary).digest() if digest is None else digest,
        footer_ver=footer_ver,
        reserved=reserved,
        magic=magic,
    )
    return write_file(path, binary + source + metadata + trailer, mode)


def write_file(path: Path, data: bytes, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def run_cli(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """``python -m console`` as a real child process; output kept as bytes so escapes can be checked."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        env=full_env,
        cwd=cwd or REPO,
        timeout=timeout,
        check=False,
    )
