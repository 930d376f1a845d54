"""Shared fixtures: an isolated environment, the embedded RemSvc server as a real child process, test certificates."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pytest

from tests.helpers.certs import CertSet, make_certs
from tests.helpers.remsvc_server import ServerProcess, start_server_process


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every test gets its own XDG dirs and an empty Airflow home.

    Nothing reads or writes the developer's journal, digest cache, console config, connections or
    Airflow configuration.
    """
    home = tmp_path_factory.mktemp("home")
    values = {
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "AIRFLOW_HOME": str(home / "airflow"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "REMSVC_CONSOLE_")) or name == "AIRFLOW_CONFIG":
            monkeypatch.delenv(name)
    return values


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    """CA, server (127.0.0.1/::1/localhost), client, and an unrelated CA; made once per session."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def remsvc_server_factory() -> Iterator:
    """``factory(ini_text="", extra_args=(), **kw) -> ServerProcess``; every server is stopped afterwards.

    Keyword arguments go to ``start_server_process`` (``env``, ``target_defaults``, ...).
    """
    started: list[ServerProcess] = []

    def factory(ini_text: str = "", extra_args: Sequence[str] = (), **kwargs) -> ServerProcess:
        server = start_server_process(ini_text, extra_args, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def remsvc_server(remsvc_server_factory) -> ServerProcess:
    """A plain (no TLS, no auth) embedded server on a free loopback port."""
    return remsvc_server_factory()
