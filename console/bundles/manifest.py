"""The bundle manifest (``airflow-metadata.yaml``): safe loading, schema warnings, the facts Airflow uses.

Loading follows the coordinator: UTF-8, YAML safe-loaded, must be a mapping. Anything else about the
manifest (patterns, required keys) does not stop Airflow from running the bundle, so it is reported
as JSON Schema warnings with the JSON path, never as a rejection. Unknown keys are ignored as the
spec requires. A manifest is untrusted input: YAML aliases can make a small text expand enormously,
so everything walked here stays within a node budget, a large text is counted event by event before
anything is built from it, and the dags and tasks a bundle may declare are bounded (a manifest past a
bound is ``metadata_too_complex``, reported without building it). Integers too long to print in
decimal (Python refuses more than 4,300 digits) load as ``BigInt``, which prints itself in hex.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from .model import Status, ValidationWarning

SCHEMA_RESOURCE = "bundle_metadata.schema.json"
NODE_BUDGET = 1_000_000
DEPTH_LIMIT = 64
NESTING_LIMIT = 400
MESSAGE_LIMIT = 240
MAX_DAGS = 10_000
MAX_TASKS = 100_000
MAX_NODES = 250_000
COUNT_FIRST_BYTES = 64 << 10
BIG_INT_BITS = 4096

if TYPE_CHECKING:
    import jsonschema
    import yaml

_Loader: type | None = None  # the YAML loader class; None means CSafeLoader when built, else SafeLoader


class BigInt(int):
    """An integer whose decimal form Python would refuse to build; it prints in hex, which has no limit."""

    def __repr__(self) -> str:
        return hex(self)

    __str__ = __repr__


def _loader() -> type:
    """yaml and jsonschema are imported on first use: a warm scan answered from the report cache needs neither."""
    import yaml

    return _Loader or getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _construct_int(loader: yaml.BaseLoader, node: yaml.ScalarNode) -> int:
    import yaml

    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    return BigInt(value) if value.bit_length() > BIG_INT_BITS else value


@functools.cache
def _with_printable_ints(base: type) -> type:
    """``base`` (a safe loader class) whose integers never fail to print."""
    loader = type(f"Printable{base.__name__}", (base,), {})
    loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    return loader


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
    import jsonschema

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
    import yaml

    if len(raw) > COUNT_FIRST_BYTES:
        _count_events(text)
    try:
        data = yaml.load(text, Loader=_with_printable_ints(_loader()))  # a safe loader (CSafeLoader when built)
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
    deepest, deep_collection, over_budget = _shape(data)
    if (deep_collection or over_budget) and _nested_deeper_than(text, NESTING_LIMIT):
        raise ManifestError(Status.METADATA_UNDECODABLE, _TOO_DEEP)
    manifest = Manifest(
        data=data,
        text=text,
        source_name=data.get("source") if isinstance(data.get("source"), str) else None,
        sdk=_sdk_facts(data.get("sdk")),
        dags={},
    )
    manifest.dags, key_warnings = _dag_tasks(data.get("dags"))
    too_big = None
    if over_budget:
        too_big = f"expands to more than {NODE_BUDGET:,} values through YAML aliases"
    elif deepest > DEPTH_LIMIT:
        too_big = f"is nested more than {DEPTH_LIMIT} levels deep"
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


def _count_events(text: str) -> None:
    """Refuse a large manifest before loading it when it nests too deeply or holds too many values.

    Loading builds every value at once (a 16 MiB manifest of 700,000 dags took gigabytes); the
    event stream is counted one event at a time and stops at the first bound crossed.
    """
    import yaml

    depth = nodes = 0
    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > NESTING_LIMIT:
                raise ManifestError(Status.METADATA_UNDECODABLE, _TOO_DEEP)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            continue
        elif not isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise ManifestError(Status.METADATA_TOO_COMPLEX, _too_complex(f"holds more than {MAX_NODES:,} YAML values"))


def _shape(data: Any) -> tuple[int, bool, bool]:
    """One walk of the loaded value (aliases counted each time they are reached).

    Returns the deepest node depth seen (the root is 0), whether a collection sits ``NESTING_LIMIT``
    levels down, and whether more than ``NODE_BUDGET`` values were reached; the walk stops at
    either bound, so a self-referencing alias ends it too.
    """
    left = NODE_BUDGET
    deepest = 0
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        left -= 1
        if left < 0:
            return deepest, False, True
        if depth > deepest:
            deepest = depth
        if isinstance(node, dict):
            if depth >= NESTING_LIMIT:
                return deepest, True, False
            stack.extend((child, depth + 1) for child in node)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, (list, tuple, set)):
            if depth >= NESTING_LIMIT:
                return deepest, True, False
            stack.extend((child, depth + 1) for child in node)
    return deepest, False, False


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether the YAML text itself nests more than ``limit`` collections (aliases add no nesting).

    The limit is ours, not the YAML build's: libyaml stops at 1,000 levels where it has a limit at all,
    and Airflow's pure-Python ``yaml.safe_load`` recurses once per level until Python's recursion limit.
    """
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=_loader()):
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
    """dag_id → task_ids as Airflow keys them: only string dag_ids can ever match a task's dag_id.

    Raises ``ManifestError(METADATA_TOO_COMPLEX)`` past ``MAX_DAGS`` dags or ``MAX_TASKS`` tasks
    (aliases counted each time they are reached), before building anything larger.
    """
    if not isinstance(dags, dict):
        return {}, []
    if len(dags) > MAX_DAGS:
        raise ManifestError(Status.METADATA_TOO_COMPLEX, _too_complex(f"declares {len(dags):,} dags"))
    result: dict[str, list[str]] = {}
    warnings: list[ValidationWarning] = []
    counted = 0
    for dag_id, entry in dags.items():
        if not isinstance(dag_id, str):
            warnings.append(
                ValidationWarning(
                    "$.dags",
                    _clip(f"dag_id {_clip(_scalar_text(dag_id), 64)} is a YAML {_yaml_kind(dag_id)}, not a string; it can never match"),
                )
            )
            continue
        tasks = entry.get("tasks") if isinstance(entry, dict) else None
        names: list[str] = []
        if isinstance(tasks, list):
            counted += len(tasks)
            if counted > MAX_TASKS:
                raise ManifestError(Status.METADATA_TOO_COMPLEX, _too_complex(f"declares more than {MAX_TASKS:,} tasks"))
            names = [task if isinstance(task, str) else _clip(_scalar_text(task)) for task in tasks]
        result[dag_id] = names
    return result, warnings


def _too_complex(what: str) -> str:
    return f"manifest {what}; this console analyses at most {MAX_DAGS:,} dags and {MAX_TASKS:,} tasks per bundle"


def _scalar_text(value: Any) -> str:
    """Text for a scalar; a collection is named, never expanded (it may be an alias bomb)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > BIG_INT_BITS:
        return hex(value)
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


def _clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
