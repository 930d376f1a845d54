"""`remsvc-console health` (being built)."""

from __future__ import annotations


def register(subparsers) -> None:
    subparsers.add_parser("health", help="(not yet available)")
