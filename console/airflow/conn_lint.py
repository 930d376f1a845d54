"""Warnings for connections that resolve, but not to what their author probably meant.

Each warning carries the fix. The channel rules are the RemSvc provider hook's (see
``conn_model``): a string ``use_ssl`` of ``"false"`` turns TLS on there, port 0 becomes 50051, a
token that is not a string is sent as its text. Hosts that cannot be a plain host name are flagged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .conn_model import (
    DEFAULT_PORT,
    EXTRA_KEY,
    KNOWN_EXTRAS,
    REMSVC_CONN_TYPES,
    ConnWarning,
    ResolvedConnection,
    parse_bool,
)
from .conn_render import mask_extras, uri_with_extras

_ALIASES = {
    "use_ssl": ("ssl", "tls", "use_tls", "secure", "enable_ssl", "ssl_enabled", "enable_tls", "https"),
    "bearer_token": ("token", "bearer", "auth_token", "access_token", "api_token", "authorization"),
    "ca_cert_path": ("ca", "ca_cert", "cacert", "ca_path", "ca_file", "ca_cert_file", "ca_certificate", "root_cert", "cert_path"),
}
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def lint_connection(conn: ResolvedConnection) -> list[ConnWarning]:
    """Warnings for mistakes that make Airflow read the connection differently from what was meant."""
    warnings = list(conn.notes)
    warnings.extend(_lint_wrapped_extra(conn))
    warnings.extend(_lint_use_ssl(conn))
    if conn.bearer_token and not conn.use_ssl:
        warnings.append(ConnWarning(
            "token_without_tls",
            "the bearer token would be sent without TLS (use_ssl is off): it travels in plaintext, "
            "and a RemSvc server that checks tokens only runs with TLS",
            "set use_ssl to true (and ca_cert_path when the server's certificate is not in the system trust store)",
        ))
    token = conn.extras.get("bearer_token")
    if token and not isinstance(token, str):
        warnings.append(ConnWarning(
            "token_not_string",
            f"bearer_token is a {_json_type(token)}, not a string: the hook sends its text as the token",
            "write bearer_token as a JSON string",
        ))
    if conn.port_given == 0:
        warnings.append(ConnWarning(
            "port_zero",
            f"the port is 0, so the hook uses port {DEFAULT_PORT} ({conn.address})",
            f"write the server's port, or leave it out for {DEFAULT_PORT}",
        ))
    for key in conn.extras:
        suggestion = typo_of(key)
        if suggestion is not None:
            warnings.append(ConnWarning(
                "unknown_extra",
                f"extra {key!r} is not read by the RemSvc provider (did you mean {suggestion!r}?)",
                f"rename {key!r} to {suggestion!r}",
            ))
    warnings.extend(_lint_ca_cert(conn))
    if conn.bearer_token and " " in conn.bearer_token:
        warnings.append(ConnWarning(
            "token_has_space",
            "the bearer token contains a space; in a URI query a '+' means a space",
            "percent-encode '+' as %2B in the URI (or use the JSON form)",
        ))
    warnings.extend(_lint_host(conn))
    if conn.conn_type not in REMSVC_CONN_TYPES:
        warnings.append(ConnWarning(
            "not_remsvc",
            f"conn_type is {conn.conn_type or '(empty)'!r}, not one of {', '.join(REMSVC_CONN_TYPES)}",
            "check that this is the RemSvc connection you meant",
        ))
    if not conn.host:
        warnings.append(ConnWarning("no_host", "the connection has no host", "add the RemSvc server's host name"))
    return warnings


def typo_of(key: str) -> str | None:
    """The known extra that ``key`` most likely misspells, or None for a known or unrelated key."""
    if key in KNOWN_EXTRAS or key in ("extra", EXTRA_KEY):
        return None
    lowered = key.lower()
    squashed = re.sub(r"[^a-z0-9]", "", lowered)
    for known in KNOWN_EXTRAS:
        if squashed == known.replace("_", ""):
            return known
    for known, aliases in _ALIASES.items():
        if lowered in aliases or squashed in {a.replace("_", "") for a in aliases}:
            return known
    import difflib  # only for an extra no rule above recognised

    close = difflib.get_close_matches(lowered, KNOWN_EXTRAS, n=1, cutoff=0.8)
    return close[0] if close else None


def wrapped_extra(extras: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON object held by an extra named 'extra' (the ``?extra={...}`` mistake), else None."""
    from .conn_parse import load_json

    inner = extras.get("extra")
    if isinstance(inner, str):
        try:
            inner = load_json(inner)
        except ValueError:
            return None
    return inner if isinstance(inner, dict) else None


def unwrapped_extras(extras: Mapping[str, Any]) -> dict[str, Any] | None:
    """The extras meant by a ``?extra={...}`` URI; extras given at top level keep their values."""
    inner = wrapped_extra(extras)
    if inner is None:
        return None
    merged = {k: v for k, v in extras.items() if k != "extra"}
    for key, value in inner.items():
        merged.setdefault(key, value)
    return merged


