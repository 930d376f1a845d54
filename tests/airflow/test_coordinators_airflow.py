"""Bundle roots from ``[sdk] coordinators`` against Airflow 3.3.2's own ``CoordinatorManager.from_config()``.

Each configuration runs in a fresh Airflow process (env and airflow.cfg are read at start-up); the
roots Airflow's ExecutableCoordinator instances hold must equal the console's, and a value Airflow
refuses must be reported with the exception Airflow raised.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from console.bundles.roots import airflow_roots
from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow

pytestmark = pytest.mark.airflow

EXE = "airflow.sdk.coordinators.executable.ExecutableCoordinator"
JAVA = "airflow.sdk.coordinators.java.JavaCoordinator"

AIRFLOW_SIDE = r"""
import json
from airflow.sdk._shared.module_loading import import_string
from airflow.sdk.execution_time.coordinator import CoordinatorManager

try:
    manager = CoordinatorManager.from_config()
except Exception as exc:
    errors = getattr(exc, "errors", None)
    first = errors()[0] if callable(errors) else {}
    print(json.dumps({"error": type(exc).__name__, "message": str(exc),
                      "loc": [str(p) for p in first.get("loc", ())], "msg": first.get("msg")}))
else:
    roots, broken = [], []
    for name, spec in manager._coordinator_specs.items():
        if spec.classpath.rsplit(".", 1)[-1] != "ExecutableCoordinator":
            continue
        try:
            coordinator = import_string(spec.classpath)(**spec.kwargs)
        except Exception as exc:
            broken.append(name)
            continue
        roots.extend(str(p) for p in coordinator.executables_root)
    print(json.dumps({"roots": roots, "broken": broken}))
"""


def entry(roots, classpath=EXE):
    return {"classpath": classpath, "kwargs": {"executables_root": roots}}


def multiline(value) -> str:
    return "\n    ".join(json.dumps(value, indent=2).splitlines())


# name -> (environment value or None, airflow.cfg [sdk] coordinators text or None, extra env)
CASES = {
    "env_string_root": (json.dumps({"go": entry("/srv/go")}), None, {}),
    "env_list_roots": (json.dumps({"go": entry(["/srv/a", "/srv/b/"])}), None, {}),
    "cfg_single_line_tilde": (None, json.dumps({"go": entry("~/airflow/executable-bundles")}), {}),
    "cfg_multiline_several": (None, multiline({"java": {"classpath": JAVA, "kwargs": {}}, "go": entry(["~/go"]),
                                               "rust": entry("/opt/rust")}), {}),
    "env_home_and_vars": (json.dumps({"go": entry(["$HOME/bundles", "${BUNDLE_BASE}/x", "$UNSET_VAR/y"])}), None,
                          {"BUNDLE_BASE": "/from/var"}),
    "env_overrides_cfg": (json.dumps({"env": entry("/from/env")}), json.dumps({"cfg": entry("/from/cfg")}), {}),
    "cfg_vars_and_relative": (None, json.dumps({"go": entry(["$BUNDLE_BASE/cfg", "relative/dir", "~"])}),
                              {"BUNDLE_BASE": "/b"}),
    "env_empty_list_root": (json.dumps({"bad": entry([]), "good": entry("/ok")}), None, {}),
    "rejected_top_level_list": (json.dumps([{"name": "go", **entry("/srv/go")}]), None, {}),
    "rejected_single_entry_object": (json.dumps(entry("/srv/go")), None, {}),
    "rejected_invalid_json": ("[{'name': 'go'}]", None, {}),
    "rejected_missing_classpath": (json.dumps({"go": {"kwargs": {"executables_root": "/x"}}}), None, {}),
    "rejected_kwargs_not_object": (None, json.dumps({"go": {"classpath": EXE, "kwargs": ["/x"]}}), {}),
}


def case_env(tmp: Path, name: str) -> dict[str, str]:
    env_value, cfg_value, extra = CASES[name]
    home = tmp / name
    airflow_home = home / "airflow"
    airflow_home.mkdir(parents=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "AIRFLOW_HOME": str(airflow_home), **extra}
    if cfg_value is not None:
        (airflow_home / "airflow.cfg").write_text(f"[core]\nload_examples = False\n\n[sdk]\ncoordinators = {cfg_value}\n")
    if env_value is not None:
        env["AIRFLOW__SDK__COORDINATORS"] = env_value
    return env


@pytest.fixture(scope="module")
def airflow_answers(tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"Airflow cannot be installed here: {exc}")
    tmp = tmp_path_factory.mktemp("coordinators")
    envs = {name: case_env(tmp, name) for name in CASES}

    def ask(name: str) -> dict:
        proc = subprocess.run([str(install.venv / "bin" / "python"), "-c", AIRFLOW_SIDE], capture_output=True,
                              text=True, env=envs[name], timeout=300, cwd=tmp)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = dict(zip(CASES, pool.map(ask, CASES)))
    return {name: (envs[name], answers[name]) for name in CASES}


def test_at_least_ten_configurations_cover_the_forms_named_in_the_contract():
    assert len(CASES) >= 10
    assert sum(1 for name in CASES if name.startswith("rejected_")) >= 4


@pytest.mark.parametrize("name", sorted(CASES))
def test_roots_equal_what_coordinator_manager_builds(airflow_answers, name):
    env, theirs = airflow_answers[name]
    ours = airflow_roots(env=env)
    if "error" in theirs:
        assert ours.roots == []
        (warning,) = ours.warnings
        assert "Airflow rejects this value" in warning and theirs["error"] in warning
        if theirs["error"] == "ValidationError":
            assert theirs["msg"].split(" or instance")[0] in warning
            assert all(part in warning for part in theirs["loc"])
        else:
            assert theirs["message"] in warning
        return
    assert [r.path for r in ours.roots] == theirs["roots"]
    for broken in theirs["broken"]:
        assert any(f"coordinator {broken!r}" in w and "cannot construct" in w for w in ours.warnings)
