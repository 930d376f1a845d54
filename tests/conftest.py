"""Shared fixtures: the embedded RemSvc server as a real child process, and test certificates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from tests.helpers.certs import CertSet, make_certs
from tests.helpers.remsvc_server import ServerProcess, start_server_process


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
