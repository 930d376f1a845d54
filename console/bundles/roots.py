"""Where to look for bundles: explicit arguments, the console's config, or Airflow's own configuration.

The first source that names any root wins, so an operator's argument always beats configuration.
Airflow's roots are the ``executables_root`` kwargs of the ExecutableCoordinator entries in
``[sdk] coordinators`` (a JSON list), read from ``AIRFLOW__SDK__COORDINATORS`` or airflow.cfg without
importing Airflow, so the console lists exactly the directories the workers scan.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..airflow.config import airflow_config_path, get_option

COORDINATOR_CLASS = "ExecutableCoordinator"
ENV_COORDINATORS = "AIRFLOW__SDK__COORDINATORS"


@dataclass(frozen=True)
class RootSpec:
    """One directory (or file) to scan and where it was configured, shown next to it in listings."""

    path: str
    origin: str


@dataclass(frozen=True)
class RootsFound:
    roots: list[RootSpec]
    warnings: list[str] = field(default_factory=list)


def discover_roots(
    arguments: Sequence[str | Path] = (),
    config_roots: Sequence[str | Path] = (),
    *,
    config_origin: str = "config",
    env: Mapping[str, str] | None = None,
    cfg_path: Path | None = None,
) -> RootsFound:
    """Roots from arguments, else the console config, else Airflow's ``[sdk] coordinators``."""
    if arguments:
        return RootsFound(_specs(arguments, "argument"))
    if config_roots:
        return RootsFound(_specs(config_roots, config_origin))
    return airflow_roots(env=env, cfg_path=cfg_path)


def airflow_roots(*, env: Mapping[str, str] | None = None, cfg_path: Path | None = None) -> RootsFound:
    """The ExecutableCoordinator roots Airflow would use, with one-line warnings for what is unusable."""
    env = os.environ if env is None else env
    origin = ENV_COORDINATORS if ENV_COORDINATORS in env else f"{cfg_path or airflow_config_path(env)} [sdk] coordinators"
    raw = get_option("sdk", "coordinators", env=env, cfg_path=cfg_path)
    if raw is None or not raw.strip():
        return RootsFound([], [])
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        return RootsFound([], [f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"])
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        return RootsFound([], [f"{origin} must be a JSON list of coordinator entries"])
    roots: list[RootSpec] = []
    warnings: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            warnings.append(f"{origin}: entry {index} is not a JSON object; ignored")
            continue
        classpath = entry.get("classpath")
        if not isinstance(classpath, str) or classpath.rsplit(".", 1)[-1] != COORDINATOR_CLASS:
            continue
        name = entry.get("name") or classpath
        kwargs = entry.get("kwargs") if isinstance(entry.get("kwargs"), dict) else {}
        value = kwargs.get("executables_root")
        paths = [value] if isinstance(value, str) else value
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            warnings.append(f"{origin}: coordinator {name!r} has no usable executables_root (a path or list of paths)")
            continue
        for path in paths:
            expanded = os.path.expanduser(path)
            if not os.path.isabs(expanded):
                warnings.append(
                    f"{origin}: coordinator {name!r} root {path!r} is relative: Airflow resolves it from the worker's working directory"
                )
            roots.append(RootSpec(expanded, f"{origin} ({name})"))
    return RootsFound(roots, warnings)


def _specs(paths: Iterable[str | Path], origin: str) -> list[RootSpec]:
    return [RootSpec(os.path.expanduser(str(p)), origin) for p in paths]
