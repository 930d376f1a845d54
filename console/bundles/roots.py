"""Where to look for bundles: explicit arguments, the console's config, or Airflow's own configuration.

The first source that names any root wins, so an operator's argument always beats configuration.
Airflow's roots are the ``executables_root`` kwargs of the ExecutableCoordinator entries in
``[sdk] coordinators`` (Airflow 3.3.2: a JSON object keyed by coordinator name), read as Airflow
reads it (``console.airflow.coordinators``) without importing Airflow, so the console lists exactly
the directories the workers scan.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


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
    from ..airflow.coordinators import read_coordinators  # Airflow's configuration, only when no root is given

    found = read_coordinators(env, cfg_path)
    roots: list[RootSpec] = []
    warnings = list(found.warnings)
    for entry in found.entries:
        for path in entry.roots:
            if not os.path.isabs(path):
                warnings.append(
                    f"{found.origin}: coordinator {entry.name!r} root {path!r} is relative: "
                    "Airflow resolves it from the worker's working directory"
                )
            roots.append(RootSpec(path, f"{found.origin} ({entry.name})"))
    return RootsFound(roots, warnings)


def _specs(paths: Iterable[str | Path], origin: str) -> list[RootSpec]:
    return [RootSpec(os.path.expanduser(str(p)), origin) for p in paths]
