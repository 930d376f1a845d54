"""Parse connection values the way Airflow's ``Connection`` does: the URI form and the JSON/field forms.

URI: percent-decoded host/login/password/schema, query parameters as string extras (a repeated
parameter keeps its last value, as ``dict(parse_qsl(...))`` does), ``__extra__`` replacing them all.
JSON (a value starting with ``{``) and connections-file mappings: ``Connection(**fields)``. Input
that would crash a JSON tool (nesting beyond ``MAX_EXTRA_DEPTH``, integers past Python's digit
limit, infinite ports) is a MalformedConnection with the reason, never a traceback.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .conn_model import (
    DEFAULT_PORT,
    EXTRA_KEY,
    MAX_EXTRA_DEPTH,
    ConnWarning,
    ResolvedConnection,
    malformed,
)

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
JSON_FORM_KEYS = {"conn_type", "description", "host", "login", "password", "schema", "port", "extra", "uri", "team_name"}
FILE_FORM_KEYS = JSON_FORM_KEYS | {"conn_id", "extra_dejson"}


def load_json(text: str) -> Any:
    """``json.loads`` that fails with ValueError (one line) on what would otherwise crash later."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise ValueError(f"JSON nested too deeply (more than {MAX_EXTRA_DEPTH} levels)") from None
    except ValueError as exc:
        raise ValueError(f"unreadable JSON ({exc})") from None
    check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_EXTRA_DEPTH) -> None:
    """Raise ValueError when collections nest deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise ValueError(f"JSON nested too deeply (more than {limit} levels)")
        stack.extend((child, depth + 1) for child in children)


def parse_connection_value(conn_id: str, value: str, *, source: str) -> ResolvedConnection:
    """Parse one ``AIRFLOW_CONN_*``-style value: JSON form when it starts with ``{``, else a URI."""
    from .conn_lint import lint_connection

    text = value.strip()
    if text.startswith("{"):
        try:
            data = load_json(text)
        except ValueError as exc:
            raise malformed(conn_id, source, str(exc)) from None
        if not isinstance(data, dict):
            raise malformed(conn_id, source, "the JSON form must be an object")
        conn = from_fields(conn_id, data, source=source, allowed=JSON_FORM_KEYS, normalize=True)
    else:
        conn = from_uri(conn_id, text, source=source)
    conn.warnings = lint_connection(conn)
    return conn


def from_uri(conn_id: str, uri: str, *, source: str) -> ResolvedConnection:
    if uri.count("://") > 2:
        raise malformed(conn_id, source, "invalid URI: more than two '://'")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise malformed(conn_id, source, "not a connection URI (expected TYPE://HOST:PORT, e.g. remsvc://host:50051)")
    if not _SCHEME.match(scheme):
        problem = f"{scheme!r} is not a valid URI scheme, so Airflow reads neither type nor host (write '_' as '-')"
        raise malformed(conn_id, source, problem)
    protocol = None
    if "://" in rest:
        protocol, rest = rest.split("://", 1)
        if "@" in protocol or ":" in protocol:
            raise malformed(conn_id, source, "invalid URI: the host's protocol prefix contains '@' or ':'")
    try:
        parts = urlsplit("//" + rest)
        port = parts.port
    except ValueError:
        raise malformed(conn_id, source, "invalid host or port (the port must be a number from 0 to 65535)") from None
    host = _hostname(parts)
    if protocol and host:
        host = f"{protocol}://{host}"
    extras, notes = _query_extras(conn_id, source, parts.query)
    return ResolvedConnection(
        conn_id=conn_id,
        conn_type=_normalize_type(scheme.lower()),
        host=host,
        port=port or DEFAULT_PORT,
        port_given=port,
        source=source,
        extras=extras,
        login=unquote(parts.username) if parts.username else parts.username,
        password=unquote(parts.password) if parts.password else parts.password,
        schema=unquote(parts.path[1:]) if parts.path[1:] else None,
        notes=notes,
    )


def from_fields(conn_id: str, data: dict[str, Any], *, source: str, allowed: set[str], normalize: bool) -> ResolvedConnection:
    """The JSON form (environment) or a file's field mapping, as Airflow's Connection(**fields) reads it."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise malformed(conn_id, source, f"unknown field(s) {names}; allowed: {', '.join(sorted(allowed))}")
    if "conn_id" in data and data["conn_id"] != conn_id:
        raise malformed(conn_id, source, f"conn_id field {_short(data['conn_id'])} does not match the key {conn_id!r}")
    if data.get("uri"):
        mixed = sorted(k for k, v in data.items() if v and k not in ("uri", "conn_id", "description", "team_name"))
        if mixed:
            raise malformed(conn_id, source, f"give either 'uri' or separate fields, not both (also set: {', '.join(mixed)})")
        if not isinstance(data["uri"], str):
            raise malformed(conn_id, source, "'uri' must be a string")
        return from_uri(conn_id, data["uri"].strip(), source=source)
    if "extra" in data and "extra_dejson" in data:
        raise malformed(conn_id, source, "'extra' and 'extra_dejson' are mutually exclusive")
    extras = _fields_extra(conn_id, source, data.get("extra_dejson", data.get("extra")))
    conn_type = _text_field(conn_id, source, data, "conn_type") or ""
    port = _port_field(conn_id, source, data.get("port"))
    return ResolvedConnection(
        conn_id=conn_id,
        conn_type=_normalize_type(conn_type) if normalize else conn_type,
        host=_text_field(conn_id, source, data, "host") or "",
        port=port or DEFAULT_PORT,
        port_given=port,
        source=source,
        extras=extras,
        login=_text_field(conn_id, source, data, "login"),
        password=_text_field(conn_id, source, data, "password"),
        schema=_text_field(conn_id, source, data, "schema") or None,
    )


def _hostname(parts) -> str:
    """Airflow's host rule: the decoded hostname, or the raw netloc host when it decodes to a path."""
    host = unquote(parts.hostname or "")
    if "/" in host:
        host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        host = unquote(host)
    return host


def _query_extras(conn_id: str, source: str, query: str) -> tuple[dict[str, Any], list[ConnWarning]]:
    if not query:
        return {}, []
    pairs = parse_qsl(query, keep_blank_values=True)
    extras: dict[str, Any] = dict(pairs)
    notes: list[ConnWarning] = []
    counts: dict[str, int] = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    for key, count in counts.items():
        if count > 1:
            notes.append(ConnWarning(
                "repeated_parameter",
                f"query parameter {key!r} is given {count} times; Airflow keeps only the last value",
                f"give {key!r} once",
            ))
    if EXTRA_KEY not in extras:
        return extras, notes
    try:
        whole = load_json(extras[EXTRA_KEY])
    except ValueError as exc:
        raise malformed(conn_id, source, _json_problem(EXTRA_KEY, exc) + " (URL-encode the JSON object)") from None
    if not isinstance(whole, dict):
        raise malformed(conn_id, source, f"{EXTRA_KEY} must be a JSON object")
    ignored = [k for k in counts if k != EXTRA_KEY]
    if ignored:
        notes.append(ConnWarning(
            "ignored_parameters",
            f"query parameters {', '.join(map(repr, ignored))} are ignored: {EXTRA_KEY} replaces all other extras",
            f"move them into the {EXTRA_KEY} JSON",
        ))
    return whole, notes


def _fields_extra(conn_id: str, source: str, extra: Any) -> dict[str, Any]:
    if not extra:
        return {}
    if isinstance(extra, dict):
        try:
            check_depth(extra)
        except ValueError as exc:
            raise malformed(conn_id, source, f"'extra': {exc}") from None
        return extra
    if not isinstance(extra, str):
        raise malformed(conn_id, source, "'extra' must be a JSON object or a string holding one")
    try:
        parsed = load_json(extra)
    except ValueError as exc:
        raise malformed(conn_id, source, _json_problem("'extra'", exc)) from None
    if not isinstance(parsed, dict):
        raise malformed(conn_id, source, "'extra' must hold a JSON object")
    return parsed


def _text_field(conn_id: str, source: str, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isfinite(value) or isinstance(value, int) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:
            raise malformed(conn_id, source, f"{key!r} is a number too long to use") from None
    raise malformed(conn_id, source, f"{key!r} must be a string")


def _port_field(conn_id: str, source: str, value: Any) -> int | None:
    """The stored port (None or 0 when unset); the hook uses ``port or 50051``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise malformed(conn_id, source, "'port' must be an integer")
    try:
        port = int(value)
    except (TypeError, ValueError, OverflowError):
        raise malformed(conn_id, source, f"'port' must be an integer, not {_short(value)}") from None
    if not 0 <= port < 65536:
        raise malformed(conn_id, source, f"'port' {_short(port)} is outside 0-65535")
    return port


def _json_problem(what: str, exc: ValueError) -> str:
    text = str(exc)
    if text.startswith("invalid JSON"):
        return f"{what} is not valid JSON" + text[len("invalid JSON"):]
    return f"{what}: {text}"


def _short(value: Any) -> str:
    """A bounded repr: a 5,000-digit integer must not become the error message (or raise on the way)."""
    try:
        text = repr(value)
    except ValueError:
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= 40 else text[:37] + "..."


def _normalize_type(conn_type: str) -> str:
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_")

