"""`remsvc-console conn list|show`: what each Airflow connection resolves to, and what looks wrong.

Secrets never reach the terminal: tokens and passwords are shown as ``***``, and any output line is
scrubbed of the secret values the shown connections hold before it is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from ..airflow.conn_model import ENV_PREFIX, FILE_ENV_VAR, MASK, ConnectionLookupError, ResolvedConnection
from ..airflow.conn_render import describe, mask_extras, masked_uri, secrets_of
from ..airflow.conn_sources import DB_UNLISTED, TEAM_UNLISTED, resolve_connection, scan_connections, scan_with_airflow
from ..remsvc.report import EXIT_CONNECTION_CONFIG, EXIT_OK, EXIT_USAGE
from ..safetext import inert

EPILOG = f"""\
sources, in the order Airflow's Connection.get_connection_from_secrets searches them:
  1  the [secrets] backend of airflow.cfg / AIRFLOW__SECRETS__BACKEND (LocalFilesystemBackend is
     read directly; any other backend is asked through Airflow)
  2  the {ENV_PREFIX}<ID> environment variable
  3  the console's connections file (--connections-file, or ${FILE_ENV_VAR})
  4  Airflow's metadata DB, through Airflow (airflow_python setting or $REMSVC_CONSOLE_AIRFLOW_PYTHON,
     else Airflow importable here, else the python behind `airflow` on PATH)
