"""Where the Health watcher's inputs come from: API URLs, RemSvc targets, thresholds, the bearer token.

Precedence for API URLs: command line, then the ``health:`` section of the console's config file,
then Airflow's own configuration read without importing Airflow: ``[core]
dag_processing_api_server_url`` (the DAG processor's view of its API server), else ``[api] base_url``,
else ``[core] execution_api_server_url``, else the ``[api] port`` the server binds. Heartbeat
thresholds default to the ones Airflow itself uses to call a component healthy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..airflow.config import airflow_config_path, get_option
from .supervisor_address import SupervisorAddress, SupervisorAddressError, parse_supervisor_url, read_supervisord_conf
from ..remsvc.model import Target
from ..settings import default_config_path

CONFIG_SECTION = "health"
THRESHOLD_OPTIONS = {
    "scheduler": ("scheduler", "scheduler_health_check_threshold"),
    "triggerer": ("triggerer", "triggerer_health_check_threshold"),
    "dag_processor": ("dag_processor", "health_check_threshold"),
}
_MOUNT_SUFFIXES = ("/dag-processing", "/execution")


class HealthConfigError(Exception):
    """Unusable health input (bad URL, unreadable token file, bad config); ``str()`` is one line."""


@dataclass(frozen=True)
class ApiUrl:
    url: str
    source: str


@dataclass(frozen=True)
class HealthConfig:
    """The ``health:`` section of the console's config file."""

    api_urls: tuple[str, ...] = ()
    conns: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    token_file: Path | None = None
    ca_cert: Path | None = None
    interval: float | None = None
    heartbeat_threshold: float | None = None
    path: Path | None = None


_LIST_KEYS = ("api_urls", "conns", "supervisors")
_PATH_KEYS = ("token_file", "ca_cert")
_NUMBER_KEYS = ("interval", "heartbeat_threshold")
_KNOWN = _LIST_KEYS + _PATH_KEYS + _NUMBER_KEYS


