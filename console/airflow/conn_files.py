"""Read Airflow's local-filesystem connections files (``.env``, ``.json``, ``.yaml``/``.yml``).

These are the formats of Airflow's ``LocalFilesystemBackend``: a mapping of conn_id to a URI string
or a field dict (JSON/YAML; a one-element list is accepted the way Airflow accepts it), or
``CONN_ID=value`` lines (``.env``). This module only reads the file and says where each entry came
from; turning values into connections is ``console.airflow.conn_sources``'s job. Any problem
rejects the whole file, so a half-read file never passes for a complete one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_SUFFIXES = (".env", ".json", ".yaml", ".yml")
_COMMENT = re.compile(r"\s*#")


class FileFormatError(ValueError):
    """The file cannot be read as a connections file; ``where`` is a line or key, or None."""

    def __init__(self, path: Path, where: str | None, message: str):
        self.path = path
        self.where = where
        self.message = message
        prefix = f"{path}: {where}" if where else str(path)
        super().__init__(f"{prefix}: {message}")


@dataclass(frozen=True)
class FileEntry:
    """One connection as written in the file; ``where`` is ``line N`` or ``key 'ID' (line N)``."""

    conn_id: str
    value: str | dict[str, Any]
    where: str


def read_entries(path: Path) -> list[FileEntry]:
    """Every connection entry of ``path`` in file order, or FileFormatError naming the first problem."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise FileFormatError(path, None, f"unsupported file type {path.suffix or '(none)'!r}; use one of {kinds}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileFormatError(path, None, "file not found") from None
    except IsADirectoryError:
        raise FileFormatError(path, None, "is a directory, not a connections file") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise FileFormatError(path, None, f"cannot read: {exc.strerror or exc}") from None
    if suffix == ".env":
        return _env_entries(path, text)
    if not text.strip():
        raise FileFormatError(path, "line 1", "the file is empty")
    if suffix == ".json":
        return _mapping_entries(path, _load_json(path, text), {})
    mapping, lines = _load_yaml(path, text)
    return _mapping_entries(path, mapping, lines)


def _env_entries(path: Path, text: str) -> list[FileEntry]:
    entries: list[FileEntry] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or _COMMENT.match(line):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        where = f"line {number}"
        if not sep:
            raise FileFormatError(path, where, "expected CONN_ID=URI (no '=' on this line)")
        if not key:
            raise FileFormatError(path, where, "the connection id before '=' is empty")
        if not value:
            raise FileFormatError(path, where, f"the value for {key!r} is empty")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            raise FileFormatError(
                path, where, "the value is wrapped in quotes, which Airflow keeps as part of the URI; remove them"
            )
        if key in first_line:
            raise FileFormatError(
                path, where, f"{key!r} is defined again (first on line {first_line[key]}); Airflow rejects duplicate ids"
            )
        first_line[key] = number
        entries.append(FileEntry(key, value, where))
    return entries


def _load_json(path: Path, text: str) -> dict[str, Any]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise FileFormatError(path, f"key {key!r}", "duplicate key")
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise FileFormatError(path, None, "invalid JSON: nested too deeply to read") from None
    except ValueError as exc:
        raise FileFormatError(path, None, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FileFormatError(path, "line 1", "the file must hold an object mapping connection ids to connections")
    return data


def _load_yaml(path: Path, text: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse YAML and remember the line of each top-level key, rejecting duplicate keys."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        raise FileFormatError(path, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise FileFormatError(path, None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise FileFormatError(path, None, "invalid YAML: nested too deeply to read") from None
    except ValueError as exc:
        raise FileFormatError(path, None, f"invalid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise FileFormatError(path, "line 1", "the file must hold a mapping of connection ids to connections")
    lines: dict[str, int] = {}
    for key_node, _ in node.value:
        key = key_node.value
        line = key_node.start_mark.line + 1
        if key in lines:
            raise FileFormatError(path, f"line {line}", f"duplicate key {key!r} (first on line {lines[key]})")
        lines[key] = line
    return data, lines


def _mapping_entries(path: Path, data: dict[Any, Any], lines: dict[str, int]) -> list[FileEntry]:
    entries: list[FileEntry] = []
    for key, value in data.items():
        conn_id = str(key)
        where = f"key {conn_id!r}" + (f" (line {lines[conn_id]})" if conn_id in lines else "")
        if isinstance(value, list):
            if len(value) > 1:
                raise FileFormatError(path, where, f"{len(value)} values for one connection id; Airflow accepts only one")
            if not value:
                continue
            value = value[0]
        if not isinstance(value, (str, dict)):
            raise FileFormatError(
                path, where, f"a connection must be a URI string or a mapping of fields, not {_type_name(value)}"
            )
        entries.append(FileEntry(conn_id, value, where))
    return entries


def _type_name(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), type(value).__name__)
