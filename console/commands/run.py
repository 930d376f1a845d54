"""`remsvc-console run` (being built)."""

from __future__ import annotations


def register(subparsers) -> None:
    subparsers.add_parser("run", help="(not yet available)")
