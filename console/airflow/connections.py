"""Resolve Airflow connection ids into RemSvc targets the way Airflow itself resolves them.

Sources, in Airflow's secrets-backend order: the ``AIRFLOW_CONN_<ID>`` environment variable (URI
form, or JSON form when the value starts with ``{``), then a local-filesystem connections file
(``--connections-file`` or ``$REMSVC_CONSOLE_CONNECTIONS_FILE``). Parsing mirrors Airflow's
``Connection``: percent-decoded host/login/password/schema, query parameters as string extras (a
repeated parameter keeps its last value, as Airflow's ``dict(parse_qsl(...))`` does), ``__extra__``
replacing them all. Each resolved connection carries lint warnings for the mistakes that make a
connection silently differ from what its author meant, with the fix spelled out.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

from ..remsvc.model import DEFAULT_PORT, Target
from .conn_files import FileEntry, FileFormatError, read_entries

ENV_PREFIX = "AIRFLOW_CONN_"
FILE_ENV_VAR = "REMSVC_CONSOLE_CONNECTIONS_FILE"
EXTRA_KEY = "__extra__"
REMSVC_CONN_TYPES = ("remsvc", "grpc")
KNOWN_EXTRAS = ("use_ssl", "ca_cert_path", "bearer_token")
MASK = "***"

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_GLOB_CHARS = set("*?[")
# Airflow's secrets masker hides extras whose lower-cased name contains one of these.
_SENSITIVE = ("access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
              "private_key", "secret", "token", "keyfile_dict", "service_account", "bearer")
_ALIASES = {
    "use_ssl": ("ssl", "tls", "use_tls", "secure", "enable_ssl", "ssl_enabled", "enable_tls", "https"),
    "bearer_token": ("token", "bearer", "auth_token", "access_token", "api_token", "authorization"),
    "ca_cert_path": ("ca", "ca_cert", "cacert", "ca_path", "ca_file", "ca_cert_file", "ca_certificate", "root_cert", "cert_path"),
}
_JSON_FORM_KEYS = {"conn_type", "description", "host", "login", "password", "schema", "port", "extra", "uri", "team_name"}
_FILE_FORM_KEYS = _JSON_FORM_KEYS | {"conn_id", "extra_dejson"}


class ConnectionLookupError(Exception):
    """A connection could not be resolved; ``str()`` is one line naming what was searched or what is wrong."""

    def __init__(self, message: str, *, conn_id: str | None = None, problem: str | None = None):
        super().__init__(message)
        self.conn_id = conn_id
        self.problem = problem or message


class ConnectionNotFound(ConnectionLookupError):
    """No source defines the connection id."""


class MalformedConnection(ConnectionLookupError):
    """A source defines the connection, but not in a form Airflow can read."""


class ConnectionsFileError(MalformedConnection):
    """The connections file as a whole is unusable; no entry of it is used."""


@dataclass(frozen=True)
class ConnWarning:
    """A connection that resolves, but probably not to what its author meant."""

    code: str
    message: str
    fix: str | None = None


@dataclass
class ResolvedConnection:
    """One connection as Airflow sees it, plus where it came from and what looks wrong with it.

    ``port`` is the effective port (50051 when none is given). Secrets stay out of ``repr``.
    ``notes`` are what the parser noticed on the way (repeated or ignored query parameters); they
    open the ``warnings`` list.
    """

    conn_id: str
    conn_type: str
    host: str
    port: int
    source: str
    extras: dict[str, Any] = field(default_factory=dict, repr=False)
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    warnings: list[ConnWarning] = field(default_factory=list)
    notes: list[ConnWarning] = field(default_factory=list, repr=False)

    @property
    def use_ssl(self) -> bool:
        return parse_bool(self.extras.get("use_ssl", False)) is True

    @property
    def ca_cert_path(self) -> str | None:
        value = self.extras.get("ca_cert_path")
        return str(value) if value not in (None, "") else None

    @property
    def bearer_token(self) -> str | None:
        value = self.extras.get("bearer_token")
        return str(value) if value not in (None, "") else None

    @property
    def address(self) -> str:
        return _address(self.host, self.port)

    @property
    def target(self) -> Target:
        if not self.host:
            raise _malformed(self.conn_id, self.source, "has no host")
        return Target(
            name=self.conn_id,
            host=self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            ca_cert_path=self.ca_cert_path,
            bearer_token=self.bearer_token,
        )

    def secrets(self) -> set[str]:
        """Every secret value this connection holds (password, token, sensitive extras), for redaction."""
        found: set[str] = set()
        if self.password:
            found.add(self.password)
        _collect_secrets(self.extras, found)
        return found

    def describe(self) -> dict[str, Any]:
        """JSON-safe description with every secret masked: what ``conn show --json`` prints."""
        return {
            "conn_id": self.conn_id,
            "conn_type": self.conn_type,
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "login": self.login,
            "password": MASK if self.password else None,
            "schema": self.schema or None,
            "use_ssl": self.use_ssl,
            "ca_cert_path": self.ca_cert_path,
            "bearer_token": MASK if self.bearer_token else None,
            "extras": mask_extras(self.extras),
            "uri": masked_uri(self),
            "source": self.source,
            "warnings": [{"code": w.code, "message": w.message, "fix": w.fix} for w in self.warnings],
        }


@dataclass
class ConnectionScan:
    """Every connection the sources define, and the environment variables that could not be read."""

    connections: list[ResolvedConnection]
    errors: list[MalformedConnection]
    file: Path | None


def parse_bool(value: Any) -> bool | None:
    """Airflow users write booleans as JSON or as strings; None means not recognisable as either."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None


