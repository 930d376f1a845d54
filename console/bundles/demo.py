"""Sample bundles for ``--demo``: enough variety to show every part of the Bundles view.

The "binaries" are tiny shell scripts (a bundle only needs a non-empty binary region); the console
never runs them. One bundle is tampered after packing (hash mismatch), two declare the same dag_id
(shadowing, and an ambiguous choice), one names a schema version the supervisor does not know, and
one embeds a terminal escape sequence in its source to show that source text is rendered inert.
"""

from __future__ import annotations

import os
from pathlib import Path

from .packer import bundle_bytes, make_manifest

_BINARY = b"#!/bin/sh\necho 'remsvc-console demo bundle %s: not a real SDK binary'\nexit 0\n"

_GO_SOURCE = b"""package main

import "github.com/apache/airflow/go-sdk/sdk"

func extract(ctx sdk.Context) error   { return nil }
func transform(ctx sdk.Context) error { return nil }
func load(ctx sdk.Context) error      { return nil }
"""

_RUST_SOURCE = b"""use airflow_sdk::prelude::*;

#[task]
fn build_report(ctx: &Context) -> Result<()> {
    ctx.log("report built");
    Ok(())
}
"""

_ESCAPE_SOURCE = (
    b"package main\n\n"
    b"// The next comment carries an OSC title sequence; the console shows it as text.\n"
    b"// \x1b]0;owned terminal\x07 \x1b[2J\n"
    b"func main() {}\n"
)


def make_demo_bundles(directory: Path) -> list[Path]:
    """Create the sample tree under ``directory`` and return the bundle paths in creation order."""
    directory = Path(directory)
    made: list[Path] = []

    def write(rel: str, data: bytes, mode: int = 0o755) -> Path:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
        made.append(path)
        return path

    def binary(name: str) -> bytes:
        return _BINARY % name.encode()

    write(
        "etl/customer_pipeline",
        bundle_bytes(
            binary("customer_pipeline"),
            _GO_SOURCE,
            make_manifest({"customer_etl": ["extract", "transform", "load"], "customer_backfill": ["extract"]}, source="pipeline.go"),
        ),
    )
    write(
        "analytics/daily_report",
        bundle_bytes(
            binary("daily_report"),
            _RUST_SOURCE,
            make_manifest({"daily_report": ["build_report"]}, source="main.rs", language="rust", sdk_version="0.3.1"),
        ),
    )
    write(
        "team-b/customer_pipeline_v2",
        bundle_bytes(
            binary("customer_pipeline_v2"),
            _GO_SOURCE,
            make_manifest({"customer_etl": ["extract", "transform", "load", "notify"]}, source="pipeline.go", sdk_version="0.2.0"),
        ),
    )
    tampered = bytearray(
        bundle_bytes(binary("billing_sync"), _GO_SOURCE, make_manifest({"billing_sync": ["sync"]}, source="billing.go"))
    )
    tampered[12] ^= 0x20
    write("billing/billing_sync", bytes(tampered))
    write(
        "legacy/old_exporter",
        bundle_bytes(
            binary("old_exporter"),
            b"",
            make_manifest({"old_export": ["export"]}, source="exporter.go", supervisor_schema_version="2025-01-01"),
        ),
    )
    write(
        "etl/title_trick",
        bundle_bytes(binary("title_trick"), _ESCAPE_SOURCE, make_manifest({"title_trick": ["noop"]}, source="trick.go")),
    )
    (directory / "README.md").write_text("Sample executable bundles created by remsvc-console --demo.\n")
    return made
