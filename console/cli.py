"""Command-line entry point: the TUI by default, headless subcommands for scripts.

Each subcommand lives in ``console.commands.<name>`` and exposes ``register(subparsers)``;
the parser it registers carries ``func(args) -> int`` as its default. Only the chosen subcommand's
module is imported: the others appear in ``--help`` by name and one-line summary (kept here), so
``--help`` and ``conn list`` start without loading gRPC, Textual, httpx or jsonschema.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

SUBCOMMANDS = {
    "run": "dispatch commands to one or more RemSvc servers and print the results",
    "conn": "list and inspect Airflow connections (tokens always masked)",
    "serve": "run the embedded RemSvc server (demos, loopback testing)",
    "bundles": "scan, inspect and pack Airflow executable bundles",
    "health": "watch Airflow API servers, supervisord programs and RemSvc servers",
}


class _ConsoleParser(argparse.ArgumentParser):
    """Writes its epilog (which reads the settings sources) only when the help is shown."""

    def format_help(self) -> str:
        if self.epilog is None:
            from .commands import tui

            self.epilog = tui.epilog()
        return super().format_help()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser for ``command`` (None: the console itself); other subcommands are placeholders."""
    from .commands import tui

    parser = _ConsoleParser(
        prog="remsvc-console",
        description="Dispatch RemSvc command streams, inspect Airflow executable bundles, watch Airflow health.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"remsvc-console {__version__}")
    tui.add_arguments(parser)
    parser.set_defaults(func=tui.run)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in SUBCOMMANDS.items():
        if name == command:
            importlib.import_module(f".commands.{name}", __package__).register(subparsers)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def chosen_command(argv: list[str]) -> str | None:
    """Which subcommand ``argv`` names, read by the placeholder parser (which also serves ``--help``)."""
    known, _ = build_parser().parse_known_args(argv)
    return known.command


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
