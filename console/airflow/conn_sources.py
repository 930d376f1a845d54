"""Where connections come from, searched in Airflow's order, and the lookups built on them.

``Connection.get_connection_from_secrets`` in Airflow 3.3.2 asks the ``[secrets]`` backend first,
then ``AIRFLOW_CONN_<ID>`` variables, then the metadata DB. The console keeps that order and adds
its own connections file (``--connections-file``) before the DB:

1. the configured ``[secrets] backend``: a local-filesystem backend is read here; any other class
   is asked through Airflow (which then answers for the whole chain);
2. the ``AIRFLOW_CONN_<ID>`` environment variable;
3. the console's connections file;
4. the metadata DB, through Airflow.

"Not found" names every source tried and what was unavailable. Globs and ``conn list`` see the
sources that can be listed without Airflow (1 when local, 2, 3); ``scan_with_airflow`` adds the
metadata DB's ids, each resolved by Airflow in its own order (a remote backend still cannot be listed).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..remsvc.model import Target
from .conn_files import FileEntry, FileFormatError, read_entries
from .conn_lint import lint_connection
from .conn_model import (
    ENV_PREFIX,
    FILE_ENV_VAR,
    AirflowResolveError,
    ConnectionNotFound,
    ConnectionScan,
    ConnectionsFileError,
    ConnWarning,
    MalformedConnection,
    ResolvedConnection,
    malformed,
)
from .conn_parse import FILE_FORM_KEYS, from_fields, parse_connection_value
from .secrets_backend import SecretsBackend, configured_backend

if TYPE_CHECKING:
    from .via_airflow import AirflowAnswer

_GLOB_CHARS = frozenset("*?[")
DB_SOURCE = "metadata DB (via Airflow)"
DB_UNLISTED = "metadata DB"
TEAM_UNLISTED = f"{DB_UNLISTED} connections of team "


def is_glob(pattern: str) -> bool:
    """Whether a ``--conn`` value is a glob (matched against listed ids) rather than one id."""
    return not _GLOB_CHARS.isdisjoint(pattern)


def resolve_connection(
    conn_id: str,
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    airflow_python: str | None = None,
) -> ResolvedConnection:
    """The connection Airflow would use for ``conn_id``, searched in Airflow's order (see module doc)."""
    return Sources(env, connections_file, airflow_python=airflow_python).resolve([conn_id])[0]


def resolve_target(conn_id: str, **kwargs) -> Target:
    """The RemSvc target of ``conn_id``; raises ConnectionLookupError like ``resolve_connection``."""
    return resolve_connection(conn_id, **kwargs).target


def scan_connections(
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    conn_types: Iterable[str] | None = None,
) -> ConnectionScan:
    """Every connection the listable sources define; a malformed file raises ConnectionsFileError."""
    sources = Sources(env, connections_file)
    connections, errors = sources.scan()
    if conn_types is not None:
        wanted = set(conn_types)
        connections = [c for c in connections if c.conn_type in wanted]
    return ConnectionScan(connections, errors, sources.file, sources.unlisted())


def scan_with_airflow(
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    airflow_python: str | None = None,
) -> tuple[ConnectionScan, list[str]]:
    """``scan_connections`` plus every id in the metadata DB, resolved as Airflow resolves it, in one child.

    An id the listable sources already answer for keeps that answer (the one ``resolve_connection``
    gives); the others show what Airflow's lookup returned and from which backend. The second item
    holds one line per problem: Airflow unavailable or failing, the DB not listable (the native
    connections are still there, and the DB stays in ``unlisted``), an id a backend refused.
    """
    sources = Sources(env, connections_file, airflow_python=airflow_python)
    native, errors = sources.scan()
    try:
        connections, db = _with_db(sources, native, errors)
    except AirflowResolveError as exc:
        return ConnectionScan(native, errors, sources.file, sources.unlisted()), [str(exc)]
    unlisted = [u for u in sources.unlisted() if u != DB_UNLISTED] + db.unlisted
    return ConnectionScan(connections, errors + db.errors, sources.file, unlisted), db.problems


