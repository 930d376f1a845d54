"""Where roots come from: arguments, then the console config, then Airflow's [sdk] coordinators."""

from __future__ import annotations

import json
import os
from pathlib import Path

from console.bundles.options import load_bundle_options
from console.bundles.roots import airflow_roots, discover_roots
from console.bundles.service import BundleService

COORDINATORS = [
    {"name": "python", "classpath": "airflow.sdk.coordinators.python.PythonCoordinator", "kwargs": {}},
    {
        "name": "go",
        "classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator",
        "kwargs": {"executables_root": ["~/airflow/executable-bundles", "/opt/bundles"]},
    },
    {"name": "rust", "classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator", "kwargs": {"executables_root": "/srv/rust"}},
]


def write_cfg(home: Path, value: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "airflow.cfg"
    indented = "\n    ".join(value.splitlines())
    cfg.write_text(f"[core]\ndags_folder = /x\n\n[sdk]\ncoordinators = {indented}\n")
    return cfg


def test_roots_from_airflow_cfg_multiline_json(isolated_env: dict[str, str]) -> None:
    write_cfg(Path(isolated_env["AIRFLOW_HOME"]), json.dumps(COORDINATORS, indent=2))
    found = airflow_roots()
    assert [r.path for r in found.roots] == [os.path.expanduser("~/airflow/executable-bundles"), "/opt/bundles", "/srv/rust"]
    assert found.roots[0].origin.endswith("airflow.cfg [sdk] coordinators (go)")
    assert found.warnings == []


def test_environment_variable_wins_over_airflow_cfg(isolated_env: dict[str, str], monkeypatch) -> None:
    write_cfg(Path(isolated_env["AIRFLOW_HOME"]), json.dumps(COORDINATORS))
    env_value = [{"classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator", "kwargs": {"executables_root": "/from/env"}}]
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps(env_value))
    found = airflow_roots()
    assert [(r.path, r.origin.split(" ")[0]) for r in found.roots] == [("/from/env", "AIRFLOW__SDK__COORDINATORS")]


def test_malformed_coordinators_give_one_line_warnings(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", "[{'name': 'go'}]")
    found = airflow_roots()
    assert found.roots == [] and len(found.warnings) == 1
    assert "is not valid JSON" in found.warnings[0] and "\n" not in found.warnings[0]

    value = [
        "not an object",
        {"classpath": "x.ExecutableCoordinator", "kwargs": {"executables_root": []}, "name": "empty"},
        {"classpath": "x.ExecutableCoordinator", "kwargs": {"executables_root": "relative/dir"}, "name": "rel"},
    ]
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps(value))
    found = airflow_roots()
    assert [r.path for r in found.roots] == ["relative/dir"]
    assert len(found.warnings) == 3
    assert "entry 0 is not a JSON object" in found.warnings[0]
    assert "'empty' has no usable executables_root" in found.warnings[1]
    assert "is relative" in found.warnings[2]


def test_arguments_beat_config_which_beats_airflow(isolated_env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps(COORDINATORS))
    assert [r.path for r in discover_roots(["/arg"], ["/cfg"]).roots] == ["/arg"]
    assert [(r.path, r.origin) for r in discover_roots([], ["/cfg"], config_origin="cfg").roots] == [("/cfg", "cfg")]
    assert len(discover_roots([], []).roots) == 3


def test_console_config_file_and_environment(isolated_env: dict[str, str], monkeypatch) -> None:
    config = Path(isolated_env["XDG_CONFIG_HOME"]) / "remsvc-console" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "theme: dark\nbundle_roots: [/cfg/a, /cfg/b]\nbundle_schema_versions: ['2027-01-01']\nbundle_cache_max_entries: 10\n"
    )
    options, warnings = load_bundle_options()
    assert (options.roots, options.schema_versions, options.cache_max_entries) == (("/cfg/a", "/cfg/b"), ("2027-01-01",), 10)
    assert warnings == []
    monkeypatch.setenv("REMSVC_CONSOLE_BUNDLE_ROOTS", os.pathsep.join(["/env/a", "/env/b"]))
    options, _ = load_bundle_options()
    assert options.roots == ("/env/a", "/env/b") and options.roots_origin == "REMSVC_CONSOLE_BUNDLE_ROOTS"
    service = BundleService.from_config(use_cache=False)
    assert [r.path for r in service.roots] == ["/env/a", "/env/b"]
    assert service.versions.known == {"2026-06-16", "2027-01-01"}


def test_bad_config_values_are_warnings_and_defaults(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("bundle_roots: {a: 1}\nbundle_cache_max_entries: -5\n")
    options, warnings = load_bundle_options(config)
    assert options.roots == () and options.cache_max_entries > 0
    assert len(warnings) == 2 and all(str(config) in w for w in warnings)
    config.write_text("bundle_roots: [unclosed\n")
    assert "not valid YAML" in load_bundle_options(config)[1][0]
    assert "config file not found" in load_bundle_options(tmp_path / "missing.yaml")[1][0]