def corrected_uri(conn: ResolvedConnection, *, reveal_secrets: bool = False) -> str:
    """The URI its author most likely meant, in ``__extra__`` form; secrets masked unless asked for."""
    extras = unwrapped_extras(conn.extras)
    return uri_with_extras(conn, conn.extras if extras is None else extras, reveal_secrets=reveal_secrets)


def _lint_use_ssl(conn: ResolvedConnection) -> list[ConnWarning]:
    raw = conn.extras.get("use_ssl")
    if not isinstance(raw, str) or not raw:
        return []
    meant = parse_bool(raw)
    if meant is True:
        return []
    if meant is False:
        wanted = {**conn.extras, "use_ssl": False}
        shown = json.dumps(mask_extras(wanted), separators=(", ", ": "))
        message = (f"use_ssl is the string {raw!r}, which the RemSvc hook reads as TLS ON "
                   "(any non-empty string is true), so the DAGs talk TLS to this server")
        fix = (f"for plaintext write use_ssl as the JSON boolean false in {EXTRA_KEY}: {shown} "
               f"(URI: {uri_with_extras(conn, wanted)}), or remove use_ssl")
        return [ConnWarning("use_ssl_string_false", message, fix)]
    message = f"use_ssl is {raw!r}, which is not a boolean: the RemSvc hook turns TLS ON for any non-empty string"
    return [ConnWarning("use_ssl_not_boolean", message, 'write use_ssl as the JSON boolean true or false ("use_ssl": true)')]


def _lint_host(conn: ResolvedConnection) -> list[ConnWarning]:
    host = conn.host
    if not host:
        return []
    problems = []
    if _URL_SCHEME.match(host):
        problems.append("a scheme ('" + host.split("://", 1)[0] + "://')")
    if "/" in host.split("://", 1)[-1]:
        problems.append("'/'")
    if "%" in host:
        problems.append("'%'")
    if any(ch.isspace() for ch in host):
        problems.append("white space")
    if any(not ch.isprintable() and not ch.isspace() for ch in host):
        problems.append("control characters")
    if not problems:
        return []
    return [ConnWarning(
        "host_not_plain",
        f"the host contains {', '.join(problems)}: the hook dials {conn.address!r}, which is not a host name",
        "write only the server's host name or address (e.g. remsvc://remotehost:50051)",
    )]


def _lint_wrapped_extra(conn: ResolvedConnection) -> list[ConnWarning]:
    inner = wrapped_extra(conn.extras)
    if inner is None:
        return []
    lost = []
    if parse_bool(inner.get("use_ssl")) and not conn.use_ssl:
        lost.append("TLS is OFF")
    if inner.get("bearer_token") and not conn.bearer_token:
        lost.append("the bearer token is NOT sent")
    if inner.get("ca_cert_path") and not conn.ca_cert_path:
        lost.append("the CA certificate is NOT used")
    why = "Airflow stores `?extra={...}` as one extra named 'extra' and never reads the fields inside it"
    if lost:
        message = f"{' and '.join(lost)}: {why}"
    elif not inner:
        message = f"`?extra={{}}` has no effect: {why}"
    else:
        message = f"the fields inside 'extra' ({', '.join(map(repr, inner))}) are not read: {why}"
    uri = corrected_uri(conn)
    if conn.source.startswith("env "):
        fix = f"export {conn.source[4:]}='{uri}'"
    else:
        where = conn.source[5:] if conn.source.startswith("file ") else conn.source
        fix = f"set {conn.conn_id!r} in {where} to '{uri}'"
    if inner.get("bearer_token"):
        fix += " (the token is shown as *** here: put the real token back)"
        if not parse_bool(inner.get("use_ssl")) and not conn.use_ssl:
            fix += "; this still sends the token without TLS: add \"use_ssl\": true"
    return [ConnWarning("extra_json_string", message, fix)]


def _lint_ca_cert(conn: ResolvedConnection) -> list[ConnWarning]:
    path = conn.ca_cert_path
    if path is None:
        return []
    out = []
    if not conn.use_ssl:
        out.append(ConnWarning(
            "ca_cert_without_tls",
            f"ca_cert_path is set but use_ssl is off, so the CA certificate {path!r} is ignored",
            "set use_ssl to true, or remove ca_cert_path",
        ))
    candidate = Path(path)
    try:
        if not candidate.exists():
            problem = "does not exist"
        elif candidate.is_dir():
            problem = "is a directory, not a PEM file"
        elif not os.access(candidate, os.R_OK):
            problem = "is not readable by this user"
        else:
            return out
    except (OSError, ValueError):
        problem = "cannot be checked (not a usable path)"
    out.append(ConnWarning(
        "ca_cert_unreadable",
        f"ca_cert_path {path!r} {problem}: TLS connections will fail",
        "point ca_cert_path at the CA certificate (PEM) that signed the server's certificate",
    ))
    return out


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "list", dict: "object"}.get(type(value), type(value).__name__)
