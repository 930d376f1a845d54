"""The Dispatch pane's target picker lists a real Airflow 3.3.2 metadata DB on request.

The DB is filled by Airflow's own CLI; the console runs in-process with that Airflow as its
``airflow_python``. What the picker adds is what Airflow resolves for each id, merged into the list
without duplicates, and no token or password stored in the DB ever reaches the screen.
"""

from __future__ import annotations

import json

import pytest
from textual.widgets import SelectionList, Static

from console.dispatch_service import TargetCatalog
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from console.ui.screens.targets import ASKING, TargetPickerScreen
from tests.helpers.airflow_db import fill_metadata_db
from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow
from tests.ui.helpers import screen_text, wait_for

pytestmark = pytest.mark.airflow

TOKEN = "picker-db-token-8c31f0a7d2"
PASSWORD = "picker-db-password-57be0c"
DB_CONNECTIONS = {
    "remsvc_db": {"conn_type": "remsvc", "host": "db-host", "port": 50443, "login": "ops", "password": PASSWORD,
                  "extra": json.dumps({"use_ssl": True, "bearer_token": TOKEN})},
    "remsvc_shared": {"conn_type": "remsvc", "host": "from-db", "port": 7, "extra": json.dumps({"bearer_token": TOKEN})},
    "remsvc_evil": {"conn_type": "remsvc", "host": "evil\x1b]0;owned\x07host", "port": 9},
    "warehouse": {"conn_type": "postgres", "host": "pg-host", "port": 5432, "password": PASSWORD},
}
ENV_CONNECTIONS = {
    "AIRFLOW_CONN_REMSVC_SHARED": "remsvc://from-env:2",
    "AIRFLOW_CONN_REMSVC_ENVONLY": "remsvc://env-host:3",
}


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"Airflow cannot be installed here: {exc}")
    env = fill_metadata_db(install, tmp_path_factory.mktemp("picker-airflow"), DB_CONNECTIONS)
    return {**env, **ENV_CONNECTIONS}


def names(listing: SelectionList) -> list[str]:
    return [listing.get_option_at_index(i).value for i in range(listing.option_count)]


def assert_no_secret(app) -> None:
    shown = screen_text(app)
    assert TOKEN not in shown and PASSWORD not in shown
    assert "\x1b" not in shown and "\x07" not in shown


@pytest.mark.timeout(600)
async def test_picker_lists_the_db_and_a_db_connection_becomes_the_target(airflow_env, tmp_path):
    app = ConsoleApp(ConsoleContext(settings=Settings(journal_dir=tmp_path / "journal"),
                                    catalog=TargetCatalog(env=airflow_env), poll_status=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetPickerScreen), what="picker")
        picker = app.screen
        listing = picker.query_one("#choices", SelectionList)
        assert names(listing) == ["remsvc_envonly", "remsvc_shared"]
        await pilot.press("space", "down")
        await pilot.press("ctrl+l")
        assert ASKING in screen_text(app)
        await wait_for(pilot, lambda: not picker.listing, timeout=240, what="Airflow's listing")
        info = picker.query_one("#picker-info", Static).content.plain
        assert info.splitlines()[0] == "Airflow's metadata DB: 2 connections added", info
        assert "⚠" not in info, "nothing refused, nothing unlisted"
        assert names(listing) == ["remsvc_envonly", "remsvc_shared", "remsvc_db", "remsvc_evil"]
        assert listing.selected == ["remsvc_envonly"] and listing.highlighted == 1
        shown = screen_text(app)
        assert "remsvc_db  db-host:50443  TLS" in shown and "evil␛]0;owned␇host:9" in shown
        assert "warehouse" not in shown and "pg-host" not in shown
        assert_no_secret(app)

        await pilot.press("down")
        assert "remsvc_db from metadata DB (via Airflow)" in screen_text(app)
        assert_no_secret(app)
        await pilot.press("space", "ctrl+r")
        await wait_for(pilot, lambda: not isinstance(app.screen, TargetPickerScreen), what="picker closed")
        targets = app.dispatch_pane.targets
        assert [t.name for t in targets] == ["remsvc_envonly", "remsvc_db"]
        db = targets[1]
        assert (db.address, db.use_ssl, db.bearer_token == TOKEN) == ("db-host:50443", True, True)
        assert "targets: remsvc_envonly, remsvc_db (2)" in screen_text(app)
        assert_no_secret(app)
