"""`remsvc-console bundles` (being built)."""

from __future__ import annotations


def register(subparsers) -> None:
    subparsers.add_parser("bundles", help="(not yet available)")
