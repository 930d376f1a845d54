"""Our scanner against Airflow's own ExecutableCoordinator (task SDK 1.3.2) over the same tree on disk.

The same directories go through Airflow's walk, metadata reader and ``_Bundle.find`` in Airflow's
virtualenv, and through ours here: the walk order, which files the coordinator can load, and which
bundle each dag_id resolves to must agree exactly. Our schema-version check also runs inside that
virtualenv, where it must find and use Airflow's migrator.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from console.bundles.manifest import NESTING_LIMIT
from console.bundles.model import Status
from console.bundles.packer import canonical_manifest, make_manifest
from console.bundles.resolve import resolve_dag
from console.bundles.roots import RootSpec
from console.bundles.scanner import Scanner
from console.bundles.schema_versions import SchemaVersions
from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow

from .builders import REPO, write_bundle, write_file, write_raw_bundle

pytestmark = pytest.mark.airflow

AIRFLOW_SIDE = r"""
import json, pathlib, sys
from airflow.sdk.coordinators.executable.coordinator import _Bundle, _find_executables, _read_bundle_metadata

request = json.loads(sys.stdin.read())
roots = [pathlib.Path(r) for r in request["roots"]]
walk = [str(p) for p in _find_executables(roots)]
loadable = {p: _read_bundle_metadata(pathlib.Path(p)) is not None for p in walk}
found = {}
for dag_id in request["dags"]:
    try:
        found[dag_id] = {"path": str(_Bundle.find(roots, dag_id).path), "error": None}
    except FileNotFoundError as exc:
        found[dag_id] = {"path": None, "error": str(exc)}
