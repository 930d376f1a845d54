"""What a resolved connection is, and the RemSvc provider hook's rules for reading it.

A ``ResolvedConnection`` holds the fields as Airflow's ``Connection`` has them plus where it came
from. The channel properties (``use_ssl``, ``port``, ``bearer_token``) follow the provider's hook
exactly, because that is what the DAGs talk with: ``bool(extra_dejson.get("use_ssl", False))``,
``conn.port or 50051`` and ``extra_dejson.get("bearer_token") or None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..remsvc.model import DEFAULT_PORT, Target

ENV_PREFIX = "AIRFLOW_CONN_"
FILE_ENV_VAR = "REMSVC_CONSOLE_CONNECTIONS_FILE"
EXTRA_KEY = "__extra__"
REMSVC_CONN_TYPES = ("remsvc", "grpc")
KNOWN_EXTRAS = ("use_ssl", "ca_cert_path", "bearer_token")
MASK = "***"
# Extras nested deeper than this are refused: nothing the hook reads is nested, and deeper values
# would exhaust the recursion of every JSON tool that later prints or masks them.
MAX_EXTRA_DEPTH = 64

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


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


class AirflowResolveError(ConnectionLookupError):
    """Airflow was asked and could not answer (crashed, timed out, refused access)."""


@dataclass(frozen=True)
class ConnWarning:
    """A connection that resolves, but probably not to what its author meant."""

    code: str
    message: str
    fix: str | None = None


@dataclass
class ResolvedConnection:
    """One connection as Airflow sees it, plus where it came from and what looks wrong with it.

    ``port`` is the port the hook uses (``port_given or 50051``); ``port_given`` is the stored
    value. Secrets stay out of ``repr``. ``notes`` are what the parser noticed on the way (repeated
    or ignored query parameters); they open the ``warnings`` list.
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
    port_given: int | None = None

    @property
    def use_ssl(self) -> bool:
        """The hook's rule: any truthy value, so every non-empty string (``"false"`` too) means TLS."""
        return bool(self.extras.get("use_ssl", False))

    @property
    def ca_cert_path(self) -> str | None:
        value = self.extras.get("ca_cert_path")
        return str(value) if value not in (None, "") else None

    @property
    def bearer_token(self) -> str | None:
        """The hook's ``extra_dejson.get("bearer_token") or None``, as the text it sends."""
        value = self.extras.get("bearer_token") or None
        return None if value is None else str(value)

    @property
    def address(self) -> str:
        return address_of(self.host, self.port)

    @property
    def target(self) -> Target:
        if not self.host:
            raise malformed(self.conn_id, self.source, "has no host")
        return Target(
            name=self.conn_id,
            host=self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            ca_cert_path=self.ca_cert_path,
            bearer_token=self.bearer_token,
        )


@dataclass
class ConnectionScan:
    """Every connection the listable sources define, the entries that could not be read, and what was not listed."""

    connections: list[ResolvedConnection]
    errors: list[MalformedConnection]
    file: Path | None
    unlisted: list[str] = field(default_factory=list)


def parse_bool(value: Any) -> bool | None:
    """How a person reads a boolean written as JSON or as a string; None when it reads as neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE | {"off"}:
            return False
        if lowered == "on":
            return True
    return None


def malformed(conn_id: str, source: str, problem: str) -> MalformedConnection:
    return MalformedConnection(f"connection {conn_id!r} ({source}): {problem}", conn_id=conn_id, problem=problem)


def address_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and "://" not in host and not host.startswith("[") else host
    return f"{shown}:{port}"

