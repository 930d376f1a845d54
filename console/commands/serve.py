"""`remsvc-console serve`: run the embedded RemSvc server in the foreground.

Once it listens it prints exactly one line, ``listening on HOST:PORT``, to stdout, so a parent process
(the demo, the test helpers) can read the port it picked; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys

EXIT_CONFIG = 2
EXIT_START = 1

EPILOG = """\
exit status: 0 after SIGTERM/SIGINT and a graceful drain; 2 for a bad configuration or option;
1 when the server cannot listen (address in use).
Tokens without TLS are refused unless --insecure-auth is given (meant for loopback testing)."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the embedded RemSvc server (demos, loopback testing)",
        description="Serve RS.RemSvc (and grpc.health.v1) from this machine, configured by a RemSvc server INI file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="INI", help="RemSvc server INI: [server] [tls] [auth] [allowlist] [denylist]")
    parser.add_argument("--host", help="address to bind (default: [server] host, else 127.0.0.1)")
    parser.add_argument("--port", metavar="N", help="port to bind; 0 picks a free one (default: [server] port, else 50051)")
    parser.add_argument("--cmd-timeout-ms", metavar="N", help="kill a command after N ms; 0 = never (default: [server] cmd_timeout_ms, else 30000)")
    parser.add_argument("--insecure-auth", action="store_true",
                        help="allow [auth] tokens without TLS (tokens cross the network in plaintext)")
    parser.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                        help="on SIGTERM/SIGINT, how long running commands may finish (default: 10)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                        help="stderr log level; debug logs every command (default: info)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..server.config import ConfigError
    from ..server.service import ServerStartError

    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s remsvc-server: %(message)s")
    try:
        config = _load(args)
        return asyncio.run(_serve(config, args.grace))
    except ConfigError as exc:
        print(f"remsvc-console serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ServerStartError as exc:
        from ..safetext import inert

        print(f"remsvc-console serve: {inert(str(exc), keep_newlines=False)}", file=sys.stderr)
        return EXIT_START


def _load(args: argparse.Namespace):
    from ..server.config import ServerConfig, load_config, parse_port, parse_timeout_ms

    config = load_config(args.config) if args.config else ServerConfig()
    overrides: dict = {"insecure_auth": args.insecure_auth}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = parse_port(args.port, where="--port")
    if args.cmd_timeout_ms is not None:
        overrides["cmd_timeout_ms"] = parse_timeout_ms(args.cmd_timeout_ms, where="--cmd-timeout-ms")
    config = dataclasses.replace(config, **overrides)
    config.check_startable()
    return config


async def _serve(config, grace: float) -> int:
    from ..server.service import start_server

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await start_server(config, config.host, config.port)
    print(f"listening on {server.address}", flush=True)
    await stop.wait()
    logging.getLogger("console.server").info("stopping: draining running calls for up to %.1f s", grace)
    await server.stop(grace)
    return 0
