"""Read Airflow options the way Airflow layers them, without importing Airflow.

Precedence: ``AIRFLOW__{SECTION}__{KEY}`` environment variable, then ``$AIRFLOW_CONFIG`` (default
``$AIRFLOW_HOME/airflow.cfg``, ``AIRFLOW_HOME`` defaulting to ``~/airflow``), then the caller's default.
"""

from __future__ import annotations

import configparser
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
