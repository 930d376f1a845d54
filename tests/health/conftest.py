"""Fault-injection peers for the health tests: a real HTTP server, a wedged one, and HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.http_fault_server import FaultServer, HangServer
from tests.helpers.supervisord import Supervisord


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer(token="s3cr3t-token-value") as server:
        yield server


@pytest.fixture
def hang_server() -> Iterator[HangServer]:
    with HangServer() as server:
        yield server


@pytest.fixture
def tls_server(tls_material) -> Iterator[FaultServer]:
    """HTTPS with a certificate from ``tls_material.ca_cert`` (valid for 127.0.0.1)."""
    with FaultServer(tls=(tls_material.server_cert, tls_material.server_key)) as server:
        yield server


@pytest.fixture
def supervisord(tmp_path):
    """A real supervisord with runner, crasher, flapper, oneshot and idle; killed with its programs."""
    sv = Supervisord(tmp_path / "sv")
    try:
        sv.start()
        yield sv
    finally:
        sv.stop()