def resolve_connection(
    conn_id: str,
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
) -> ResolvedConnection:
    """The connection Airflow would use for ``conn_id``: environment variable first, then the file."""
    return _Sources(env, connections_file).resolve(conn_id)


def resolve_target(
    conn_id: str,
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
) -> Target:
    """The RemSvc target of ``conn_id``; raises ConnectionLookupError like ``resolve_connection``."""
    return resolve_connection(conn_id, env=env, connections_file=connections_file).target


def scan_connections(
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    conn_types: Iterable[str] | None = None,
) -> ConnectionScan:
    """All ``AIRFLOW_CONN_*`` variables plus the file's entries; a malformed file raises ConnectionsFileError."""
    sources = _Sources(env, connections_file)
    connections, errors = sources.scan()
    if conn_types is not None:
        wanted = set(conn_types)
        connections = [c for c in connections if c.conn_type in wanted]
    return ConnectionScan(connections, errors, sources.file)


def list_connections(
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    conn_types: Iterable[str] | None = None,
) -> list[ResolvedConnection]:
    """The connections of ``scan_connections``; unreadable variables are left out (scan reports them)."""
    return scan_connections(env=env, connections_file=connections_file, conn_types=conn_types).connections


def match_connections(
    patterns: Iterable[str],
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    conn_types: Iterable[str] | None = None,
) -> list[ResolvedConnection]:
    """Expand ids and globs (``remsvc_web_*``) in order, without duplicates.

    A glob that matches nothing, or matches a connection that cannot be read, raises: a fan-out must
    not quietly lose a target. ``conn_types`` narrows what globs match; plain ids are taken as given.
    """
    sources = _Sources(env, connections_file)
    wanted = set(conn_types) if conn_types is not None else None
    chosen: dict[str, ResolvedConnection] = {}
    scanned: tuple[list[ResolvedConnection], list[MalformedConnection]] | None = None
    for pattern in patterns:
        if not _GLOB_CHARS & set(pattern):
            conn = sources.resolve(pattern)
            chosen.setdefault(conn.conn_id, conn)
            continue
        if scanned is None:
            scanned = sources.scan()
        connections, errors = scanned
        lowered = pattern.lower()
        for error in errors:
            if fnmatch.fnmatchcase(error.conn_id.lower(), lowered):
                raise error
        hits = [c for c in connections if fnmatch.fnmatchcase(c.conn_id.lower(), lowered)]
        if wanted is not None:
            hits = [c for c in hits if c.conn_type in wanted]
        if not hits:
            raise ConnectionNotFound(f"no connection id matches {pattern!r} (searched {sources.searched()})")
        for conn in hits:
            chosen.setdefault(conn.conn_id, conn)
    return list(chosen.values())