def _with_db(sources: Sources, native: list[ResolvedConnection],
             errors: list[MalformedConnection]) -> tuple[list[ResolvedConnection], AirflowScan]:
    """The native connections merged with the metadata DB's (one Airflow child), sorted by id, and
    what Airflow added; raises AirflowResolveError when Airflow or the DB cannot answer."""
    found = {c.conn_id: c for c in native}
    db = sources.scan_airflow(found.keys() | {e.conn_id for e in errors if e.conn_id})
    if sources.file is not None:
        _warn_file_shadows_db(native, f"file {sources.file}", set(db.db_ids))
    found.update((c.conn_id, c) for c in db.connections)
    return sorted(found.values(), key=lambda c: c.conn_id), db


def _warn_file_shadows_db(connections: list[ResolvedConnection], file_source: str, db_ids: set[str]) -> None:
    """The console's own connections file comes before the DB here, but Airflow never reads it: for
    an id the DB also holds, the DAGs get the DB's connection, not the one the console shows."""
    for conn in connections:
        if conn.source == file_source and conn.conn_id in db_ids:
            conn.warnings.append(ConnWarning(
                "file_shadows_db",
                "the metadata DB also holds this id, and Airflow's DAGs get that connection: the console's "
                "connections file is not one Airflow reads",
                "remove the id from one of them, or make the file Airflow's local-filesystem secrets backend",
            ))


