"""Fixtures for the console's UI tests: an app wired to real servers, journal and files in tmp."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from console.remsvc.model import Target
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext


@pytest.fixture
def ui_settings(tmp_path: Path) -> Settings:
    return Settings(journal_dir=tmp_path / "journal", save_dir=tmp_path / "saved", fanout_confirm_threshold=10)


@pytest.fixture
def make_app(ui_settings: Settings) -> Callable[..., ConsoleApp]:
    """``make_app(targets, text, **context_fields)``: status polling off unless asked for."""

    def factory(targets: list[Target], text: str = "", **fields) -> ConsoleApp:
        fields.setdefault("settings", ui_settings)
        fields.setdefault("poll_status", False)
        return ConsoleApp(ConsoleContext(targets=list(targets), editor_text=text, **fields))

    return factory


@pytest.fixture
def fault_server_for_ui():
    """The fault-injection HTTP server answering like a healthy Airflow API server."""
    from tests.helpers.http_fault_server import FaultServer

    with FaultServer() as server:
        yield server
