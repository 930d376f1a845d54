"""`remsvc-console conn` (being built)."""

from __future__ import annotations


def register(subparsers) -> None:
    subparsers.add_parser("conn", help="(not yet available)")
