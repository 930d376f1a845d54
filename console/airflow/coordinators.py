"""``[sdk] coordinators`` read the way Airflow 3.3.2's ``CoordinatorManager.from_config`` reads it.

The value is a JSON object keyed by coordinator name, each entry ``{"classpath", "kwargs",
"extra"}``. It comes from ``AIRFLOW__SDK__COORDINATORS`` or airflow.cfg (multi-line values
allowed), with ``$VARS`` and a leading ``~`` expanded over the whole text as Airflow's
``expand_env_var`` does; each ``executables_root`` (a path or a list of paths) then gets
``Path.expanduser``. A value Airflow refuses is reported with the exception Airflow raises and no
roots are taken from it, since Airflow would run no coordinator at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import expand_user, airflow_config_path, expand_value, get_option

ENV_COORDINATORS = "AIRFLOW__SDK__COORDINATORS"
ENV_QUEUES = "AIRFLOW__SDK__QUEUE_TO_COORDINATOR"
EXECUTABLE_CLASS = "ExecutableCoordinator"


@dataclass(frozen=True)
class CoordinatorRoots:
    """One ExecutableCoordinator entry and the directories it scans."""

    name: str
    classpath: str
    roots: list[str]


@dataclass
class Coordinators:
    """What ``[sdk] coordinators`` yields: its origin (None when unset), roots, Airflow's refusal, warnings."""

    origin: str | None
    entries: list[CoordinatorRoots] = field(default_factory=list)
    rejected: str | None = None
    warnings: list[str] = field(default_factory=list)


def read_coordinators(env: Mapping[str, str] | None = None, cfg_path: Path | None = None) -> Coordinators:
    env = os.environ if env is None else env
    origin = ENV_COORDINATORS if ENV_COORDINATORS in env else f"{cfg_path or airflow_config_path(env)} [sdk] coordinators"
    raw = get_option("sdk", "coordinators", env=env, cfg_path=cfg_path)
    if raw is None or expand_value(raw, env) == "":
        return Coordinators(None)
    found = Coordinators(origin)
    try:
        specs = _specs(_load(expand_value(raw, env), "coordinators"))
        _check_queues(specs, env, cfg_path)
    except _Rejected as exc:
        found.rejected = str(exc)
        found.warnings.append(f"{origin}: Airflow rejects this value ({exc}); no bundle roots are taken from it")
        return found
    for name, spec in specs.items():
        classpath = spec["classpath"]
        kwargs = spec.get("kwargs") or {}
        if not classpath.rsplit(".", 1)[-1].endswith(EXECUTABLE_CLASS):
            if "executables_root" in kwargs:
                found.warnings.append(
                    f"{origin}: coordinator {name!r} ({classpath}) is not an {EXECUTABLE_CLASS}; its executables_root is not scanned"
                )
            continue
        roots, problem = _roots(kwargs.get("executables_root", _MISSING), env)
        if problem is not None:
            found.warnings.append(f"{origin}: coordinator {name!r}: {problem}; Airflow cannot construct it")
            continue
        found.entries.append(CoordinatorRoots(name, classpath, roots))
    if not found.entries:
        found.warnings.append(f"{origin} is set but yields no bundle roots (no usable {EXECUTABLE_CLASS} executables_root)")
    return found


class _Rejected(Exception):
    """Airflow's own exception for the value, as ``Type: message``."""


_MISSING = object()


def _load(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise _Rejected(f"AirflowConfigException: Unable to parse [sdk] {key!r} as valid json") from None


def _specs(value: Any) -> dict[str, dict[str, Any]]:
    """``{k: _CoordinatorSpec.model_validate(v) for k, v in value.items()}`` without pydantic."""
    if not isinstance(value, dict):
        raise _Rejected(f"AttributeError: {_type_name(value)!r} object has no attribute 'items' "
                        "(the value must be a JSON object keyed by coordinator name)")
    specs = {}
    for name, entry in value.items():
        if not isinstance(entry, dict):
            raise _Rejected(f"ValidationError: coordinator {name!r}: Input should be a valid dictionary")
        if "classpath" not in entry:
            raise _Rejected(f"ValidationError: coordinator {name!r}: classpath: Field required")
        if not isinstance(entry["classpath"], str):
            raise _Rejected(f"ValidationError: coordinator {name!r}: classpath: Input should be a valid string")
        if "kwargs" in entry and not isinstance(entry["kwargs"], dict):
            raise _Rejected(f"ValidationError: coordinator {name!r}: kwargs: Input should be a valid dictionary")
        if entry.get("extra") is not None and not isinstance(entry["extra"], dict):
            raise _Rejected(f"ValidationError: coordinator {name!r}: extra: Input should be a valid dictionary")
        specs[name] = entry
    return specs


def _check_queues(specs: Mapping[str, Any], env: Mapping[str, str], cfg_path: Path | None) -> None:
    raw = get_option("sdk", "queue_to_coordinator", env=env, cfg_path=cfg_path)
    if raw is None or expand_value(raw, env) == "":
        return
    queues = _load(expand_value(raw, env), "queue_to_coordinator")
    if not isinstance(queues, dict):
        raise _Rejected(f"AttributeError: {_type_name(queues)!r} object has no attribute 'values' ([sdk] queue_to_coordinator)")
    for key in queues.values():
        if not isinstance(key, str) or key not in specs:
            raise _Rejected(f"ValueError: [sdk] queue_to_coordinator references invalid coordinator key: {key!r}")


def _roots(value: Any, env: Mapping[str, str]) -> tuple[list[str], str | None]:
    """ExecutableCoordinator's converter (``Path(v).expanduser()``) and its ``min_len(1)`` validator."""
    if value is _MISSING:
        return [], "no executables_root given"
    if value is None:
        return [], "executables_root is null (it must name at least one directory)"
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return [], "executables_root must be a path or a list of paths"
    if not items:
        return [], "executables_root is an empty list (it must name at least one directory)"
    return [str(Path(expand_user(item, env))) for item in items], None


def _type_name(value: Any) -> str:
    return {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(type(value), "NoneType")
