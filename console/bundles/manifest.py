"""The bundle manifest (``airflow-metadata.yaml``): safe loading, schema warnings, the facts Airflow uses.

Loading follows the coordinator: UTF-8, YAML safe-loaded, must be a mapping. Anything else about the
manifest (patterns, required keys) does not stop Airflow from running the bundle, so it is reported
as JSON Schema warnings with the JSON path, never as a rejection. Unknown keys are ignored as the
spec requires. A manifest is untrusted input: YAML aliases can make a small text expand enormously,
so everything walked here stays within a node budget.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jsonschema
import yaml

from .model import Status, ValidationWarning

SCHEMA_RESOURCE = "bundle_metadata.schema.json"
NODE_BUDGET = 1_000_000
DEPTH_LIMIT = 64
NESTING_LIMIT = 400
MESSAGE_LIMIT = 240

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(Exception):
    """The manifest cannot be used at all; ``status`` is the reader status it maps to."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Manifest:
    """A loaded manifest and the facts the console shows and resolves dag_ids with."""

    data: dict[Any, Any]
    text: str
    source_name: str | None
    sdk: dict[str, str | None]
    dags: dict[str, list[str]]
    warnings: list[ValidationWarning] = field(default_factory=list)

    @property
    def sdk_mapping(self) -> dict[Any, Any] | None:
        sdk = self.data.get("sdk")
        return sdk if isinstance(sdk, dict) else None


@functools.cache
def load_schema() -> dict[str, Any]:
    """The published manifest schema, shipped inside the package as a data file."""
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def parse_manifest(raw: bytes) -> Manifest:
    """Decode and load manifest bytes the way Airflow does; raise ``ManifestError`` when it would skip them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            Status.METADATA_UNDECODABLE, f"manifest is not UTF-8 (invalid byte at offset {exc.start})"
        ) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a safe loader (CSafeLoader when built)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):
            raise ManifestError(Status.METADATA_UNDECODABLE, _TOO_DEEP) from None
        raise ManifestError(Status.METADATA_UNDECODABLE, f"manifest is not valid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise ManifestError(Status.METADATA_UNDECODABLE, _TOO_DEEP) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise ManifestError(
            Status.METADATA_UNDECODABLE, f"manifest YAML holds a value that cannot be loaded: {_one_line(exc)}"
        ) from None
    if not isinstance(data, dict):
        raise ManifestError(
            Status.METADATA_NOT_MAPPING, f"manifest is a YAML {_yaml_kind(data)}, not a mapping"
        )
    if _deeper_than(data, NESTING_LIMIT) and _nested_deeper_than(text, NESTING_LIMIT):
        raise ManifestError(Status.METADATA_UNDECODABLE, _TOO_DEEP)
    manifest = Manifest(
        data=data,
        text=text,
        source_name=data.get("source") if isinstance(data.get("source"), str) else None,
        sdk=_sdk_facts(data.get("sdk")),
        dags={},
    )
    manifest.dags, key_warnings = _dag_tasks(data.get("dags"))
    too_big = _Budget(NODE_BUDGET).exceeded_by(data)
    if too_big:
        manifest.warnings = [ValidationWarning("$", f"manifest {too_big}; schema validation skipped"), *key_warnings]
    else:
        try:
            manifest.warnings = validate(data) + key_warnings
        except RecursionError:
            manifest.warnings = [ValidationWarning("$", "manifest is nested too deeply to validate"), *key_warnings]
    return manifest


_TOO_DEEP = (
    f"manifest YAML nests collections more than {NESTING_LIMIT} levels deep; Airflow's pure-Python YAML "
    "loader fails on such nesting (RecursionError at about 490 levels)"
)


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether the loaded value nests more than ``limit`` collections (or is too large to tell)."""
    budget = _Budget(NODE_BUDGET)
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list, tuple, set)):
            if depth > limit or not budget.spend(len(node)):
                return True
            children = [*node, *node.values()] if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether the YAML text itself nests more than ``limit`` collections (aliases add no nesting).

    The limit is ours, not the YAML build's: libyaml stops at 1,000 levels where it has a limit at all,
    and Airflow's pure-Python ``yaml.safe_load`` recurses once per level until Python's recursion limit.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > limit:
                return True
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return False


def validate(data: Any) -> list[ValidationWarning]:
    """Every schema violation as a warning with its JSON path, in document order."""
    if _plainly_valid(data):
        return []
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [ValidationWarning(error.json_path, _clip(_one_line(error.message))) for error in errors]


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    schema = load_schema()["properties"]
    sdk = schema["sdk"]["properties"]
    return (
        re.compile(schema["airflow_bundle_metadata_version"]["pattern"]),
        re.compile(sdk["language"]["pattern"]),
        re.compile(sdk["supervisor_schema_version"]["pattern"]),
    )


