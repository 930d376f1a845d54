"""A fresh SQLite metadata DB holding given connections, filled by Airflow's own CLI.

``airflow db migrate`` creates the DB and ``airflow connections import`` stores the connections, so
what the console later reads is what Airflow itself wrote. The import file is removed afterwards:
only the DB holds the secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.helpers.airflow_env import AirflowInstall


def fill_metadata_db(install: AirflowInstall, root: Path, connections: dict[str, dict]) -> dict[str, str]:
    """The environment of an Airflow home under ``root`` whose DB holds ``connections``; the console
    asks that Airflow (``REMSVC_CONSOLE_AIRFLOW_PYTHON``) and keeps its own state under ``root``."""
    home = root / "airflow"
    home.mkdir()
    (home / "airflow.cfg").write_text(f"[core]\nload_examples = False\n\n[database]\nsql_alchemy_conn = sqlite:///{home / 'airflow.db'}\n")
    env = console_env(install, root, home)
    to_import = root / "connections.json"
    to_import.write_text(json.dumps(connections))
    try:
        for args in (["db", "migrate"], ["connections", "import", str(to_import)]):
            proc = subprocess.run([str(install.airflow), *args], capture_output=True, text=True, env=env, cwd=root, timeout=300)
            assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    finally:
        to_import.unlink()
    return env


def console_env(install: AirflowInstall, root: Path, home: Path) -> dict[str, str]:
    """A clean environment for the console and Airflow: Airflow's home ``home``, the console's state
    under ``root``, and that Airflow as the console's ``airflow_python``."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "AIRFLOW_HOME": str(home),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "REMSVC_CONSOLE_AIRFLOW_PYTHON": str(install.venv / "bin" / "python"),
    }


def recording_python(directory: Path, python: str) -> tuple[Path, Path, Path]:
    """An ``airflow_python`` that runs ``python`` after noting each start in ``calls`` and its
    arguments in ``argv``; returns (wrapper, calls, argv)."""
    calls, argv, wrapper = directory / "calls.txt", directory / "argv.txt", directory / "airflow-python"
    wrapper.write_text(f'#!/bin/sh\necho call >> "{calls}"\nprintf "%s" "$*" >> "{argv}"\nexec "{python}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls, argv
