"""`remsvc-console health`: watch Airflow API servers and RemSvc servers without the TUI.

``--once`` polls everything once and exits 0 only when everything is up (1: something down or
degraded; 4: the rest is up but something is absent, e.g. /dag-processing not mounted; 3: bad
input). Without ``--once`` a plain-text table is redrawn every interval — cursor-home and clear only,
and only on a terminal; piped output gets one table (or one JSON line with ``--json``) per interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys

from ..health.http_probes import HttpSettings
from ..health.poller import DEFAULT_INTERVAL, HealthPoller
from ..health.report import EXIT_CONFIG, EXIT_USAGE, exit_status, render_table, to_json
from ..health.sources import (
    HealthConfigError,
    TokenFile,
    heartbeat_thresholds,
    load_health_config,
    positive_seconds,
    resolve_api_urls,
    resolve_targets,
)
from ..health.watch import build_poller

_CLEAR = "\x1b[H\x1b[2J"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "health",
        help="watch Airflow API servers and RemSvc servers",
        description="Probe /dag-processing/health, /api/v2/monitor/health, /execution/health and "
        "/api/v2/version on each Airflow API server, and Ping/GetStatus on each RemSvc connection.",
        epilog="Exit status with --once: 0 all up, 1 something down or degraded, 4 only absent "
        "(e.g. /dag-processing not mounted; --allow-absent turns this into 0), 3 bad input.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="Airflow API server base URL (e.g. http://host:8080)")
    parser.add_argument("--api-url", action="append", default=[], metavar="URL",
                        help="another API server base URL (repeatable: HA deployments run several)")
    parser.add_argument("--conn", action="append", default=[], metavar="ID",
                        help="RemSvc connection id or glob to Ping (repeatable)")
    parser.add_argument("--connections-file", metavar="FILE", help="Airflow connections file (yaml/json/env)")
    parser.add_argument("--config", metavar="FILE", help="console config file (reads its 'health:' section)")
    parser.add_argument("--once", action="store_true", help="poll once, print, exit with the status")
    parser.add_argument("--json", action="store_true", help="print JSON (one document per poll round)")
    parser.add_argument("--interval", metavar="S", help=f"seconds between polls (default {DEFAULT_INTERVAL:g})")
    parser.add_argument("--token-file", metavar="FILE", help="file holding a bearer token (re-read when it changes)")
    parser.add_argument("--ca-cert", metavar="FILE", help="CA bundle for https:// API servers")
    parser.add_argument("--timeout", metavar="S", default="5", help="read timeout per request (default 5)")
    parser.add_argument("--heartbeat-threshold", metavar="S",
                        help="seconds before a heartbeat is stale (default: Airflow's health_check_threshold)")
    parser.add_argument("--allow-absent", action="store_true",
                        help="with --once, exit 0 when probes are up or absent (not mounted)")
    parser.set_defaults(func=run)


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"remsvc-console health: error: {message}", file=sys.stderr)
    return code


def _prepare(args: argparse.Namespace) -> HealthPoller:
    config = load_health_config(args.config)
    interval = positive_seconds(args.interval, "--interval") if args.interval else (config.interval or DEFAULT_INTERVAL)
    read_timeout = positive_seconds(args.timeout, "--timeout")
    threshold = (positive_seconds(args.heartbeat_threshold, "--heartbeat-threshold")
                 if args.heartbeat_threshold else config.heartbeat_threshold)
    urls = [u.url for u in resolve_api_urls([*args.urls, *args.api_url], config)]
    targets = resolve_targets(args.conn or list(config.conns), connections_file=args.connections_file)
    if not urls and not targets:
        raise HealthConfigError(
            "nothing to watch: give an API URL (or set health.api_urls in the config file, or [api] base_url "
            "in airflow.cfg) or --conn ID")
    token = None
    token_path = args.token_file or config.token_file
    if token_path:
        token = TokenFile(token_path)
        token.check()
    ca_cert = args.ca_cert or (str(config.ca_cert) if config.ca_cert else None)
    if ca_cert and not os.access(ca_cert, os.R_OK):
        raise HealthConfigError(f"--ca-cert {ca_cert}: not a readable file")
    http = HttpSettings(connect_timeout=min(3.0, read_timeout), read_timeout=read_timeout, ca_cert=ca_cert)
    return build_poller(urls, targets, interval=interval, http=http, token=token,
                        thresholds=heartbeat_thresholds(threshold), remsvc_timeout=read_timeout)


def run(args: argparse.Namespace) -> int:
    try:
        poller = _prepare(args)
    except HealthConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    if args.once:
        return asyncio.run(_once(poller, args))
    return asyncio.run(_watch(poller, args))


async def _once(poller: HealthPoller, args: argparse.Namespace) -> int:
    try:
        snapshots = await poller.poll_once()
    finally:
        await poller.stop()
    if args.json:
        print(json.dumps(to_json(snapshots), indent=2))
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        print("\n".join(render_table(snapshots, poller.transitions(), width=width)))
    return exit_status(snapshots, allow_absent=args.allow_absent)


async def _watch(poller: HealthPoller, args: argparse.Namespace) -> int:
    """Redraw until interrupted; the poller schedules probes, this loop only prints."""
    redraw = sys.stdout.isatty() and not args.json
    try:
        await poller.poll_once()
        await poller.start(polled=True)
        while True:
            snapshots = poller.snapshots()
            if args.json:
                print(json.dumps(to_json(snapshots)), flush=True)
            else:
                width = shutil.get_terminal_size((120, 24)).columns
                text = "\n".join(render_table(snapshots, poller.transitions(), width=width))
                sys.stdout.write((_CLEAR if redraw else "\n") + text + "\n")
                sys.stdout.flush()
            await asyncio.sleep(poller.interval)
    finally:
        await poller.stop()
