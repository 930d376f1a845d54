"""Command-line entry point: the TUI by default, headless subcommands for scripts.

Each subcommand lives in ``console.commands.<name>`` and exposes ``register(subparsers)``;
the parser it registers carries ``func(args) -> int`` as its default.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

SUBCOMMANDS = ("run", "conn", "serve", "bundles", "health")


def build_parser() -> argparse.ArgumentParser:
    from .commands import tui

    parser = argparse.ArgumentParser(
        prog="remsvc-console",
        description="Dispatch RemSvc command streams, inspect Airflow executable bundles, watch Airflow health.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=tui.epilog(),
    )
    parser.add_argument("--version", action="version", version=f"remsvc-console {__version__}")
    tui.add_arguments(parser)
    parser.set_defaults(func=tui.run)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
