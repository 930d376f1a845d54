"""`remsvc-console run`: dispatch a command stream from a script, with Airflow's own connections."""

from __future__ import annotations

import argparse
import gc
import json
import math
import re
import signal
import sys

from ..remsvc.model import Command, Target, text_problem
from ..remsvc.report import (
    EXIT_CONNECTION_CONFIG,
    EXIT_USAGE,
    TargetOutcome,
    combined_exit_status,
)
from ..safetext import inert
from .targets import add_connection_arguments, resolve_targets

PROG = "remsvc-console run"
# What a shell reports for a process ended by the signal: 128 + its number.
SIGNAL_EXIT = {signal.SIGHUP: 129, signal.SIGINT: 130, signal.SIGTERM: 143}
SIGNAL_WHY = {signal.SIGHUP: "terminal hung up", signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
# json.dumps leaves these as they are with ensure_ascii=False; a terminal acts on C1 controls and
# bidi controls reorder what is shown. As \uXXXX escapes the JSON stays lossless and inert.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

EPILOG = """\
exit status:
  0    every command of every target answered rc 0
  1    every command answered, at least one with a non-zero rc
  2    usage error (bad arguments, no commands, a command that cannot be sent)
  3    a connection could not be resolved or used (unknown id, malformed URI or file, bad token)
  4    nothing was sent: transport or authentication failure (refused, unreachable, TLS, bad token)
  5    commands were sent and the stream did not complete (permission denied, hash rejected,
       deadline, connection lost or server not responding: commands may have run, protocol error)
  129  SIGHUP (terminal hung up)    130  SIGINT (interrupted)    143  SIGTERM (terminated)
       the streams are cancelled, every answer received is printed and journaled, state CANCELLED
With several targets the most severe status wins.
"""


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds above 0, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (all targets at once) or more, got {text!r}")
    return value


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
    parser.add_argument("--timeout", type=positive_seconds, default=3600.0, metavar="SECONDS",
                        help="deadline for the whole stream, above 0 (default 3600)")
    parser.add_argument("--concurrency", type=non_negative_int, default=0, metavar="N",
                        help="targets dispatched at once (default 0: all, up to a cap from the open-files limit)")
    parser.add_argument("--json", action="store_true", help="print the Airflow operator's XCom result shape")
    parser.add_argument("--no-journal", action="store_true", help="do not record this dispatch in the journal")
    parser.set_defaults(func=main)


def read_commands(values: list[str], stdin) -> list[str]:
    """``--cmd`` values in order, with ``-`` replaced by stdin's non-blank lines.

    Stdin is read as bytes: a line that is not UTF-8 keeps its bytes (as surrogate escapes) so the
    check before sending can name it instead of the decoder failing with a traceback."""
    commands: list[str] = []
    for value in values:
        if value == "-":
            raw = stdin.buffer if hasattr(stdin, "buffer") else None
            lines = (line.decode("utf-8", "surrogateescape") for line in raw) if raw is not None else stdin
            commands.extend(line.rstrip("\r\n") for line in lines if line.strip())
        else:
            commands.append(value)
    return commands


def input_problem(texts: list[str], user: str, src: str | None) -> str | None:
    """The first thing that cannot be sent, named by option or command number."""
    for option, value in (("--user", user), ("--src", src or "")):
        problem = text_problem(value)
        if problem is not None:
            return f"{option} {problem}"
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            return f"command {number} is blank; every command must be non-empty"
        problem = text_problem(text)
        if problem is not None:
            return f"command {number} {problem}"
    return None


def json_text(payload: dict) -> str:
    """Pretty JSON with C1 and bidi controls escaped as \\uXXXX (they only occur inside strings)."""
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def main(args: argparse.Namespace) -> int:
    texts = read_commands(args.cmd, sys.stdin)
    if not texts:
        print(f"{PROG}: no commands given (use --cmd CMD or --cmd - to read stdin)", file=sys.stderr)
        return EXIT_USAGE
    problem = input_problem(texts, args.user, args.src)
    if problem is not None:
        print(f"{PROG}: {problem}; nothing was sent", file=sys.stderr)
        return EXIT_USAGE
    targets = resolve_targets(args)
    if targets is None:
        return EXIT_CONNECTION_CONFIG
    for target in targets:
        if target.token_problem:
            print(f"{PROG}: {inert(target.token_problem, keep_newlines=False)}; nothing was sent", file=sys.stderr)
            return EXIT_CONNECTION_CONFIG

    import asyncio

    from ..dispatch_service import DispatchOptions, default_src

    src = default_src() if args.src is None else args.src
    options = DispatchOptions(cmdtyp=args.cmdtyp, cmdusr=args.user, src=src, timeout=args.timeout, via="run")
    commands = [Command(cmd=t, cmdtyp=options.cmdtyp, cmdusr=options.cmdusr, src=options.src) for t in texts]
    received: list[signal.Signals] = []
    # Everything loaded so far lives until exit: out of the collector's sight, the full collections
    # that thousands of kept results trigger during a long stream do not walk it again each time.
    gc.freeze()
    result = asyncio.run(dispatch(targets, commands, options, args, received))
    outcomes = [result.outcomes[t.name] for t in targets]
    try:
        if args.json:
            sys.stdout.write(json_text(result.to_json()) + "\n")
        else:
            for target, outcome in zip(targets, outcomes):
                print_report(target, outcome)
        sys.stdout.flush()
    except OSError:
        pass  # stdout went away with the terminal (SIGHUP): the journal holds every answer
    for outcome in outcomes:
        report_flags(outcome)
    if received:
        return SIGNAL_EXIT[received[0]]
    return combined_exit_status(outcomes)


async def dispatch(targets: list[Target], commands: list[Command], options, args: argparse.Namespace,
                   received: list[signal.Signals]):
    """The console's own dispatch path: fan-out, journaling and outcomes as the TUI runs them.

    SIGHUP, SIGTERM and SIGINT cancel the streams (the servers stop the running commands); the run
    then ends normally, journaling its finish with the signal as the reason."""
    import asyncio

    from ..dispatch_service import DispatchService
    from ..remsvc.model import StreamFinished

    service = DispatchService(journal_enabled=not args.no_journal, concurrency=args.concurrency, sent_events=False)
    run = service.start(targets, commands, options, confirmed=True)
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if received:
            return
        received.append(signum)
        run.cancel(f"{signum.name} received ({SIGNAL_WHY[signum]})")
        note(f"{signum.name} received: cancelling the streams; answers received so far are kept")

    for signum in SIGNAL_EXIT:
        loop.add_signal_handler(signum, on_signal, signum)

    def on_event(event) -> None:
        if isinstance(event, StreamFinished) and event.error:
            note(event.error)

    try:
        await run.complete(on_event)
    finally:
        for signum in SIGNAL_EXIT:
            loop.remove_signal_handler(signum)
    if run.outcome.journal_error:
        note(f"warning: {run.outcome.journal_error}")
    return run.outcome


def note(message: str) -> None:
    """One line on stderr; a terminal that hung up is not an error worth a traceback."""
    try:
        print(f"{PROG}: {inert(message, keep_newlines=False)}", file=sys.stderr, flush=True)
    except OSError:
        pass


def print_report(target: Target, outcome: TargetOutcome) -> None:
    transport = "TLS" if target.use_ssl else "insecure"
    print(f"== {inert(target.name, keep_newlines=False)} ({inert(target.address, keep_newlines=False)}, {transport}) ==")
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
    name = inert(outcome.name, keep_newlines=False)
    for tid in sorted(outcome.results):
        result = outcome.results[tid]
        if result.out_truncated or result.err_truncated:
            which = " and ".join(n for n, f in (("stdout", result.out_truncated), ("stderr", result.err_truncated)) if f)
            note(f"{name} tid {tid}: {which} truncated by the server at 262144 bytes (the marker ends the text)")
        if result.invalid_utf8:
            note(f"{name} tid {tid}: output was not valid UTF-8; invalid bytes shown as U+FFFD")
