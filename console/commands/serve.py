"""`remsvc-console serve` (being built)."""

from __future__ import annotations


def register(subparsers) -> None:
    subparsers.add_parser("serve", help="(not yet available)")
