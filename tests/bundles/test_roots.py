"""Where roots come from: arguments, then the console config, then Airflow's [sdk] coordinators (3.3.2 form)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from console.bundles.options import load_bundle_options
from console.bundles.roots import airflow_roots, discover_roots
from console.bundles.service import BundleService

EXECUTABLE = "airflow.sdk.coordinators.executable.ExecutableCoordinator"
COORDINATORS = {
    "python": {"classpath": "airflow.sdk.coordinators.java.JavaCoordinator", "kwargs": {}},
    "go": {"classpath": EXECUTABLE, "kwargs": {"executables_root": ["~/airflow/executable-bundles", "/opt/bundles"]}},
    "rust": {"classpath": EXECUTABLE, "kwargs": {"executables_root": "/srv/rust"}},
}


def write_cfg(home: Path, value: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "airflow.cfg"
    indented = "\n    ".join(value.splitlines())
    cfg.write_text(f"[core]\ndags_folder = /x\n\n[sdk]\ncoordinators = {indented}\n")
    return cfg


def test_roots_from_airflow_cfg_multiline_object_keyed_by_name(isolated_env: dict[str, str]) -> None:
    write_cfg(Path(isolated_env["AIRFLOW_HOME"]), json.dumps(COORDINATORS, indent=2))
    found = airflow_roots()
    assert [r.path for r in found.roots] == [os.path.expanduser("~/airflow/executable-bundles"), "/opt/bundles", "/srv/rust"]
    assert found.roots[0].origin.endswith("airflow.cfg [sdk] coordinators (go)")
    assert found.warnings == []


def test_environment_variable_wins_over_airflow_cfg_and_expands_variables(isolated_env: dict[str, str], monkeypatch) -> None:
    write_cfg(Path(isolated_env["AIRFLOW_HOME"]), json.dumps(COORDINATORS))
    monkeypatch.setenv("BUNDLE_BASE", "/from/var")
    value = {"go": {"classpath": EXECUTABLE, "kwargs": {"executables_root": ["$BUNDLE_BASE/go", "${HOME}/b"]}}}
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps(value))
    found = airflow_roots()
    assert [(r.path, r.origin.split(" ")[0]) for r in found.roots] == [
        ("/from/var/go", "AIRFLOW__SDK__COORDINATORS"), (f"{os.environ['HOME']}/b", "AIRFLOW__SDK__COORDINATORS")]


def test_forms_airflow_rejects_give_no_roots_and_say_why(monkeypatch) -> None:
    cases = {
        "[{'name': 'go'}]": "AirflowConfigException: Unable to parse [sdk] 'coordinators' as valid json",
        json.dumps([{"name": "go", "classpath": EXECUTABLE, "kwargs": {"executables_root": "/x"}}]):
            "AttributeError: 'list' object has no attribute 'items'",
        json.dumps({"classpath": EXECUTABLE, "kwargs": {"executables_root": "/x"}}):
            "ValidationError: coordinator 'classpath': Input should be a valid dictionary",
        json.dumps({"go": {"kwargs": {"executables_root": "/x"}}}): "ValidationError: coordinator 'go': classpath: Field required",
    }
    for value, reason in cases.items():
        monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", value)
        found = airflow_roots()
        assert found.roots == [], value
        assert len(found.warnings) == 1 and "\n" not in found.warnings[0]
        assert "Airflow rejects this value" in found.warnings[0] and reason in found.warnings[0]


def test_unusable_entries_are_warnings_naming_the_coordinator(monkeypatch) -> None:
    value = {
        "empty": {"classpath": EXECUTABLE, "kwargs": {"executables_root": []}},
        "none": {"classpath": EXECUTABLE},
        "rel": {"classpath": EXECUTABLE, "kwargs": {"executables_root": "relative/dir"}},
        "java": {"classpath": "airflow.sdk.coordinators.java.JavaCoordinator", "kwargs": {"executables_root": "/j"}},
    }
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps(value))
    found = airflow_roots()
    assert [r.path for r in found.roots] == ["relative/dir"]
    assert len(found.warnings) == 4
    assert "'empty': executables_root is an empty list" in found.warnings[0]
    assert "'none': no executables_root given" in found.warnings[1]
    assert "'java'" in found.warnings[2] and "not an ExecutableCoordinator" in found.warnings[2]
    assert "is relative" in found.warnings[3]


def test_a_set_value_without_roots_is_a_warning_naming_the_key(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps({"java": {"classpath": "x.JavaCoordinator"}}))
    found = airflow_roots()
    assert found.roots == []
    assert found.warnings == ["AIRFLOW__SDK__COORDINATORS is set but yields no bundle roots "
                              "(no usable ExecutableCoordinator executables_root)"]
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", "")
    assert airflow_roots().warnings == []


def test_queue_routing_to_a_missing_coordinator_is_rejected_like_airflow(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps(COORDINATORS))
    monkeypatch.setenv("AIRFLOW__SDK__QUEUE_TO_COORDINATOR", json.dumps({"native": "nope"}))
    found = airflow_roots()
    assert found.roots == []
    assert "ValueError: [sdk] queue_to_coordinator references invalid coordinator key: 'nope'" in found.warnings[0]


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


def test_help_lists_bundle_roots_and_its_environment_override() -> None:
    from console.settings import describe_sources

    text = describe_sources()
    assert "bundle_roots" in text and "REMSVC_CONSOLE_BUNDLE_ROOTS" in text and "[sdk] coordinators" in text
