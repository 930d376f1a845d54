"""Supervisor schema versions: the built-in set, config extensions, and Airflow's migrator when importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.bundles.schema_versions import (
    AIRFLOW_SOURCE,
    BUILTIN_SOURCE,
    BUILTIN_VERSIONS,
    SchemaVersions,
    UnknownSchemaVersion,
)

from .builders import REPO


def test_builtin_set_is_what_task_sdk_1_3_2_knows() -> None:
    assert {"2026-06-16"} == BUILTIN_VERSIONS
    versions = SchemaVersions(use_airflow=False)
    assert versions.resolve("2026-06-16") == "2026-06-16"
    assert versions.source == BUILTIN_SOURCE


def test_unknown_version_names_the_known_ones() -> None:
    with pytest.raises(UnknownSchemaVersion, match=r"'2030-01-01' is not a known version \(known: 2026-06-16"):
        SchemaVersions(use_airflow=False).resolve("2030-01-01")


def test_config_extends_the_builtin_set() -> None:
    versions = SchemaVersions(["2026-09-01"], use_airflow=False)
    assert versions.resolve("2026-09-01") == "2026-09-01"
    assert versions.known == {"2026-06-16", "2026-09-01"}


def test_an_injected_migrator_is_authoritative_and_canonicalises() -> None:
    def resolve_version(value: str) -> str:
        if value in ("2026-06-16", "latest"):
            return "2026-06-16"
        raise ValueError(f"unknown schema version {value}")

    versions = SchemaVersions(["2030-01-01"], migrator=resolve_version)
    assert versions.source == AIRFLOW_SOURCE
    assert versions.resolve("latest") == "2026-06-16"
    with pytest.raises(UnknownSchemaVersion, match=r"not accepted by airflow\.sdk schema migrator: unknown schema version 2030-01-01"):
        versions.resolve("2030-01-01")


def test_airflow_sdk_on_the_path_is_found_and_asked(tmp_path: Path) -> None:
    """A package shaped like airflow.sdk's schema module, imported for real in a child interpreter."""
    schema = tmp_path / "airflow" / "sdk" / "execution_time"
    schema.mkdir(parents=True)
    for package in (tmp_path / "airflow", tmp_path / "airflow" / "sdk", schema):
        (package / "__init__.py").write_text("")
    (schema / "schema.py").write_text(
        textwrap.dedent(
            """
            class _Migrator:
                def resolve_version(self, value):
                    if value == "2027-01-01":
                        return value
                    raise ValueError(f"schema version {value!r} is not supported")

            def get_schema_version_migrator():
                return _Migrator()
            """
        )
    )
    code = textwrap.dedent(
        """
        import json
        from console.bundles.schema_versions import SchemaVersions, UnknownSchemaVersion
        v = SchemaVersions()
        out = {"source": v.source, "ok": v.resolve("2027-01-01")}
        try:
            v.resolve("2026-06-16")
        except UnknownSchemaVersion as exc:
            out["refused"] = str(exc)
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    result = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout)
    assert result["source"] == AIRFLOW_SOURCE
    assert result["ok"] == "2027-01-01"
    assert "is not supported" in result["refused"]


def test_a_broken_airflow_install_falls_back_to_the_builtin_set(tmp_path: Path) -> None:
    package = tmp_path / "airflow"
    (package / "sdk").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('broken airflow install')\n")
    (package / "sdk" / "__init__.py").write_text("")
    code = "from console.bundles.schema_versions import SchemaVersions; v = SchemaVersions(); print(v.source, v.resolve('2026-06-16'))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == f"{BUILTIN_SOURCE} 2026-06-16"