def load_health_config(path: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> HealthConfig:
    """Read only the ``health:`` mapping of the config file; an absent default file is an empty config."""
    explicit = path is not None
    path = Path(path).expanduser() if path is not None else default_config_path(env)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if explicit:
            raise HealthConfigError(f"{path}: config file not found") from None
        return HealthConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise HealthConfigError(f"{path}: cannot read config file: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise HealthConfigError(f"{path}:{where}: {getattr(exc, 'problem', None) or 'invalid YAML'}") from None
    section = data.get(CONFIG_SECTION) if isinstance(data, dict) else None
    if section is None:
        return HealthConfig(path=path)
    if not isinstance(section, dict):
        raise HealthConfigError(f"{path}: {CONFIG_SECTION}: expected a mapping")
    unknown = sorted(str(k) for k in section if k not in _KNOWN)
    if unknown:
        raise HealthConfigError(f"{path}: {CONFIG_SECTION}.{unknown[0]}: unknown key (known: {', '.join(_KNOWN)})")
    values: dict[str, Any] = {"path": path}
    for key, value in section.items():
        where = f"{path}: {CONFIG_SECTION}.{key}"
        if key in _LIST_KEYS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise HealthConfigError(f"{where}: expected a list of strings")
            values[key] = tuple(i.strip() for i in items if i.strip())
        elif key in _PATH_KEYS:
            if not isinstance(value, str) or not value.strip():
                raise HealthConfigError(f"{where}: expected a path")
            values[key] = Path(os.path.expandvars(value)).expanduser()
        else:
            values[key] = positive_seconds(value, where)
    return HealthConfig(**values)


def positive_seconds(value: Any, where: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise HealthConfigError(f"{where}: expected a number of seconds, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise HealthConfigError(f"{where}: must be a positive number of seconds, got {value!r}")
    return number


def _strip_mount(url: str) -> str:
    trimmed = url.strip().rstrip("/")
    for suffix in _MOUNT_SUFFIXES:
        if trimmed.endswith(suffix):
            return trimmed[: -len(suffix)]
    return trimmed


def airflow_api_url(env: Mapping[str, str] | None = None) -> ApiUrl | None:
    """The API server Airflow's own configuration points at, or None when it names none."""
    env = os.environ if env is None else env
    for section, key in (("core", "dag_processing_api_server_url"), ("api", "base_url"),
                         ("core", "execution_api_server_url")):
        value = (get_option(section, key, env=env) or "").strip()
        if value:
            return ApiUrl(_strip_mount(value), f"Airflow config [{section}] {key}")
    port = (get_option("api", "port", env=env) or "").strip()
    if port and ("AIRFLOW__API__PORT" in env or airflow_config_path(env).exists()):
        host = (get_option("api", "host", env=env) or "").strip()
        if host in ("", "0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        return ApiUrl(f"http://{host}:{port}", "Airflow config [api] host/port")
    return None


def resolve_api_urls(
    cli_urls: Sequence[str] = (), config: HealthConfig | None = None, *, env: Mapping[str, str] | None = None
) -> list[ApiUrl]:
    """The base URLs to watch, first source that names any; each normalized, duplicates dropped."""
    config = config or HealthConfig()
    if cli_urls:
        raw = [ApiUrl(u, "command line") for u in cli_urls]
    elif config.api_urls:
        raw = [ApiUrl(u, f"config {config.path}") for u in config.api_urls]
    else:
        found = airflow_api_url(env)
        raw = [found] if found else []
    from .http_probes import normalize_base_url  # httpx: only when there are URLs to check

    seen: dict[str, ApiUrl] = {}
    for item in raw:
        try:
            url = normalize_base_url(_strip_mount(item.url))
        except ValueError as exc:
            raise HealthConfigError(f"{item.source}: {exc}") from None
        seen.setdefault(url, ApiUrl(url, item.source))
    return list(seen.values())


def resolve_supervisors(
    cli_urls: Sequence[str] = (), cli_confs: Sequence[str] = (), config: HealthConfig | None = None
) -> list[SupervisorAddress]:
    """supervisord instances to watch: the command line's (URLs and config files), else the config file's.

    An entry of ``health: supervisors:`` is a URL (``http://user:pass@host:9001``, ``unix:///path``) or
    the path of a supervisord config file. Duplicates (same address) are dropped, first one wins.
    """
    config = config or HealthConfig()
    found: list[SupervisorAddress] = []
    try:
        if cli_urls or cli_confs:
            found += [parse_supervisor_url(u, source="--supervisor") for u in cli_urls]
            for conf in cli_confs:
                found += read_supervisord_conf(conf)
        else:
            where = f"config {config.path}: {CONFIG_SECTION}.supervisors"
            for entry in config.supervisors:
                if "://" not in entry and Path(os.path.expandvars(entry)).expanduser().is_file():
                    found += read_supervisord_conf(Path(os.path.expandvars(entry)).expanduser())
                else:
                    found.append(parse_supervisor_url(entry, source=where))
    except SupervisorAddressError as exc:
        raise HealthConfigError(str(exc)) from None
    unique: dict[str, SupervisorAddress] = {}
    for address in found:
        unique.setdefault(address.display, address)
    return list(unique.values())


def heartbeat_thresholds(override: float | None = None, *, env: Mapping[str, str] | None = None) -> dict[str, float]:
    """Seconds after which each component's heartbeat counts as stale, as Airflow would judge it."""
    from .http_probes import DEFAULT_THRESHOLD_S

    out = {}
    for component, (section, key) in THRESHOLD_OPTIONS.items():
        if override is not None:
            out[component] = override
            continue
        raw = get_option(section, key, env=env)
        try:
            value = float(raw) if raw not in (None, "") else DEFAULT_THRESHOLD_S
        except ValueError:
            raise HealthConfigError(f"Airflow config [{section}] {key}: not a number: {raw!r}") from None
        out[component] = value if value > 0 else DEFAULT_THRESHOLD_S
    return out


def resolve_targets(patterns: Sequence[str], *, env: Mapping[str, str] | None = None,
                    connections_file: str | os.PathLike[str] | None = None, globs_in_db: bool = False) -> list[Target]:
    """RemSvc targets for connection ids or globs, resolved exactly as the dispatch path resolves them
    (``globs_in_db``: globs match Airflow's metadata DB too, as with ``run --airflow``)."""
    from ..airflow.conn_model import ConnectionLookupError
    from ..airflow.conn_sources import match_connections

    if not patterns:
        return []
    try:
        return [c.target for c in match_connections(patterns, env=env, connections_file=connections_file,
                                                    globs_in_db=globs_in_db)]
    except ConnectionLookupError as exc:
        raise HealthConfigError(str(exc)) from None


class TokenFile:
    """A bearer token kept in a file, re-read whenever the file changes (rotation without restart).

    When a rotated file cannot be read, the last good token stays in use and ``error`` says why.
    The token never appears in ``repr``.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser()
        self.error: str | None = None
        self._signature: tuple[int, int, int] | None = None
        self._token: str | None = None

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def check(self) -> None:
        """Fail early, in one line, when the file cannot supply a token at all."""
        if self() is None:
            raise HealthConfigError(f"token file {self.path}: {self.error or 'empty'}")

    def __call__(self) -> str | None:
        try:
            stat = self.path.stat()
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            return self._token
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if signature == self._signature:
            return self._token
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            self.error = getattr(exc, "strerror", None) or type(exc).__name__
            return self._token
        self._signature = signature
        if not text or any(c.isspace() for c in text):
            self.error = "empty" if not text else "expected one token without spaces"
            return self._token
        self.error = None
        self._token = text
        return self._token
