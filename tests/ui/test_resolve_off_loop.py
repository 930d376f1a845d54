"""Restoring a past dispatch whose target only Airflow knows does not block the screen: the targets
are resolved in a worker while the status line says "resolving … via Airflow", and keys work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from console.airflow import via_airflow
from console.dispatch_service import TargetCatalog
from console.journal import Journal
from console.remsvc.model import Command, Target
from console.ui.screens.history import HistoryScreen
from tests.ui.helpers import screen_text, wait_for

FAKE_AIRFLOW = """
import json, os, sys, time
request = json.loads(sys.stdin.read())
gate = os.environ["FAKE_AIRFLOW_GATE"]
deadline = time.monotonic() + 60
while not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.05)
fields = {"conn_type": "remsvc", "host": "db.example", "port": 50051, "login": None, "password": None,
          "schema": None, "extra": None}
backend = "airflow.secrets.metastore.MetastoreBackend"
print(json.dumps({"results": {i: {"backend": backend, "fields": fields, "tried": []} for i in request["ids"]}}))
"""


def slow_airflow(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An ``airflow_python`` that answers every id with a connection once ``gate`` exists."""
    script = tmp_path / "fake_airflow.py"
    script.write_text(FAKE_AIRFLOW)
    wrapper = tmp_path / "airflow-python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}"\n')
    wrapper.chmod(0o755)
    gate = tmp_path / "gate"
    env = {"PATH": "/usr/bin:/bin", "REMSVC_CONSOLE_AIRFLOW_PYTHON": str(wrapper), "FAKE_AIRFLOW_GATE": str(gate)}
    return env, gate


async def test_history_restore_resolves_via_airflow_in_the_background(make_app, ui_settings, tmp_path):
    env, gate = slow_airflow(tmp_path)
    via_airflow.forget()
    journal = Journal(ui_settings.journal_dir)
    dispatch_id = journal.start([Target("slow_db", "db.example", 50051)], [Command("echo restored")])
    journal.finish(dispatch_id, "SUCCESS")
    journal.close()
    here = Target("here", "127.0.0.1", 1)
    app = make_app([here], "echo now", catalog=TargetCatalog(env=env, extra=[here]))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.dispatch_pane
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history screen")
        await pilot.press("r")
        await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen), what="history closed")
        assert pane.query_one("#editor").text == "echo restored"
        await wait_for(pilot, lambda: "resolving slow_db via Airflow" in screen_text(app), what="resolving state")
        assert pane.targets == [], "nothing may run on the old targets while the restored ones resolve"
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one("TabbedContent").active == "health", what="pane switch while resolving")
        await pilot.press("1")
        gate.write_text("go")
        await wait_for(pilot, lambda: [t.name for t in pane.targets] == ["slow_db"], timeout=30, what="slow_db resolved")
        assert pane.targets[0].address == "db.example:50051"
        assert "resolving" not in screen_text(app)
    via_airflow.forget()