def _plainly_valid(data: Any) -> bool:
    """A quick check that only ever says yes to manifests the schema accepts.

    Scanning thousands of bundles validates thousands of manifests, nearly all of them valid, and
    the full validator costs a hundred times more; anything this check is unsure about goes to it.
    The patterns come from the shipped schema.
    """
    spec, language, dated = _patterns()
    if not isinstance(data, dict):
        return False
    version, sdk, source, dags = (data.get(k) for k in ("airflow_bundle_metadata_version", "sdk", "source", "dags"))
    if not (isinstance(version, str) and spec.search(version) and isinstance(source, str) and source):
        return False
    if not (isinstance(sdk, dict) and isinstance(sdk.get("version"), str) and sdk["version"]):
        return False
    if not (isinstance(sdk.get("language"), str) and language.search(sdk["language"])):
        return False
    if not (isinstance(sdk.get("supervisor_schema_version"), str) and dated.search(sdk["supervisor_schema_version"])):
        return False
    if not (isinstance(dags, dict) and dags):
        return False
    for entry in dags.values():
        tasks = entry.get("tasks") if isinstance(entry, dict) else None
        if not isinstance(tasks, list) or not all(isinstance(t, str) and t for t in tasks):
            return False
    return True


def schema_version_problem(sdk: Any) -> tuple[str | None, str | None]:
    """Return ``(version, None)`` when the manifest names a usable version, else ``(None, why not)``.

    Airflow accepts only a non-empty string; an unquoted ``2026-06-16`` is read by YAML as a date
    and so counts as missing, which is worth saying plainly.
    """
    if not isinstance(sdk, dict):
        return None, "sdk is missing or not a mapping, so sdk.supervisor_schema_version is missing"
    if "supervisor_schema_version" not in sdk:
        return None, "sdk.supervisor_schema_version is missing"
    value = sdk["supervisor_schema_version"]
    if isinstance(value, datetime.date):
        return None, (
            f"sdk.supervisor_schema_version is a YAML date ({value.isoformat()}), not a string: "
            "quote it in the manifest"
        )
    if not isinstance(value, str):
        return None, f"sdk.supervisor_schema_version is a {_yaml_kind(value)}, not a string"
    if not value:
        return None, "sdk.supervisor_schema_version is empty"
    return value, None


def _sdk_facts(sdk: Any) -> dict[str, str | None]:
    if not isinstance(sdk, dict):
        return {}
    facts: dict[str, str | None] = {}
    for key in ("language", "version", "supervisor_schema_version"):
        value = sdk.get(key)
        if value is None:
            facts[key] = None
        else:
            facts[key] = _clip(_scalar_text(value))
    return facts


def _dag_tasks(dags: Any) -> tuple[dict[str, list[str]], list[ValidationWarning]]:
    """dag_id → task_ids as Airflow keys them: only string dag_ids can ever match a task's dag_id."""
    if not isinstance(dags, dict):
        return {}, []
    result: dict[str, list[str]] = {}
    warnings: list[ValidationWarning] = []
    budget = _Budget(NODE_BUDGET)
    for dag_id, entry in dags.items():
        if not isinstance(dag_id, str):
            warnings.append(
                ValidationWarning(
                    "$.dags", _clip(f"dag_id {dag_id!r} is a YAML {_yaml_kind(dag_id)}, not a string; it can never match")
                )
            )
            continue
        tasks = entry.get("tasks") if isinstance(entry, dict) else None
        names: list[str] = []
        if isinstance(tasks, list):
            for task in tasks:
                if not budget.spend(1):
                    break
                names.append(task if isinstance(task, str) else _scalar_text(task))
        result[dag_id] = names
    return result, warnings


class _Budget:
    """Counts values walked (aliases counted each time they are reached) up to a limit."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self, n: int) -> bool:
        self.left -= n
        return self.left >= 0

    def exceeded_by(self, root: Any) -> str | None:
        """Why walking ``root`` would be unsafe (too many values or too deep), or None."""
        stack = [(root, 0)]
        while stack:
            if not self.spend(1):
                return f"expands to more than {NODE_BUDGET:,} values through YAML aliases"
            node, depth = stack.pop()
            if depth > DEPTH_LIMIT:
                return f"is nested more than {DEPTH_LIMIT} levels deep"
            if isinstance(node, dict):
                stack.extend((child, depth + 1) for child in node)
                stack.extend((child, depth + 1) for child in node.values())
            elif isinstance(node, (list, tuple, set)):
                stack.extend((child, depth + 1) for child in node)
        return None


def _scalar_text(value: Any) -> str:
    """Text for a scalar; a collection is named, never expanded (it may be an alias bomb)."""
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return f"<{_yaml_kind(value)}>"


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "sequence"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, bytes):
        return "binary value"
    return type(value).__name__


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"
