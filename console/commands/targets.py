"""Shared ``--conn``/``--connections-file`` options: turn connection ids and globs into RemSvc targets.

Connection warnings (the ``?extra={...}`` trap, a token without TLS) go to stderr before anything is
sent, so a script's log shows them next to the dispatch they affect.
"""

from __future__ import annotations

import argparse
import sys

from ..airflow.conn_model import FILE_ENV_VAR, ConnectionLookupError, ConnectionNotFound
from ..airflow.conn_sources import is_glob, match_connections
from ..remsvc.model import Target
from ..safetext import inert


def add_connection_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--conn", action="append", default=[], required=required, metavar="ID",
        help="Airflow connection id or glob (e.g. 'remsvc_web_*'); repeatable",
    )
    parser.add_argument(
        "--connections-file", default=None, metavar="FILE",
        help=f"Airflow connections file (.yaml/.yml/.json/.env); default ${FILE_ENV_VAR}",
    )
    parser.add_argument(
        "--airflow", action="store_true",
        help="let globs match Airflow's metadata DB too (starts Airflow once, which takes seconds)",
    )


def resolve_targets(args: argparse.Namespace, *, prog: str = "remsvc-console") -> list[Target] | None:
    """Targets for ``args.conn``, with warnings printed; None (after one clear line) when unresolvable."""
    try:
        connections = match_connections(args.conn, connections_file=args.connections_file,
                                        globs_in_db=args.airflow)
        targets = [conn.target for conn in connections]
    except ConnectionLookupError as exc:
        print(f"{prog}: {inert(str(exc), keep_newlines=False)}", file=sys.stderr)
        if isinstance(exc, ConnectionNotFound) and not args.airflow and any(map(is_glob, args.conn)):
            print(f"{prog}: globs search Airflow's metadata DB only with --airflow", file=sys.stderr)
        return None
    for conn in connections:
        for warning in conn.warnings:
            print(f"{prog}: warning: {inert(conn.conn_id, keep_newlines=False)}: {inert(warning.message, keep_newlines=False)}", file=sys.stderr)
            if warning.fix:
                print(f"{prog}:   fix: {inert(warning.fix, keep_newlines=False)}", file=sys.stderr)
    return targets
