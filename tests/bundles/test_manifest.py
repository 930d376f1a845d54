"""Manifest loading and JSON Schema validation: warnings with JSON paths, never rejections."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.bundles.manifest import ManifestError, _plainly_valid, load_schema, parse_manifest, validate
from console.bundles.model import Status
from console.bundles.packer import canonical_manifest, make_manifest

from .builders import REPO


def warnings_of(manifest: dict) -> list[str]:
    return [str(w) for w in parse_manifest(canonical_manifest(manifest)).warnings]


def test_a_well_formed_manifest_has_no_warnings() -> None:
    assert warnings_of(make_manifest({"etl": ["extract", "load"]})) == []


def test_schema_ships_inside_the_package_and_is_a_valid_draft_2020_12_schema() -> None:
    code = (
        "import json, importlib.resources as r, jsonschema\n"
        "text = r.files('console.bundles').joinpath('bundle_metadata.schema.json').read_text()\n"
        "schema = json.loads(text)\n"
        "jsonschema.Draft202012Validator.check_schema(schema)\n"
        "print(schema['$schema'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "https://json-schema.org/draft/2020-12/schema"
    assert set(load_schema()["required"]) == {"airflow_bundle_metadata_version", "sdk", "source", "dags"}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.update(airflow_bundle_metadata_version="one"), "$.airflow_bundle_metadata_version: 'one' does not match"),
        (lambda m: m["sdk"].update(language="Go"), "$.sdk.language: 'Go' does not match"),
        (lambda m: m["sdk"].update(version=""), "$.sdk.version: '' should be non-empty"),
        (lambda m: m["sdk"].update(supervisor_schema_version="June 2026"), "$.sdk.supervisor_schema_version: 'June 2026' does not match"),
        (lambda m: m.pop("source"), "$: 'source' is a required property"),
        (lambda m: m.update(dags={}), "$.dags: {} should be non-empty"),
        (lambda m: m["dags"]["etl"].pop("tasks"), "$.dags.etl: 'tasks' is a required property"),
        (lambda m: m["dags"]["etl"].update(tasks=["ok", ""]), "$.dags.etl.tasks[1]: '' should be non-empty"),
        (lambda m: m["sdk"].pop("language"), "$.sdk: 'language' is a required property"),
    ],
    ids=["spec-version", "language", "sdk-version", "schema-version-pattern", "source", "dags-empty", "tasks", "task-id", "no-language"],
)
def test_each_schema_rule_is_a_warning_with_its_json_path(edit, expected: str) -> None:
    manifest = make_manifest({"etl": ["extract"]})
    edit(manifest)
    found = warnings_of(manifest)
    assert any(w.startswith(expected) for w in found), found


def test_unknown_keys_are_ignored_at_every_level() -> None:
    manifest = make_manifest({"etl": ["extract"]})
    manifest["future_field"] = {"anything": [1, 2]}
    manifest["sdk"]["build_host"] = "ci-7"
    manifest["dags"]["etl"]["schedule"] = "@daily"
    assert warnings_of(manifest) == []


def test_dag_ids_and_tasks_as_airflow_keys_them() -> None:
    text = b"""
airflow_bundle_metadata_version: '1.0'
sdk: {language: go, version: '1', supervisor_schema_version: '2026-06-16'}
source: a.go
dags:
  etl: {tasks: [extract, 42]}
  no_tasks: {}
  123: {tasks: [x]}
"""
    manifest = parse_manifest(text)
    assert manifest.dags == {"etl": ["extract", "42"], "no_tasks": []}
    messages = [str(w) for w in manifest.warnings]
    assert any("dag_id 123 is a YAML number, not a string; it can never match" in m for m in messages)


def test_alias_bomb_is_bounded_and_validation_skipped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    bomb = "\n".join(lines) + "\n"
    text = canonical_manifest(make_manifest({"etl": ["t"]})).decode() + bomb
    manifest = parse_manifest(text.encode())
    assert manifest.dags == {"etl": ["t"]}
    assert [w.path for w in manifest.warnings] == ["$"]
    assert "more than 1,000,000 values" in manifest.warnings[0].message


def test_alias_bomb_in_task_lists_is_bounded() -> None:
    lines = ["anchors:", "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    text = (
        "\n".join(lines)
        + "\nairflow_bundle_metadata_version: '1.0'\nsource: a.go\n"
        + "sdk: {language: go, version: '1', supervisor_schema_version: '2026-06-16'}\n"
        + "dags:\n  etl: {tasks: *a6}\n"
    )
    manifest = parse_manifest(text.encode())
    assert manifest.dags["etl"] == ["<sequence>"] * 10


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"\xc3\x28", Status.METADATA_UNDECODABLE), (b"{unclosed", Status.METADATA_UNDECODABLE), (b"42", Status.METADATA_NOT_MAPPING)],
    ids=["utf8", "yaml", "scalar"],
)
def test_unusable_manifests_raise_with_the_reader_status(raw: bytes, status: Status) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(raw)
    assert info.value.status is status


def test_json_manifests_load_too() -> None:
    manifest = parse_manifest(json.dumps(make_manifest({"etl": ["t"]})).encode())
    assert manifest.dags == {"etl": ["t"]} and manifest.warnings == []


_JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.none(), max_size=1),
    st.sampled_from(["", "Go", "9x", "v1.0", "1", "2026-6-16", "2026-06-16x", " 1.0", "1.0\n"]),
)
_PATHS = [
    ("airflow_bundle_metadata_version",), ("sdk",), ("sdk", "language"), ("sdk", "version"),
    ("sdk", "supervisor_schema_version"), ("source",), ("dags",), ("dags", "etl"), ("dags", "etl", "tasks"),
    ("dags", "etl", "tasks", 0), ("dags", 7), ("extra",),
]


@st.composite
def _manifests(draw) -> dict:
    """A valid manifest with zero to three parts replaced by junk or removed."""
    data = make_manifest(
        {draw(st.sampled_from(["etl", "report"])): draw(st.lists(st.sampled_from(["extract", "load"]), max_size=3)), "etl": ["t"]},
        language=draw(st.sampled_from(["go", "rust", "c++", "zig"])),
        supervisor_schema_version=draw(st.sampled_from(["2026-06-16", "1999-01-01"])),
    )
    for path in draw(st.lists(st.sampled_from(_PATHS), max_size=3)):
        parent = data
        for part in path[:-1]:
            if isinstance(parent, dict):
                parent = parent.get(part)
            elif isinstance(parent, list) and isinstance(part, int) and part < len(parent):
                parent = parent[part]
            else:
                parent = None
        if isinstance(parent, dict):
            if draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(_JUNK)
        elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
            parent[path[-1]] = draw(_JUNK)
    return data


@settings(max_examples=400, deadline=None)
@given(_manifests())
def test_the_quick_validity_check_never_accepts_what_the_schema_rejects(data: dict) -> None:
    full = jsonschema.Draft202012Validator(load_schema())
    if _plainly_valid(data):
        assert full.is_valid(data)
    assert (validate(data) == []) == full.is_valid(data)
