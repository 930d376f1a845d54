"""Read Airflow options the way Airflow layers them, without importing Airflow.

Precedence: ``AIRFLOW__{SECTION}__{KEY}`` environment variable, then ``$AIRFLOW_CONFIG`` (default
``$AIRFLOW_HOME/airflow.cfg``, ``AIRFLOW_HOME`` defaulting to ``~/airflow``), then the caller's default.
"""

from __future__ import annotations

import configparser
import re
import os
from collections.abc import Mapping
from pathlib import Path


def airflow_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()


def airflow_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("AIRFLOW_CONFIG")
    return Path(explicit).expanduser() if explicit else airflow_home(env) / "airflow.cfg"


def read_airflow_cfg(path: Path) -> configparser.ConfigParser:
    """Parse airflow.cfg leniently: a missing or unreadable file is an empty config."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error, UnicodeDecodeError):
        return configparser.ConfigParser(interpolation=None)
    return parser


def get_option(
    section: str,
    key: str,
    default: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cfg_path: Path | None = None,
) -> str | None:
    """Return one option as Airflow would see it, or ``default`` when neither source sets it."""
    env = os.environ if env is None else env
    value = env.get(f"AIRFLOW__{section.upper()}__{key.upper()}")
    if value is not None:
        return value
    parser = read_airflow_cfg(cfg_path or airflow_config_path(env))
    if parser.has_option(section, key):
        return parser.get(section, key)
    return default


def expand_value(value: str, env: Mapping[str, str] | None = None) -> str:
    """Airflow's ``expand_env_var``: apply ``$VAR``/``${VAR}`` and ``~`` expansion until nothing changes.

    Unset variables stay as written, as ``os.path.expandvars`` leaves them; ``env`` stands in for
    the process environment so a caller can reason about another process's view.
    """
    env = os.environ if env is None else env
    while True:
        expanded = expand_user(_VAR.sub(lambda m: _lookup(m, env), value), env)
        if expanded == value:
            return expanded
        value = expanded


_VAR = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)


def _lookup(match: re.Match[str], env: Mapping[str, str]) -> str:
    name = match.group(1)
    if name.startswith("{") and name.endswith("}"):
        name = name[1:-1]
    return env.get(name, match.group(0))


def expand_user(value: str, env: Mapping[str, str]) -> str:
    if not value.startswith("~"):
        return value
    head, sep, rest = value[1:].partition("/")
    if head:
        return os.path.expanduser(value)
    home = env.get("HOME")
    if home is None:
        return os.path.expanduser(value)
    return (home.rstrip("/") or "/") + (sep + rest if sep else "")
