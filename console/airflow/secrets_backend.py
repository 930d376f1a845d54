"""The secrets backend configured in Airflow's ``[secrets]`` section, read without importing Airflow.

``backend`` is a class path; ``backend_kwargs`` a JSON object (Airflow falls back to no kwargs,
with a logged warning, when it is not one), and ``AIRFLOW__SECRETS__BACKEND_KWARG__<NAME>``
variables override single kwargs. Only the local-filesystem backend can be read natively; every
other class needs Airflow itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import airflow_config_path, expand_value, get_option

LOCAL_FILESYSTEM_BACKENDS = (
    "airflow.secrets.local_filesystem.LocalFilesystemBackend",
    "airflow.secrets.LocalFilesystemBackend",
)
_KWARG_PREFIX = "AIRFLOW__SECRETS__BACKEND_KWARG__"


@dataclass(frozen=True)
class SecretsBackend:
    """``[secrets] backend`` as configured: class path, kwargs, where it was set, and any problem with the kwargs."""

    classpath: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    origin: str = ""
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.classpath.rsplit(".", 1)[-1]

    @property
    def is_local_filesystem(self) -> bool:
        return self.classpath in LOCAL_FILESYSTEM_BACKENDS

    @property
    def connections_file(self) -> Path | None:
        """The file a local-filesystem backend reads connections from (None: it serves none)."""
        value = self.kwargs.get("connections_file_path")
        return Path(str(value)) if self.is_local_filesystem and value else None

    @property
    def label(self) -> str:
        if self.is_local_filesystem:
            where = self.connections_file or "no connections_file_path"
            return f"[secrets] backend {self.name} ({where})"
        return f"[secrets] backend {self.name}"


def configured_backend(env: Mapping[str, str] | None = None, cfg_path: Path | None = None) -> SecretsBackend | None:
    """The backend Airflow searches first for connections, or None when none is configured."""
    env = os.environ if env is None else env
    raw = get_option("secrets", "backend", env=env, cfg_path=cfg_path)
    classpath = expand_value(raw, env).strip() if raw else ""
    if not classpath:
        return None
    origin = "AIRFLOW__SECRETS__BACKEND" if "AIRFLOW__SECRETS__BACKEND" in env else (
        f"{cfg_path or airflow_config_path(env)} [secrets] backend")
    kwargs: dict[str, Any] = {}
    problem = None
    text = get_option("secrets", "backend_kwargs", env=env, cfg_path=cfg_path)
    if text:
        try:
            parsed = json.loads(expand_value(text, env))
        except (ValueError, RecursionError):
            problem = "[secrets] backend_kwargs is not valid JSON; Airflow uses no kwargs"
        else:
            if isinstance(parsed, dict):
                kwargs = parsed
            elif parsed:
                problem = "[secrets] backend_kwargs is not a JSON object; Airflow uses no kwargs"
    for name, value in env.items():
        if name.startswith(_KWARG_PREFIX) and len(name) > len(_KWARG_PREFIX):
            kwargs[name[len(_KWARG_PREFIX):].lower()] = value
    return SecretsBackend(classpath, kwargs, origin, problem)
