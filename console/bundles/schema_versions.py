"""Which supervisor schema versions the local Airflow accepts in a bundle's manifest.

Airflow resolves ``sdk.supervisor_schema_version`` with its task SDK's schema migrator and skips a
bundle whose version it does not know. When ``airflow.sdk`` is importable here, that migrator is
asked (it is the authority); otherwise a built-in list, extendable from the console's config, stands in.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable

BUILTIN_VERSIONS = frozenset({"2026-06-16"})
AIRFLOW_SOURCE = "airflow.sdk schema migrator"
BUILTIN_SOURCE = "built-in list"

Resolve = Callable[[str], str]


class UnknownSchemaVersion(ValueError):
    """The version is not one this supervisor can translate; the message says which ones it can."""


class SchemaVersions:
    """Resolves a manifest's version to its canonical form or raises ``UnknownSchemaVersion``.

    ``use_airflow=True`` looks for ``airflow.sdk`` on first use (importing Airflow is slow, so not
    before a bundle needs it); ``migrator`` injects a resolver directly.
    """

    def __init__(
        self, extra: Iterable[str] = (), *, use_airflow: bool = True, migrator: Resolve | None = None
    ) -> None:
        self._known = BUILTIN_VERSIONS | {str(v) for v in extra}
        self._use_airflow = use_airflow and migrator is None
        self._migrator = migrator
        self._lock = threading.Lock()
        self._looked = migrator is not None or not use_airflow

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self._known)

    @functools.cached_property
    def fingerprint(self) -> str:
        """What a resolution depends on, without importing Airflow: cached reports are keyed by it."""
        if self._migrator is not None and not self._use_airflow:
            return f"migrator:{id(self._migrator)}"
        sdk = _installed_versions("apache_airflow_task_sdk") if self._use_airflow else "none"
        return f"known:{','.join(sorted(self._known))};task-sdk:{sdk}"

    @property
    def source(self) -> str:
        return AIRFLOW_SOURCE if self._resolver() is not None else BUILTIN_SOURCE

    def resolve(self, version: str) -> str:
        migrator = self._resolver()
        if migrator is not None:
            try:
                return str(migrator(version))
            except Exception as exc:  # any refusal by Airflow means "unknown"
                detail = " ".join(str(exc).split()) or type(exc).__name__
                raise UnknownSchemaVersion(
                    f"supervisor_schema_version {version!r} is not accepted by {AIRFLOW_SOURCE}: {detail}"
                ) from None
        if version in self._known:
            return version
        known = ", ".join(sorted(self._known))
        raise UnknownSchemaVersion(
            f"supervisor_schema_version {version!r} is not a known version (known: {known}; {BUILTIN_SOURCE})"
        )

    def _resolver(self) -> Resolve | None:
        if not self._looked:
            with self._lock:
                if not self._looked:
                    self._migrator = airflow_migrator() if self._use_airflow else None
                    self._looked = True
        return self._migrator


def _installed_versions(distribution: str) -> str:
    """The ``*.dist-info`` names of ``distribution`` on ``sys.path`` (importlib.metadata costs more to import)."""
    found = []
    prefix = distribution.lower() + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found.extend(n for n in names if n.lower().startswith(prefix) and n.endswith(".dist-info"))
    return ",".join(sorted(found)) or "none"


def airflow_migrator() -> Resolve | None:
    """Airflow's ``resolve_version`` when the task SDK is importable here, else ``None``."""
    try:
        if importlib.util.find_spec("airflow") is None or importlib.util.find_spec("airflow.sdk") is None:
            return None
        schema = importlib.import_module("airflow.sdk.execution_time.schema")
        return schema.get_schema_version_migrator().resolve_version
    except Exception:  # a broken Airflow install means "not available", not a crash
        return None
