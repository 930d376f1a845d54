"""Bundle settings from the console's config file and ``REMSVC_CONSOLE_*`` environment variables.

Same file as ``console.settings`` (``$REMSVC_CONSOLE_CONFIG`` or
``$XDG_CONFIG_HOME/remsvc-console/config.yaml``), flat keys like the rest of it::

    bundle_roots: [/opt/airflow/executable-bundles]
    bundle_schema_versions: ["2026-06-16"]   # accepted when airflow.sdk is not importable
    bundle_cache_max_entries: 50000

``REMSVC_CONSOLE_BUNDLE_ROOTS`` (``os.pathsep``-separated) and ``REMSVC_CONSOLE_BUNDLE_SCHEMA_VERSIONS``
(comma-separated) override the file. Only these keys are read here; the headless ``bundles`` command
must not fail on a setting that belongs to the UI. Problems come back as one-line warnings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..settings import CONFIG_ENV, ENV_PREFIX, default_config_path
from .digest_cache import DEFAULT_MAX_ENTRIES

ROOTS_KEY = "bundle_roots"
VERSIONS_KEY = "bundle_schema_versions"
CACHE_KEY = "bundle_cache_max_entries"
ROOTS_ENV = ENV_PREFIX + ROOTS_KEY.upper()
VERSIONS_ENV = ENV_PREFIX + VERSIONS_KEY.upper()


@dataclass(frozen=True)
class BundleOptions:
    roots: tuple[str, ...] = ()
    schema_versions: tuple[str, ...] = ()
    cache_max_entries: int = DEFAULT_MAX_ENTRIES
    roots_origin: str = "config"


def load_bundle_options(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> tuple[BundleOptions, list[str]]:
    """Options layered file < environment, and warnings about anything unusable."""
    env = os.environ if env is None else env
    explicit = path is not None or CONFIG_ENV in env
    path = Path(path).expanduser() if path is not None else default_config_path(env)
    warnings: list[str] = []
    document = _read(path, explicit, warnings)
    roots = _strings(document.get(ROOTS_KEY), f"{path}: {ROOTS_KEY}", warnings)
    roots_origin = f"{path} {ROOTS_KEY}"
    versions = _strings(document.get(VERSIONS_KEY), f"{path}: {VERSIONS_KEY}", warnings)
    if env.get(ROOTS_ENV):
        roots = [p for p in env[ROOTS_ENV].split(os.pathsep) if p]
        roots_origin = ROOTS_ENV
    if env.get(VERSIONS_ENV):
        versions = [v.strip() for v in env[VERSIONS_ENV].split(",") if v.strip()]
    max_entries = document.get(CACHE_KEY, DEFAULT_MAX_ENTRIES)
    if type(max_entries) is not int or max_entries < 1:
        warnings.append(f"{path}: {CACHE_KEY} must be a positive whole number; using {DEFAULT_MAX_ENTRIES}")
        max_entries = DEFAULT_MAX_ENTRIES
    return BundleOptions(tuple(roots), tuple(versions), max_entries, roots_origin), warnings


def _read(path: Path, explicit: bool, warnings: list[str]) -> dict[object, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            warnings.append(f"{path}: config file not found")
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        warnings.append(f"{path}: cannot read config file: {getattr(exc, 'strerror', None) or exc}")
        return {}
    import yaml  # only when there is a file: a scan given its roots needs no YAML until a manifest

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        warnings.append(f"{path}: not valid YAML: {' '.join(str(exc).split())}")
        return {}
    if document is None:
        return {}
    if not isinstance(document, dict):
        warnings.append(f"{path}: expected a mapping of settings at the top level")
        return {}
    return document


def _strings(value: object, where: str, warnings: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    warnings.append(f"{where}: expected a string or a list of strings")
    return []
