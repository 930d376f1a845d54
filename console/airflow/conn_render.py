"""How a connection is shown: Airflow URIs and descriptions with every secret masked.

Masking is by key name, as Airflow's secrets masker does it, and then by value (``scrub``), so a
secret reaches no output in any encoding a URI builder could have produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from .conn_model import EXTRA_KEY, MASK, ResolvedConnection

# Airflow's secrets masker hides extras whose lower-cased name contains one of these.
_SENSITIVE = ("access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
              "private_key", "secret", "token", "keyfile_dict", "service_account", "bearer")


def is_sensitive(key: str) -> bool:
    from .conn_lint import typo_of

    lowered = key.lower()
    return any(word in lowered for word in _SENSITIVE) or typo_of(key) == "bearer_token"


def mask_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``extras`` with secret values (also inside a nested ``extra`` JSON string) as ``***``."""
    return {key: _masked_value(key, value) for key, value in extras.items()}


def secrets_of(conn: ResolvedConnection) -> set[str]:
    """Every secret value the connection holds (password, token, sensitive extras), for redaction."""
    found: set[str] = set()
    if conn.password:
        found.add(conn.password)
    if conn.bearer_token:
        found.add(conn.bearer_token)
    _collect_secrets(conn.extras, found)
    return found


def describe(conn: ResolvedConnection) -> dict[str, Any]:
    """JSON-safe description with every secret masked: what ``conn show --json`` prints."""
    return {
        "conn_id": conn.conn_id,
        "conn_type": conn.conn_type,
        "host": conn.host,
        "port": conn.port,
        "address": conn.address,
        "login": conn.login,
        "password": MASK if conn.password else None,
        "schema": conn.schema or None,
        "use_ssl": conn.use_ssl,
        "ca_cert_path": conn.ca_cert_path,
        "bearer_token": MASK if conn.bearer_token else None,
        "extras": mask_extras(conn.extras),
        "uri": masked_uri(conn),
        "source": conn.source,
        "warnings": [{"code": w.code, "message": w.message, "fix": w.fix} for w in conn.warnings],
    }


def masked_uri(conn: ResolvedConnection) -> str:
    """The connection as an Airflow URI, with the password and every secret extra shown as ``***``."""
    return connection_uri(conn)


def connection_uri(conn: ResolvedConnection, *, reveal_secrets: bool = False) -> str:
    """The connection as an Airflow URI: plain query parameters when they round-trip, else ``__extra__``."""
    return scrub(_build_uri(conn, conn.extras, reveal_secrets=reveal_secrets), conn, reveal_secrets)


def uri_with_extras(conn: ResolvedConnection, extras: Mapping[str, Any], *, reveal_secrets: bool = False) -> str:
    """The connection with other extras, always in ``__extra__`` form (JSON types survive); secrets masked."""
    return scrub(_build_uri(conn, extras, reveal_secrets=reveal_secrets, force_extra_key=True), conn, reveal_secrets)


def scrub(text: str, conn: ResolvedConnection, reveal: bool = False) -> str:
    """Belt and braces: no secret survives in any encoding the URI builder could have produced."""
    if reveal:
        return text
    for secret in sorted((s for s in secrets_of(conn) if len(s) >= 4), key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret, safe="*"), quote_plus(secret), json.dumps(secret)[1:-1]}:
            if form:
                text = text.replace(form, MASK)
    return text


def _masked_value(key: str, value: Any) -> Any:
    if is_sensitive(key) and value not in (None, ""):
        return MASK
    if isinstance(value, dict):
        return mask_extras(value)
    if isinstance(value, list):
        return [_masked_value("", item) for item in value]
    if isinstance(value, str) and value.lstrip().startswith("{"):
        inner = _json_object(value)
        if inner is not None:
            return json.dumps(mask_extras(inner), separators=(",", ":"))
    return value


def _collect_secrets(extras: Mapping[str, Any], found: set[str]) -> None:
    for key, value in extras.items():
        if is_sensitive(key) and isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
            found.add(str(value))
        elif isinstance(value, dict):
            _collect_secrets(value, found)
        elif isinstance(value, str) and value.lstrip().startswith("{"):
            inner = _json_object(value)
            if inner is not None:
                _collect_secrets(inner, found)


def _json_object(text: str) -> dict[str, Any] | None:
    """A JSON object held in a string extra; None for anything else, including JSON too deep to read."""
    from .conn_parse import load_json

    try:
        inner = load_json(text)
    except ValueError:
        return None
    return inner if isinstance(inner, dict) else None


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