@dataclass
class AirflowScan:
    """What Airflow adds to a listing: connections, unreadable ones, one-line problems, parts not listed."""

    connections: list[ResolvedConnection] = field(default_factory=list)
    errors: list[MalformedConnection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    db_ids: list[str] = field(default_factory=list)
    unresolved: dict[str, str] = field(default_factory=dict)  # id -> its problem line


def list_connections(**kwargs) -> list[ResolvedConnection]:
    """The connections of ``scan_connections``; unreadable entries are left out (scan reports them)."""
    return scan_connections(**kwargs).connections


def match_connections(
    patterns: Iterable[str],
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    conn_types: Iterable[str] | None = None,
    airflow_python: str | None = None,
    globs_in_db: bool = False,
) -> list[ResolvedConnection]:
    """Expand ids and globs (``remsvc_web_*``) in order, without duplicates.

    A glob that matches nothing, or matches a connection that cannot be read, raises: a fan-out must
    not quietly lose a target. ``conn_types`` narrows what globs match; plain ids are taken as given
    and resolved together. Globs match the listable sources, and with ``globs_in_db`` the metadata
    DB too, each id as Airflow resolves it (one more Airflow child, started only for a glob).
    """
    sources = Sources(env, connections_file, airflow_python=airflow_python)
    patterns = list(patterns)
    plain = [p for p in patterns if not is_glob(p)]
    resolved = {c.conn_id: c for c in sources.resolve(plain)} if plain else {}
    wanted = set(conn_types) if conn_types is not None else None
    chosen: dict[str, ResolvedConnection] = {}
    scanned: tuple[list[ResolvedConnection], list[MalformedConnection], dict[str, str]] | None = None
    for pattern in patterns:
        if pattern in resolved:
            chosen.setdefault(pattern, resolved[pattern])
            continue
        if scanned is None:
            scanned = _scan_for_globs(sources, globs_in_db)
        connections, errors, unresolved = scanned
        lowered = pattern.lower()
        for error in errors:
            if fnmatch.fnmatchcase((error.conn_id or "").lower(), lowered):
                raise error
        for conn_id, problem in unresolved.items():
            if fnmatch.fnmatchcase(conn_id.lower(), lowered):
                raise AirflowResolveError(problem)
        hits = [c for c in connections if fnmatch.fnmatchcase(c.conn_id.lower(), lowered)]
        if wanted is not None:
            hits = [c for c in hits if c.conn_type in wanted]
        if not hits:
            searched = sources.listable() + ("; metadata DB (via Airflow)" if globs_in_db else "")
            raise ConnectionNotFound(f"no connection id matches {pattern!r} (searched {searched})")
        for conn in hits:
            chosen.setdefault(conn.conn_id, conn)
    return list(chosen.values())


def _scan_for_globs(sources: Sources, with_db: bool):
    """What globs match: connections, unreadable ones, and DB ids Airflow would not resolve."""
    native, errors = sources.scan()
    if not with_db:
        return native, errors, {}
    connections, db = _with_db(sources, native, errors)
    return connections, errors + db.errors, db.unresolved


def needs_airflow(
    conn_ids: Iterable[str],
    *,
    env: Mapping[str, str] | None = None,
    connections_file: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The plain ids that only Airflow can answer (so a caller can ask in the background).

    Empty when Airflow cannot be found: then resolving them at once fails at once, with the reason.
    """
    from .via_airflow import AirflowUnavailable, find_airflow_python

    sources = Sources(env, connections_file)
    out = []
    for conn_id in conn_ids:
        if is_glob(conn_id) or not conn_id.strip():
            continue
        try:
            if sources.native(conn_id) is None:
                out.append(conn_id)
        except MalformedConnection:
            continue
    if out:
        try:
            find_airflow_python(sources.env)
        except AirflowUnavailable:
            return []
    return out


class Sources:
    """The sources for one lookup; each file is read at most once, Airflow started at most once."""

    def __init__(
        self,
        env: Mapping[str, str] | None,
        connections_file: str | os.PathLike[str] | None,
        *,
        airflow_python: str | None = None,
    ):
        self.env: Mapping[str, str] = os.environ if env is None else env
        if connections_file is None or str(connections_file) == "":
            connections_file = self.env.get(FILE_ENV_VAR) or None
        self.file = Path(connections_file).expanduser() if connections_file else None
        self.backend: SecretsBackend | None = configured_backend(self.env)
        self.airflow_python = airflow_python
        self._files: dict[Path, dict[str, ResolvedConnection]] = {}

    @property
    def backend_file(self) -> Path | None:
        return self.backend.connections_file if self.backend is not None else None

    def listable(self) -> str:
        parts = []
        if self.backend_file is not None:
            parts.append(str(self.backend_file))
        parts.append(f"{ENV_PREFIX}* variables")
        parts.append(str(self.file) if self.file else f"no connections file (--connections-file or {FILE_ENV_VAR})")
        return "; ".join(parts)

    def unlisted(self) -> list[str]:
        """Sources that hold connections ``conn list`` cannot show without Airflow."""
        out = [DB_UNLISTED]
        if self.backend is not None and not self.backend.is_local_filesystem:
            out.insert(0, self.backend.label)
        return out

    def native(self, conn_id: str) -> ResolvedConnection | None:
        """The connection from sources read without Airflow, or None when Airflow must be asked."""
        if self.backend is not None and not self.backend.is_local_filesystem:
            return None
        if self.backend_file is not None:
            conn = self._file(self.backend_file, self.backend.label).get(conn_id)
            if conn is not None:
                return conn
        return self._env_or_file(conn_id)

    def _env_or_file(self, conn_id: str) -> ResolvedConnection | None:
        var = ENV_PREFIX + conn_id.upper()
        value = self.env.get(var)
        if value and value.strip():
            return parse_connection_value(conn_id, value, source=f"env {var}")
        if self.file is not None:
            return self._file(self.file, f"file {self.file}").get(conn_id)
        return None

    def resolve(self, conn_ids: list[str]) -> list[ResolvedConnection]:
        """Each id in order; those no native source has are asked of Airflow together."""
        found: dict[str, ResolvedConnection] = {}
        for conn_id in conn_ids:
            if not conn_id or not conn_id.strip():
                raise ConnectionNotFound("empty connection id")
            conn = self.native(conn_id)
            if conn is not None:
                found[conn_id] = conn
        pending = [c for c in conn_ids if c not in found]
        if pending:
            found.update(self._via_airflow(pending))
        return [found[c] for c in conn_ids]

    def scan(self) -> tuple[list[ResolvedConnection], list[MalformedConnection]]:
        found: dict[str, ResolvedConnection] = {}
        errors: list[MalformedConnection] = []
        if self.backend_file is not None:
            found.update(self._file(self.backend_file, self.backend.label))
        for var in sorted(self.env):
            value = self.env[var]
            if not var.startswith(ENV_PREFIX) or len(var) == len(ENV_PREFIX) or not value.strip():
                continue
            conn_id = var[len(ENV_PREFIX):].lower()
            if conn_id in found:
                continue
            try:
                found[conn_id] = parse_connection_value(conn_id, value, source=f"env {var}")
            except MalformedConnection as exc:
                errors.append(exc)
        shadowed = {c.upper() for c in found} | {(e.conn_id or "").upper() for e in errors}
        if self.file is not None:
            for conn_id, conn in self._file(self.file, f"file {self.file}").items():
                if conn_id.upper() not in shadowed:
                    found[conn_id] = conn
        return sorted(found.values(), key=lambda c: c.conn_id), errors

    def _file(self, path: Path, source: str) -> dict[str, ResolvedConnection]:
        if path not in self._files:
            self._files[path] = _load_file(path, source)
        return self._files[path]

    def _via_airflow(self, conn_ids: list[str]) -> dict[str, ResolvedConnection]:
        from .via_airflow import AirflowFailed, AirflowUnavailable, ask_airflow, find_airflow_python

        try:
            python = find_airflow_python(self.env, self.airflow_python)
        except AirflowUnavailable as exc:
            return self._without_airflow(conn_ids, str(exc))
        try:
            answers = ask_airflow(conn_ids, env=self.env, python=python)
        except AirflowFailed as exc:
            raise AirflowResolveError(f"connection {conn_ids[0]!r}: {exc}", conn_id=conn_ids[0]) from None
        out = {}
        for conn_id in conn_ids:
            answer = answers[conn_id]
            if answer.fields is None and answer.unreadable is None:
                raise ConnectionNotFound(self._not_found(conn_id, answer.tried, None), conn_id=conn_id)
            out[conn_id] = self._from_airflow(conn_id, answer)
        return out

    def scan_airflow(self, listed: Iterable[str]) -> AirflowScan:
        """The DB's ids that native sources do not answer for, each as Airflow's lookup resolves it.

        ``listed`` ids are kept from the native scan unless a backend only Airflow reads comes first
        (then ``native`` is not authoritative and Airflow is asked for them too). Ids a team owns are
        named as not listed: Airflow gives them only to that team's DAGs. Raises AirflowResolveError
        when Airflow cannot be found or started, or cannot list the DB.
        """
        from .via_airflow import AirflowFailed, AirflowUnavailable, find_airflow_python, list_airflow

        kept = set(listed)
        remote_first = self.backend is not None and not self.backend.is_local_filesystem
        skip = set() if remote_first else kept
        try:
            python = find_airflow_python(self.env, self.airflow_python)
            listing = list_airflow(skip, env=self.env, python=python)
        except (AirflowUnavailable, AirflowFailed) as exc:
            raise AirflowResolveError(f"metadata DB not listed: {exc}") from None
        if listing.db_error is not None:
            raise AirflowResolveError(f"metadata DB not listed: {listing.db_error}")
        out = AirflowScan(db_ids=list(listing.db_ids))
        for conn_id, why in sorted(listing.denied.items()):
            out.unresolved[conn_id] = f"connection {conn_id!r}: {why}"
            out.problems.append(out.unresolved[conn_id])
        by_team: dict[str, list[str]] = {}
        for conn_id in listing.db_ids:
            answer = listing.answers.get(conn_id)
            if conn_id in listing.teams and conn_id not in kept:
                by_team.setdefault(listing.teams[conn_id], []).append(conn_id)
            elif answer is None:
                continue
            elif answer.fields is None and answer.unreadable is None:
                out.unresolved[conn_id] = f"{self._not_found(conn_id, answer.tried, None)} (the DB lists it)"
                out.problems.append(out.unresolved[conn_id])
            else:
                try:
                    out.connections.append(self._from_airflow(conn_id, answer))
                except MalformedConnection as exc:
                    out.errors.append(exc)
        for team, ids in sorted(by_team.items()):
            out.unlisted.append(f"{TEAM_UNLISTED}{team}: {', '.join(ids)} (only that team's DAGs get them)")
        return out

    def _from_airflow(self, conn_id: str, answer: AirflowAnswer) -> ResolvedConnection:
        source = _airflow_source(answer.backend or "", conn_id)
        if answer.unreadable is not None:
            raise malformed(conn_id, source, f"Airflow cannot read it: {answer.unreadable}")
        conn = from_fields(conn_id, _fields(answer.fields), source=source, allowed=FILE_FORM_KEYS, normalize=False)
        conn.warnings = lint_connection(conn)
        return conn

    def _without_airflow(self, conn_ids: list[str], unavailable: str) -> dict[str, ResolvedConnection]:
        """Airflow cannot be asked: a backend only Airflow reads is skipped, with a warning on what is found."""
        out = {}
        for conn_id in conn_ids:
            conn = None
            if self.backend is not None and not self.backend.is_local_filesystem:
                conn = self._env_or_file(conn_id)
            if conn is None:
                raise ConnectionNotFound(self._not_found(conn_id, None, unavailable), conn_id=conn_id)
            conn.warnings.insert(0, ConnWarning(
                "backend_not_asked",
                f"{self.backend.label} was not asked ({unavailable}); Airflow asks it before {conn.source}",
                "make Airflow available to the console (airflow_python) so the backend is searched first",
            ))
            out[conn_id] = conn
        return out

    def _not_found(self, conn_id: str, tried: list[dict] | None, unavailable: str | None) -> str:
        """One line naming every source in Airflow's order and what each said."""
        var = ENV_PREFIX + conn_id.upper()
        steps = []
        if self.backend is not None:
            if self.backend.is_local_filesystem:
                steps.append(f"{self.backend.label}: no {conn_id!r}")
            else:
                steps.append(f"{self.backend.label}: " + (_said(tried, self.backend.classpath) if tried is not None
                                                           else f"not asked ({unavailable})"))
        steps.append(f"{var}: not set")
        steps.append(f"{self.file}: no {conn_id!r}" if self.file else f"no connections file (--connections-file or {FILE_ENV_VAR})")
        if tried is not None:
            steps.append("metadata DB: " + _said(tried, "airflow.secrets.metastore.MetastoreBackend"))
        else:
            steps.append(f"metadata DB: not asked ({unavailable})")
        numbered = "; ".join(f"{n}) {step}" for n, step in enumerate(steps, start=1))
        return f"connection {conn_id!r} not found; searched in Airflow's order: {numbered}"


def _said(tried: list[dict] | None, classpath: str) -> str:
    for entry in tried or ():
        if entry.get("backend") == classpath or entry.get("backend", "").rsplit(".", 1)[-1] == classpath.rsplit(".", 1)[-1]:
            return f"error ({entry['error']})" if entry.get("error") else "not there"
    return "not asked"


def _airflow_source(backend: str, conn_id: str) -> str:
    name = backend.rsplit(".", 1)[-1]
    if name == "MetastoreBackend":
        return DB_SOURCE
    if name == "EnvironmentVariablesBackend":
        return f"env {ENV_PREFIX}{conn_id.upper()} (via Airflow)"
    return f"[secrets] backend {name} (via Airflow)"


def _fields(raw: dict) -> dict:
    """Airflow's Connection attributes as the field form; empty values dropped as Connection(**fields) would see them."""
    return {k: v for k, v in raw.items() if v not in (None, "")}


def _load_file(path: Path, source: str) -> dict[str, ResolvedConnection]:
    try:
        entries = read_entries(path)
    except FileFormatError as exc:
        raise ConnectionsFileError(f"connections file {exc}") from None
    return {entry.conn_id: _from_entry(path, entry, source) for entry in entries}


def _from_entry(path: Path, entry: FileEntry, source: str) -> ResolvedConnection:
    try:
        if isinstance(entry.value, str):
            conn = parse_connection_value(entry.conn_id, entry.value, source=source)
        else:
            conn = from_fields(entry.conn_id, dict(entry.value), source=source, allowed=FILE_FORM_KEYS, normalize=False)
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