`list` shows 1 (local files), 2 and 3; `show ID` searches all four. Each says where a connection came from.
`list --airflow` also lists 4: it starts Airflow once (seconds) to read the DB's connection ids and
resolves each in Airflow's order (1, 2, then the DB), as `show ID` would; ids already listed are kept.
A remote secrets backend (Vault, AWS, ...) cannot be enumerated: its connections are shown by `show ID`;
DB connections a team owns are named as not listed (only that team's DAGs get them).

channel rules (the RemSvc provider hook's): TLS when bool(use_ssl), so any non-empty string, "false"
included, means TLS; port `port or 50051`; bearer_token sent when non-empty.

exit status:
  0  resolved (warnings, if any, are printed to stderr)
  2  usage error
  3  connection not found, or malformed (unreadable variable or connections file), or Airflow failed
     (with --airflow: Airflow not found or off, or the DB could not be listed; the rest is still listed)
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "conn",
        help="list and inspect Airflow connections (tokens always masked)",
        description="Show how Airflow connections resolve into RemSvc targets, with fixes for likely mistakes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: _usage(parser))
    actions = parser.add_subparsers(dest="conn_command", metavar="ACTION")

    listing = actions.add_parser(
        "list", help="every connection: address, TLS, token set, source, warnings",
        description="List connections from the local [secrets] backend file, AIRFLOW_CONN_* variables and the "
                    "connections file. --airflow adds the metadata DB: Airflow is started once (seconds) and "
                    "resolves each DB id in its own order, so a row is what a DAG gets for that id. A remote "
                    "secrets backend cannot be enumerated; conn show ID finds its connections.",
    )
    listing.add_argument("--airflow", action="store_true",
                         help="also list the metadata DB's connections, each resolved in Airflow's order "
                              "(starts Airflow once: takes seconds; a remote secrets backend still cannot be listed)")
    _common(listing)
    listing.set_defaults(func=list_main)

    show = actions.add_parser("show", help="all fields of one connection and each warning with its fix")
    show.add_argument("conn_id", metavar="ID", help="connection id, e.g. remsvc_default")
    _common(show)
    show.set_defaults(func=show_main)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connections-file", metavar="FILE", default=None,
                        help=f"Airflow connections file (.env, .json, .yaml, .yml); default ${FILE_ENV_VAR}")
    parser.add_argument("--json", action="store_true", help="print JSON (secrets masked)")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    print("remsvc-console conn: choose an action: list or show ID", file=sys.stderr)
    return EXIT_USAGE


def list_main(args: argparse.Namespace) -> int:
    try:
        if args.airflow:
            scan, problems = scan_with_airflow(connections_file=args.connections_file)
        else:
            scan, problems = scan_connections(connections_file=args.connections_file), []
    except ConnectionLookupError as exc:
        _error(str(exc), ())
        return EXIT_CONNECTION_CONFIG
    secrets = _secrets_of(scan.connections)
    errors = [str(e) for e in scan.errors] + problems
    if args.json:
        payload = {
            "connections": [describe(c) for c in scan.connections],
            "errors": errors,
            "file": str(scan.file) if scan.file else None,
            "not_listed": scan.unlisted,
        }
        _write(sys.stdout, json.dumps(payload, indent=2), secrets)
    elif scan.connections:
        _write(sys.stdout, _table(scan.connections), secrets)
        flagged = [c.conn_id for c in scan.connections if c.warnings]
        if flagged:
            _write(sys.stderr, f"{len(flagged)} connection(s) with warnings: see remsvc-console conn show ID", secrets)
    else:
        file_part = f" and {scan.file}" if scan.file else f" (no connections file; --connections-file or {FILE_ENV_VAR})"
        db_part = "" if DB_UNLISTED in scan.unlisted else ", metadata DB"
        where = f"{ENV_PREFIX}* variables{file_part}{db_part}"
        _write(sys.stderr, _safe(f"no connections found in {where}"), secrets)
    if not args.json and scan.unlisted:
        _write(sys.stderr, _safe(_not_listed(scan.unlisted, args.airflow)), secrets)
    for error in errors:
        _error(error, secrets)
    return EXIT_CONNECTION_CONFIG if errors else EXIT_OK


def _not_listed(labels: list[str], airflow: bool) -> str:
    """One line naming each source the list leaves out, with how to see its connections."""
    parts = []
    for label in labels:
        if label == DB_UNLISTED:
            how = "resolve one id with conn show ID" if airflow else "list it with --airflow, or resolve one id with conn show ID"
            parts.append(f"{label} ({how})")
        elif label.startswith(TEAM_UNLISTED):
            parts.append(label)
        else:
            parts.append(f"{label} (cannot be enumerated, resolve one id with conn show ID)")
    return f"not listed: {'; '.join(parts)}"


def show_main(args: argparse.Namespace) -> int:
    try:
        conn = resolve_connection(args.conn_id, connections_file=args.connections_file)
    except ConnectionLookupError as exc:
        _error(str(exc), ())
        return EXIT_CONNECTION_CONFIG
    secrets = _secrets_of([conn])
    if args.json:
        _write(sys.stdout, json.dumps(describe(conn), indent=2), secrets)
        return EXIT_OK
    _write(sys.stdout, _details(conn), secrets)
    if conn.warnings:
        lines = [f"{len(conn.warnings)} warning(s) for {_safe(conn.conn_id)}:"]
        for warning in conn.warnings:
            lines.append(f"  [{warning.code}] {_safe(warning.message)}")
            if warning.fix:
                lines.append(f"      fix: {_safe(warning.fix)}")
        _write(sys.stderr, "\n".join(lines), secrets)
    return EXIT_OK


def _details(conn: ResolvedConnection) -> str:
    rows = [
        ("conn_id", conn.conn_id),
        ("source", conn.source),
        ("conn_type", conn.conn_type or "-"),
        ("host", conn.host or "-"),
        ("port", str(conn.port)),
        ("address", conn.address),
        ("login", conn.login or "-"),
        ("password", MASK if conn.password else "(not set)"),
        ("schema", conn.schema or "-"),
        ("use_ssl", "yes" if conn.use_ssl else "no"),
        ("ca_cert_path", conn.ca_cert_path or "-"),
        ("bearer_token", MASK if conn.bearer_token else "(not set)"),
        ("extras", json.dumps(mask_extras(conn.extras), ensure_ascii=False, sort_keys=True)),
        ("uri", masked_uri(conn)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {_safe(value)}" for name, value in rows)


def _table(connections: list[ResolvedConnection]) -> str:
    header = ("ID", "ADDRESS", "TYPE", "TLS", "TOKEN", "WARNINGS", "SOURCE")
    rows = [header]
    for conn in connections:
        rows.append((
            _safe(conn.conn_id),
            _safe(conn.address) if conn.host else "-",
            _safe(conn.conn_type or "-"),
            "yes" if conn.use_ssl else "no",
            "yes" if conn.bearer_token else "no",
            str(len(conn.warnings)),
            _safe(conn.source),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows
    )


def _safe(text: str) -> str:
    return inert(str(text), keep_newlines=False)


def _secrets_of(connections: Iterable[ResolvedConnection]) -> set[str]:
    found: set[str] = set()
    for conn in connections:
        found |= secrets_of(conn)
    return found


def _write(stream: TextIO, text: str, secrets: Iterable[str]) -> None:
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    stream.write(text + "\n")


def _error(message: str, secrets: Iterable[str]) -> None:
    _write(sys.stderr, f"remsvc-console conn: {_safe(message)}", secrets)
