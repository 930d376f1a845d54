"""Top-level options that start the full-screen console (the default when no subcommand is given)."""

from __future__ import annotations

import argparse


def epilog() -> str:
    return ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conn", action="append", default=[], metavar="ID", help="connection id to target (repeatable)")
    parser.add_argument("--demo", action="store_true", help="start an embedded RemSvc server and sample bundles")


def run(args: argparse.Namespace) -> int:
    print("the console is being built; use a subcommand")
    return 2