def masked_uri(conn: ResolvedConnection) -> str:
    """The connection as an Airflow URI, with the password and every secret extra shown as ``***``."""
    return connection_uri(conn)


def connection_uri(conn: ResolvedConnection, *, reveal_secrets: bool = False) -> str:
    """The connection as an Airflow URI: plain query parameters when they round-trip, else ``__extra__``."""
    return _scrub(_build_uri(conn, conn.extras, reveal_secrets=reveal_secrets), conn, reveal_secrets)


def corrected_uri(conn: ResolvedConnection, *, reveal_secrets: bool = False) -> str:
    """The URI its author most likely meant, in ``__extra__`` form; secrets masked unless asked for."""
    extras = _unwrapped_extras(conn.extras)
    if extras is None:
        extras = conn.extras
    return _scrub(_build_uri(conn, extras, reveal_secrets=reveal_secrets, force_extra_key=True), conn, reveal_secrets)


def mask_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``extras`` with secret values (also inside a nested ``extra`` JSON string) as ``***``."""
    return {key: _masked_value(key, value) for key, value in extras.items()}


def parse_connection_value(conn_id: str, value: str, *, source: str) -> ResolvedConnection:
    """Parse one ``AIRFLOW_CONN_*``-style value: JSON form when it starts with ``{``, else a URI."""
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _malformed(conn_id, source, f"invalid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
        if not isinstance(data, dict):
            raise _malformed(conn_id, source, "the JSON form must be an object")
        conn = _from_fields(conn_id, data, source=source, allowed=_JSON_FORM_KEYS, normalize=True)
    else:
        conn = _from_uri(conn_id, text, source=source)
    conn.warnings = lint_connection(conn)
    return conn


def lint_connection(conn: ResolvedConnection) -> list[ConnWarning]:
    """Warnings for mistakes that make Airflow read the connection differently from what was meant."""
    warnings = list(conn.notes)
    warnings.extend(_lint_wrapped_extra(conn))
    if conn.bearer_token and not conn.use_ssl:
        warnings.append(ConnWarning(
            "token_without_tls",
            "the bearer token would be sent without TLS (use_ssl is off): it travels in plaintext, "
            "and a RemSvc server that checks tokens only runs with TLS",
            "set use_ssl to true (and ca_cert_path when the server's certificate is not in the system trust store)",
        ))
    raw_ssl = conn.extras.get("use_ssl")
    if raw_ssl is not None and parse_bool(raw_ssl) is None:
        warnings.append(ConnWarning(
            "use_ssl_not_boolean",
            f"use_ssl is {raw_ssl!r}, which is not a boolean: TLS is OFF",
            "write use_ssl as true or false",
        ))
    for key in conn.extras:
        suggestion = _typo_of(key)
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
    if conn.conn_type not in REMSVC_CONN_TYPES:
        warnings.append(ConnWarning(
            "not_remsvc",
            f"conn_type is {conn.conn_type or '(empty)'!r}, not one of {', '.join(REMSVC_CONN_TYPES)}",
            "check that this is the RemSvc connection you meant",
        ))
    if not conn.host:
        warnings.append(ConnWarning("no_host", "the connection has no host", "add the RemSvc server's host name"))
    return warnings


class _Sources:
    """The environment and the connections file for one lookup; the file is read at most once."""

    def __init__(self, env: Mapping[str, str] | None, connections_file: str | os.PathLike[str] | None):
        self.env: Mapping[str, str] = os.environ if env is None else env
        if connections_file is None or str(connections_file) == "":
            connections_file = self.env.get(FILE_ENV_VAR) or None
        self.file = Path(connections_file).expanduser() if connections_file else None
        self._file_connections: dict[str, ResolvedConnection] | None = None

    def searched(self) -> str:
        where = f"{ENV_PREFIX}* variables"
        if self.file is None:
            return f"{where}; no connections file set (--connections-file or {FILE_ENV_VAR})"
        return f"{where} and {self.file}"

    def resolve(self, conn_id: str) -> ResolvedConnection:
        if not conn_id or not conn_id.strip():
            raise ConnectionNotFound("empty connection id")
        var = ENV_PREFIX + conn_id.upper()
        value = self.env.get(var)
        if value and value.strip():
            return parse_connection_value(conn_id, value, source=f"env {var}")
        if self.file is None:
            raise ConnectionNotFound(
                f"connection {conn_id!r} not found: {var} is not set and no connections file is set "
                f"(--connections-file or {FILE_ENV_VAR})"
            )
        conn = self.file_connections().get(conn_id)
        if conn is None:
            raise ConnectionNotFound(f"connection {conn_id!r} not found: {var} is not set and {self.file} has no {conn_id!r}")
        return conn

    def file_connections(self) -> dict[str, ResolvedConnection]:
        if self._file_connections is None:
            self._file_connections = {} if self.file is None else _load_file(self.file)
        return self._file_connections

    def scan(self) -> tuple[list[ResolvedConnection], list[MalformedConnection]]:
        found: dict[str, ResolvedConnection] = {}
        errors: list[MalformedConnection] = []
        for var in sorted(self.env):
            value = self.env[var]
            if not var.startswith(ENV_PREFIX) or len(var) == len(ENV_PREFIX) or not value.strip():
                continue
            conn_id = var[len(ENV_PREFIX):].lower()
            try:
                found[conn_id] = parse_connection_value(conn_id, value, source=f"env {var}")
            except MalformedConnection as exc:
                errors.append(exc)
        shadowed = {c.upper() for c in found} | {e.conn_id.upper() for e in errors}
        for conn_id, conn in self.file_connections().items():
            if conn_id.upper() not in shadowed:
                found[conn_id] = conn
        return sorted(found.values(), key=lambda c: c.conn_id), errors


def _load_file(path: Path) -> dict[str, ResolvedConnection]:
    try:
        entries = read_entries(path)
    except FileFormatError as exc:
        raise ConnectionsFileError(f"connections file {exc}") from None
    connections: dict[str, ResolvedConnection] = {}
    for entry in entries:
        connections[entry.conn_id] = _from_entry(path, entry)
    return connections


def _from_entry(path: Path, entry: FileEntry) -> ResolvedConnection:
    source = f"file {path}"
    try:
        if isinstance(entry.value, str):
            conn = parse_connection_value(entry.conn_id, entry.value, source=source)
        else:
            conn = _from_fields(entry.conn_id, dict(entry.value), source=source, allowed=_FILE_FORM_KEYS, normalize=False)
            conn.warnings = lint_connection(conn)
    except MalformedConnection as exc:
        message = f"connections file {path}: {entry.where}: {exc.problem}"
        raise ConnectionsFileError(message, conn_id=entry.conn_id, problem=exc.problem) from None
    if isinstance(entry.value, str) and entry.value.lstrip().startswith("{"):
        conn.warnings.insert(0, ConnWarning(
            "json_string_in_file",
            f"{entry.where} holds the JSON form as a string; Airflow's connections file reads string values "
            "as URIs only, so Airflow itself sees an empty connection here",
            "write the fields as a mapping (JSON/YAML file) or as a URI",
        ))
    return conn


def _malformed(conn_id: str, source: str, problem: str) -> MalformedConnection:
    return MalformedConnection(f"connection {conn_id!r} ({source}): {problem}", conn_id=conn_id, problem=problem)


def _from_uri(conn_id: str, uri: str, *, source: str) -> ResolvedConnection:
    if uri.count("://") > 2:
        raise _malformed(conn_id, source, "invalid URI: more than two '://'")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise _malformed(conn_id, source, "not a connection URI (expected TYPE://HOST:PORT, e.g. remsvc://host:50051)")
    if not _SCHEME.match(scheme):
        problem = f"{scheme!r} is not a valid URI scheme, so Airflow reads neither type nor host (write '_' as '-')"
        raise _malformed(conn_id, source, problem)
    protocol = None
    if "://" in rest:
        protocol, rest = rest.split("://", 1)
        if "@" in protocol or ":" in protocol:
            raise _malformed(conn_id, source, "invalid URI: the host's protocol prefix contains '@' or ':'")
    try:
        parts = urlsplit("//" + rest)
        port = parts.port
    except ValueError:
        raise _malformed(conn_id, source, "invalid host or port (the port must be a number from 0 to 65535)") from None
    host = _hostname(parts)
    if protocol and host:
        host = f"{protocol}://{host}"
    extras, notes = _query_extras(conn_id, source, parts.query)
    return ResolvedConnection(
        conn_id=conn_id,
        conn_type=_normalize_type(scheme.lower()),
        host=host,
        port=port or DEFAULT_PORT,
        source=source,
        extras=extras,
        login=unquote(parts.username) if parts.username else parts.username,
        password=unquote(parts.password) if parts.password else parts.password,
        schema=unquote(parts.path[1:]) if parts.path[1:] else None,
        notes=notes,
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
    extras = dict(pairs)
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
        whole = json.loads(extras[EXTRA_KEY])
    except json.JSONDecodeError:
        raise _malformed(conn_id, source, f"{EXTRA_KEY} is not valid JSON (URL-encode the JSON object)") from None
    if not isinstance(whole, dict):
        raise _malformed(conn_id, source, f"{EXTRA_KEY} must be a JSON object")
    ignored = [k for k in counts if k != EXTRA_KEY]
    if ignored:
        notes.append(ConnWarning(
            "ignored_parameters",
            f"query parameters {', '.join(map(repr, ignored))} are ignored: {EXTRA_KEY} replaces all other extras",
            f"move them into the {EXTRA_KEY} JSON",
        ))
    return whole, notes


def _from_fields(conn_id: str, data: dict[str, Any], *, source: str, allowed: set[str], normalize: bool) -> ResolvedConnection:
    """The JSON form (environment) or a file's field mapping, as Airflow's Connection(**fields) reads it."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise _malformed(conn_id, source, f"unknown field(s) {names}; allowed: {', '.join(sorted(allowed))}")
    if "conn_id" in data and data["conn_id"] != conn_id:
        raise _malformed(conn_id, source, f"conn_id field {data['conn_id']!r} does not match the key {conn_id!r}")
    if data.get("uri"):
        mixed = sorted(k for k, v in data.items() if v and k not in ("uri", "conn_id", "description", "team_name"))
        if mixed:
            raise _malformed(conn_id, source, f"give either 'uri' or separate fields, not both (also set: {', '.join(mixed)})")
        if not isinstance(data["uri"], str):
            raise _malformed(conn_id, source, "'uri' must be a string")
        return _from_uri(conn_id, data["uri"].strip(), source=source)
    if "extra" in data and "extra_dejson" in data:
        raise _malformed(conn_id, source, "'extra' and 'extra_dejson' are mutually exclusive")
    extras = _fields_extra(conn_id, source, data.get("extra_dejson", data.get("extra")))
    conn_type = _text_field(conn_id, source, data, "conn_type") or ""
    return ResolvedConnection(
        conn_id=conn_id,
        conn_type=_normalize_type(conn_type) if normalize else conn_type,
        host=_text_field(conn_id, source, data, "host") or "",
        port=_port_field(conn_id, source, data.get("port")),
        source=source,
        extras=extras,
        login=_text_field(conn_id, source, data, "login"),
        password=_text_field(conn_id, source, data, "password"),
        schema=_text_field(conn_id, source, data, "schema") or None,
    )


def _fields_extra(conn_id: str, source: str, extra: Any) -> dict[str, Any]:
    if not extra:
        return {}
    if isinstance(extra, dict):
        return extra
    if not isinstance(extra, str):
        raise _malformed(conn_id, source, "'extra' must be a JSON object or a string holding one")
    try:
        parsed = json.loads(extra)
    except json.JSONDecodeError:
        raise _malformed(conn_id, source, "'extra' is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _malformed(conn_id, source, "'extra' must hold a JSON object")
    return parsed


def _text_field(conn_id: str, source: str, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _malformed(conn_id, source, f"{key!r} must be a string")


def _port_field(conn_id: str, source: str, value: Any) -> int:
    if not value:
        return DEFAULT_PORT
    if isinstance(value, bool):
        raise _malformed(conn_id, source, "'port' must be an integer")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise _malformed(conn_id, source, f"'port' must be an integer, not {value!r}") from None
    if not 0 < port < 65536:
        raise _malformed(conn_id, source, f"'port' {port} is outside 1-65535")
    return port


def _normalize_type(conn_type: str) -> str:
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_")


def _wrapped_extra(extras: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON object held by an extra named 'extra' (the ``?extra={...}`` mistake), else None."""
    inner = extras.get("extra")
    if isinstance(inner, str):
        try:
            inner = json.loads(inner)
        except json.JSONDecodeError:
            return None
    return inner if isinstance(inner, dict) else None


def _unwrapped_extras(extras: Mapping[str, Any]) -> dict[str, Any] | None:
    """The extras meant by a ``?extra={...}`` URI; extras given at top level keep their values."""
    inner = _wrapped_extra(extras)
    if inner is None:
        return None
    merged = {k: v for k, v in extras.items() if k != "extra"}
    for key, value in inner.items():
        merged.setdefault(key, value)
    return merged


def _lint_wrapped_extra(conn: ResolvedConnection) -> list[ConnWarning]:
    inner = _wrapped_extra(conn.extras)
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
        fix = f"set {conn.conn_id!r} in {conn.source[5:]} to '{uri}'"
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
    if not candidate.exists():
        problem = "does not exist"
    elif candidate.is_dir():
        problem = "is a directory, not a PEM file"
    elif not os.access(candidate, os.R_OK):
        problem = "is not readable by this user"
    else:
        return out
    out.append(ConnWarning(
        "ca_cert_unreadable",
        f"ca_cert_path {path!r} {problem}: TLS connections will fail",
        "point ca_cert_path at the CA certificate (PEM) that signed the server's certificate",
    ))
    return out


def _typo_of(key: str) -> str | None:
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
    close = difflib.get_close_matches(lowered, KNOWN_EXTRAS, n=1, cutoff=0.8)
    return close[0] if close else None


def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SENSITIVE) or _typo_of(key) == "bearer_token"


def _masked_value(key: str, value: Any) -> Any:
    if _is_sensitive(key) and value not in (None, ""):
        return MASK
    if isinstance(value, dict):
        return mask_extras(value)
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            inner = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(inner, dict):
            return json.dumps(mask_extras(inner), separators=(",", ":"))
    return value


def _collect_secrets(extras: Mapping[str, Any], found: set[str]) -> None:
    for key, value in extras.items():
        if _is_sensitive(key) and isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
            found.add(str(value))
        elif isinstance(value, dict):
            _collect_secrets(value, found)
        elif isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                inner = json.loads(value)
            except json.JSONDecodeError:
                continue
            if isinstance(inner, dict):
                _collect_secrets(inner, found)


def _scrub(text: str, conn: ResolvedConnection, reveal: bool) -> str:
    """Belt and braces: no secret survives in any encoding the URI builder could have produced."""
    if reveal:
        return text
    for secret in sorted((s for s in conn.secrets() if len(s) >= 4), key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret, safe="*"), quote_plus(secret), json.dumps(secret)[1:-1]}:
            if form:
                text = text.replace(form, MASK)
    return text


def _address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and "://" not in host and not host.startswith("[") else host
    return f"{shown}:{port}"


def _build_uri(
    conn: ResolvedConnection, extras: Mapping[str, Any], *, reveal_secrets: bool, force_extra_key: bool = False
) -> str:
    scheme = conn.conn_type.lower().replace("_", "-")
    uri = f"{scheme}://" if scheme else "//"
    host = conn.host
    if "://" in host:
        protocol, host = host.split("://", 1)
        uri += f"{protocol}://"
    if conn.login is not None or conn.password is not None:
        if conn.login is not None:
            uri += quote(conn.login, safe="")
        if conn.password is not None:
            uri += ":" + (quote(conn.password, safe="") if reveal_secrets else MASK)
        uri += "@"
    if ":" in host:
        uri += f"[{host.strip('[]')}]"
    else:
        uri += quote(host, safe="")
    uri += f":{conn.port}"
    if conn.schema:
        uri += "/" + quote(conn.schema, safe="")
    shown = dict(extras) if reveal_secrets else mask_extras(extras)
    if not shown:
        return uri
    as_params = {k: v for k, v in shown.items() if isinstance(v, str)}
    if not force_extra_key and len(as_params) == len(shown) and EXTRA_KEY not in shown:
        return uri + "?" + urlencode(as_params, quote_via=quote, safe="*/:")
    return uri + f"?{EXTRA_KEY}=" + quote(json.dumps(shown, separators=(",", ":")), safe="*")