print(json.dumps({"walk": walk, "loadable": loadable, "found": found}))
"""


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"Airflow cannot be installed here: {exc}")
    return install.venv / "bin" / "python"


def build_tree(base: Path) -> list[Path]:
    a, b = base / "root-a", base / "root-b"
    write_bundle(a / "first", {"shared": ["t"], "only_first": ["t"]})
    write_bundle(a / "team" / "nested" / "deep", {"deep_dag": ["t"], "shared": ["t"]})
    write_bundle(b / "second", {"shared": ["t"], "from_b": ["t"]})
    tampered = bytearray((write_bundle(a / "tampered", {"tampered_dag": ["t"], "from_b": ["x"]})).read_bytes())
    tampered[3] ^= 1
    write_file(a / "tampered", bytes(tampered))
    write_bundle(a / "unknown_version", manifest=make_manifest({"versioned": ["t"]}, supervisor_schema_version="1999-01-01"))
    write_bundle(b / "known_version", {"versioned": ["t"]})
    missing = make_manifest({"missing_version": ["t"]})
    del missing["sdk"]["supervisor_schema_version"]
    write_bundle(a / "missing_version", manifest=missing)
    dated = canonical_manifest(make_manifest({"dated": ["t"]})).replace(b"'2026-06-16'", b"2026-06-16")
    write_raw_bundle(a / "dated_version", metadata=dated)
    write_raw_bundle(a / "bad_yaml", metadata=b"dags: [unclosed")
    write_raw_bundle(a / "scalar", metadata=b"just text")
    write_raw_bundle(a / "footer_v2", footer_ver=2)
    write_raw_bundle(a / "reserved", reserved=b"\x01" + bytes(11))
    write_raw_bundle(a / "regions", metadata_len=0xFFFFFFFF)
    write_bundle(a / "not_exec", {"not_exec_dag": ["t"]}, mode=0o644)
    write_bundle(a / "empty_source", {"empty_source_dag": ["t"]}, source=b"")
    write_file(a / "script.sh", b"#!/bin/sh\nexit 0\n")
    (a / "team" / "loop").symlink_to(a)
    (b / "alias").symlink_to(a / "first")
    (b / "dangling").symlink_to(base / "nowhere")
    return [a, b]


def test_walk_loadability_and_resolution_match_airflow(tmp_path: Path, airflow_python: Path) -> None:
    roots = build_tree(tmp_path)
    result = Scanner([RootSpec(str(r), "test") for r in roots], versions=SchemaVersions(use_airflow=False)).scan()
    dags = sorted({d for r in result.bundles for d in r.dags} | {"nobody_declares_this"})
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "airflow-home")}
    proc = subprocess.run(
        [str(airflow_python), "-c", AIRFLOW_SIDE],
        input=json.dumps({"roots": [str(r) for r in roots], "dags": dags}),
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    airflow = json.loads(proc.stdout)

    ours_walk = [r.path for r in result.bundles if r.status is not Status.NOT_EXECUTABLE and r.size is not None]
    assert ours_walk == airflow["walk"]
    for report in result.bundles:
        if report.path in airflow["loadable"]:
            assert airflow["loadable"][report.path] == report.status.coordinator_sees_dags, report
    for dag_id in dags:
        ours = resolve_dag(result.bundles, dag_id, [str(r) for r in roots])
        theirs = airflow["found"][dag_id]
        ours_path = str(Path(ours.selected.path).resolve()) if ours.selected else None
        assert ours_path == theirs["path"], dag_id
        if theirs["error"] is not None:
            rejected = "matching bundles were rejected" in theirs["error"]
            assert rejected == ("matching bundles were rejected" in (ours.airflow_error or "")), dag_id
    shared = resolve_dag(result.bundles, "shared", [str(r) for r in roots])
    assert shared.ambiguous
    assert sum(1 for found in airflow["found"].values() if found["path"]) >= 6
    assert sum(1 for ok in airflow["loadable"].values() if not ok) >= 6


def test_schema_versions_use_airflows_migrator_when_importable(airflow_python: Path, tmp_path: Path) -> None:
    code = (
        "import json\n"
        "from console.bundles.schema_versions import SchemaVersions, UnknownSchemaVersion\n"
        "v = SchemaVersions()\n"
        "out = {'source': v.source, 'ok': v.resolve('2026-06-16')}\n"
        "try:\n"
        "    v.resolve('1999-01-01')\n"
        "except UnknownSchemaVersion as exc:\n"
        "    out['refused'] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "h"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([str(airflow_python), "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["source"] == "airflow.sdk schema migrator"
    assert out["ok"] == "2026-06-16"
    assert "not found in supervisor schema bundle" in out["refused"]


NESTED_SIDE = r"""
import json, pathlib, sys
from airflow.sdk.coordinators.executable.coordinator import _read_bundle_metadata

out = {}
for path in json.loads(sys.stdin.read()):
    try:
        out[path] = "loaded" if _read_bundle_metadata(pathlib.Path(path)) is not None else "skipped"
    except RecursionError:
        out[path] = "RecursionError"
print(json.dumps(out))
"""


def test_nesting_verdict_matches_what_airflows_reader_survives(tmp_path: Path, airflow_python: Path) -> None:
    """Airflow loads a manifest nested to our limit and dies (RecursionError) well past it; so do our verdicts."""
    def nested(levels: int) -> bytes:
        inner = levels - 1
        return canonical_manifest(make_manifest({"d": ["t"]})) + b"extra: " + b"[" * inner + b"]" * inner + b"\n"

    at_limit = write_raw_bundle(tmp_path / "at_limit", metadata=nested(NESTING_LIMIT))
    too_deep = write_raw_bundle(tmp_path / "too_deep", metadata=nested(600))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "h")}
    proc = subprocess.run([str(airflow_python), "-c", NESTED_SIDE], input=json.dumps([str(at_limit), str(too_deep)]),
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == {str(at_limit): "loaded", str(too_deep): "RecursionError"}
    versions = SchemaVersions(use_airflow=False)
    result = Scanner([RootSpec(str(tmp_path), "test")], versions=versions).scan()
    statuses = {Path(r.path).name: r.status for r in result.bundles}
    assert statuses == {"at_limit": Status.OK, "too_deep": Status.METADATA_UNDECODABLE}
