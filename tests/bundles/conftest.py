"""Every bundle test gets its own XDG cache/config dirs and an empty Airflow home.

Nothing reads or writes the developer's real digest cache, console config or Airflow configuration.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    values = {
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "AIRFLOW_HOME": str(home / "airflow"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith(("AIRFLOW__", "REMSVC_CONSOLE_")) or name == "AIRFLOW_CONFIG":
            monkeypatch.delenv(name)
    return values

