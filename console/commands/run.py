"""`remsvc-console run`: dispatch a command stream from a script, with Airflow's own connections."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ..dispatch_service import DispatchOptions, DispatchOutcome, DispatchService, default_src
from ..remsvc.model import Command, StreamFinished, Target
from ..remsvc.report import (
    EXIT_CONNECTION_CONFIG,
    EXIT_USAGE,
    TargetOutcome,
    combined_exit_status,
)
from ..safetext import inert
from .targets import add_connection_arguments, resolve_targets

EPILOG = """\
exit status:
  0    every command of every target answered rc 0
  1    every command answered, at least one with a non-zero rc
  2    usage error (bad arguments, no commands)
  3    a connection could not be resolved (unknown id, malformed URI or file)
  4    transport or authentication failure (refused, unreachable, TLS, bad token)
  5    stream aborted (permission denied, hash rejected, deadline, server closed early)
  130  interrupted
With several targets the most severe status wins.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="dispatch commands to one or more RemSvc servers and print the results",
        description="Send commands over one RemCmdStrm stream per target; results in command order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_arguments(parser, required=True)
    parser.add_argument("--cmd", action="append", default=[], metavar="CMD",
                        help="command to run (repeatable); '-' reads one command per line from stdin")
    parser.add_argument("--cmdtyp", type=int, choices=(0, 1), default=0, help="0 = /bin/sh -c (default), 1 = PowerShell")
    parser.add_argument("--user", default="", metavar="U", help="run the commands as this OS user (cmdusr)")
    parser.add_argument("--src", default=None, metavar="S", help="source label logged by the server (default remsvc-console@HOST)")
    parser.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS", help="deadline for the whole stream (default 3600)")
    parser.add_argument("--concurrency", type=int, default=0, metavar="N",
                        help="targets dispatched at once (default 0: all, up to a cap from the open-files limit)")
    parser.add_argument("--json", action="store_true", help="print the Airflow operator's XCom result shape")
    parser.add_argument("--no-journal", action="store_true", help="do not record this dispatch in the journal")
    parser.set_defaults(func=main)


def read_commands(values: list[str], stdin) -> list[str]:
    """``--cmd`` values in order, with ``-`` replaced by stdin's non-blank lines."""
    commands: list[str] = []
    for value in values:
        if value == "-":
            commands.extend(line.rstrip("\r\n") for line in stdin if line.strip())
        else:
            commands.append(value)
    return commands


def main(args: argparse.Namespace) -> int:
    texts = read_commands(args.cmd, sys.stdin)
    if not texts:
        print("remsvc-console run: no commands given (use --cmd CMD or --cmd - to read stdin)", file=sys.stderr)
        return EXIT_USAGE
    blank = [i for i, text in enumerate(texts, start=1) if not text.strip()]
    if blank:
        print(f"remsvc-console run: command {blank[0]} is blank; every command must be non-empty", file=sys.stderr)
        return EXIT_USAGE
    targets = resolve_targets(args)
    if targets is None:
        return EXIT_CONNECTION_CONFIG
    src = default_src() if args.src is None else args.src
    options = DispatchOptions(cmdtyp=args.cmdtyp, cmdusr=args.user, src=src, timeout=args.timeout, via="run")
    commands = [Command(cmd=t, cmdtyp=options.cmdtyp, cmdusr=options.cmdusr, src=options.src) for t in texts]
    try:
        result = asyncio.run(dispatch(targets, commands, options, args))
    except KeyboardInterrupt:
        print("remsvc-console run: interrupted", file=sys.stderr)
        return 130
    outcomes = [result.outcomes[t.name] for t in targets]
    if args.json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for target, outcome in zip(targets, outcomes):
            print_report(target, outcome)
    for outcome in outcomes:
        report_flags(outcome)
    return combined_exit_status(outcomes)


async def dispatch(
    targets: list[Target], commands: list[Command], options: DispatchOptions, args: argparse.Namespace
) -> DispatchOutcome:
    """The console's own dispatch path: fan-out, journaling and outcomes as the TUI runs them."""
    service = DispatchService(journal_enabled=not args.no_journal, concurrency=args.concurrency)
    run = service.start(targets, commands, options, confirmed=True)
    async for event in run:
        if isinstance(event, StreamFinished) and event.error:
            print(f"remsvc-console run: {event.error}", file=sys.stderr)
    if run.outcome.journal_error:
        print(f"remsvc-console run: warning: {run.outcome.journal_error}", file=sys.stderr)
    return run.outcome


def print_report(target: Target, outcome: TargetOutcome) -> None:
    transport = "TLS" if target.use_ssl else "insecure"
    print(f"== {target.name} ({target.address}, {transport}) ==")
    for tid, command in enumerate(outcome.commands, start=1):
        result = outcome.results.get(tid)
        if result is None:
            print(f"[{tid}] no answer  {inert(command.cmd, keep_newlines=False)}")
            continue
        took = f" {result.elapsed_s:.3f}s" if result.elapsed_s is not None else ""
        print(f"[{tid}] rc={result.rc}{took}  {inert(command.cmd, keep_newlines=False)}")
        for label, text in (("out", result.out), ("err", result.err)):
            for line in inert(text).splitlines():
                print(f"    {label}| {line}")
    print(f"state: {outcome.state}")
    if outcome.error_msg:
        print(f"error: {inert(outcome.error_msg, keep_newlines=False)}")


def report_flags(outcome: TargetOutcome) -> None:
    for tid in sorted(outcome.results):
        result = outcome.results[tid]
        if result.out_truncated or result.err_truncated:
            which = " and ".join(n for n, f in (("stdout", result.out_truncated), ("stderr", result.err_truncated)) if f)
            print(f"remsvc-console run: {outcome.name} tid {tid}: {which} truncated by the server at 262144 bytes", file=sys.stderr)
        if result.invalid_utf8:
            print(f"remsvc-console run: {outcome.name} tid {tid}: output was not valid UTF-8; invalid bytes shown as U+FFFD", file=sys.stderr)
