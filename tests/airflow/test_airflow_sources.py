"""Connections Airflow keeps outside env vars: its metadata DB and a ``[secrets]`` LocalFilesystemBackend.

A fresh SQLite metadata DB gets ``remsvc_db`` through ``airflow connections add``; ``remsvc_fs``
lives in the file a LocalFilesystemBackend configured in airflow.cfg serves. Both point at the
embedded RemSvc server (TLS, bearer tokens). They are resolved by ``conn show --json``, dispatched to
by ``run`` and by the TUI, and neither token appears in any output or in the journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.airflow import via_airflow
from console.airflow.conn_sources import needs_airflow, resolve_connection
from console.dispatch_service import TargetCatalog
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from tests.helpers.airflow_db import console_env, recording_python
from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow
from tests.helpers.remsvc_server import start_server_process
from tests.ui.helpers import screen_text, wait_for

pytestmark = pytest.mark.airflow

TOKEN_DB = "db-token-7c1e90aa41"
TOKEN_FS = "fs-token-2b5d0c3f88"
TOKENS = (TOKEN_DB, TOKEN_FS)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, tls_material):
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"Airflow cannot be installed here: {exc}")
    root = tmp_path_factory.mktemp("airflow-sources")
    ini = (f"[tls]\nenabled = true\ncert = {tls_material.server_cert}\nkey = {tls_material.server_key}\n"
           f"[auth]\ndb = {TOKEN_DB}\nfs = {TOKEN_FS}\n")
    server = start_server_process(ini)
    home = root / "airflow"
    home.mkdir()
    conns_file = root / "backend-conns.yaml"
    extra = {"use_ssl": True, "ca_cert_path": str(tls_material.ca_cert)}
    conns_file.write_text(json.dumps({
        "remsvc_fs": {"conn_type": "remsvc", "host": "127.0.0.1", "port": server.port,
                      "extra": {**extra, "bearer_token": TOKEN_FS}},
        "remsvc_both": "remsvc://from-backend:1",
    }))
    (home / "airflow.cfg").write_text(
        "[core]\nload_examples = False\n\n"
        f"[database]\nsql_alchemy_conn = sqlite:///{home / 'airflow.db'}\n\n"
        "[secrets]\nbackend = airflow.secrets.local_filesystem.LocalFilesystemBackend\n"
        f"backend_kwargs = {{\"connections_file_path\": \"{conns_file}\"}}\n"
    )
    env = {**console_env(install, root, home), "AIRFLOW_CONN_REMSVC_BOTH": "remsvc://from-env:2"}
    airflow = str(install.airflow)
    for args in (["db", "migrate"],
                 ["connections", "add", "remsvc_db", "--conn-json",
                  json.dumps({"conn_type": "remsvc", "host": "127.0.0.1", "port": server.port,
                              "extra": {**extra, "bearer_token": TOKEN_DB}})]):
        proc = subprocess.run([airflow, *args], capture_output=True, text=True, env=env, cwd=root, timeout=300)
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    via_airflow.forget()
    yield {"env": env, "server": server, "file": conns_file, "python": env["REMSVC_CONSOLE_AIRFLOW_PYTHON"],
           "journal": root / "state" / "remsvc-console"}
    server.stop()
    via_airflow.forget()


def console(deployment, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          env=deployment["env"], timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr
    for token in TOKENS:
        assert token not in proc.stdout and token not in proc.stderr
    return proc


def test_conn_show_json_resolves_the_metadata_db_and_the_local_filesystem_backend(deployment):
    port = deployment["server"].port
    db = json.loads(console(deployment, "conn", "show", "remsvc_db", "--json").stdout)
    fs = json.loads(console(deployment, "conn", "show", "remsvc_fs", "--json").stdout)
    assert db["source"] == "metadata DB (via Airflow)"
    assert fs["source"] == f"[secrets] backend LocalFilesystemBackend ({deployment['file']})"
    for shown in (db, fs):
        assert (shown["host"], shown["port"], shown["use_ssl"], shown["bearer_token"]) == ("127.0.0.1", port, True, "***")
        assert shown["extras"]["bearer_token"] == "***"


def test_the_configured_backend_comes_before_the_environment_as_in_airflow(deployment):
    code = ("import json; from airflow.models.connection import Connection; "
            "print(json.dumps(Connection.get_connection_from_secrets('remsvc_both').host))")
    proc = subprocess.run([deployment["python"], "-c", code], capture_output=True, text=True,
                          env=deployment["env"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    airflows_host = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = resolve_connection("remsvc_both", env=deployment["env"])
    assert ours.host == airflows_host == "from-backend"
    assert ours.source.startswith("[secrets] backend LocalFilesystemBackend")


def test_not_found_names_every_source_in_order(deployment):
    proc = console(deployment, "conn", "show", "remsvc_nowhere")
    assert proc.returncode == 3
    message = proc.stderr.strip()
    assert (f"1) [secrets] backend LocalFilesystemBackend ({deployment['file']}): no 'remsvc_nowhere'; "
            "2) AIRFLOW_CONN_REMSVC_NOWHERE: not set; 3) no connections file") in message
    assert "4) metadata DB: not there" in message


def test_conn_list_shows_backend_and_environment_and_says_what_it_cannot_list(deployment):
    proc = console(deployment, "conn", "list", "--json")
    listed = {c["conn_id"]: c["source"] for c in json.loads(proc.stdout)["connections"]}
    assert listed["remsvc_fs"].startswith("[secrets] backend LocalFilesystemBackend")
    assert listed["remsvc_both"].startswith("[secrets] backend LocalFilesystemBackend")
    assert json.loads(proc.stdout)["not_listed"] == ["metadata DB"]


def test_run_dispatches_to_both_connections_through_the_embedded_server(deployment):
    proc = console(deployment, "run", "--conn", "remsvc_db", "--conn", "remsvc_fs", "--cmd", "echo via-airflow", "--json")
    assert proc.returncode == 0, proc.stderr
    per_target = json.loads(proc.stdout)["targets"]
    assert sorted(per_target) == ["remsvc_db", "remsvc_fs"]
    for document in per_target.values():
        assert document["state"] == "SUCCESS"
        assert [r["out"] for r in document["results"]] == ["via-airflow\n"]
    journal = "".join(p.read_text(errors="replace") for p in deployment["journal"].rglob("*") if p.is_file())
    assert "via-airflow" in journal
    for token in TOKENS:
        assert token not in journal


def test_the_tui_resolves_in_the_background_then_dispatches(deployment, tmp_path, monkeypatch):
    for name, value in deployment["env"].items():
        monkeypatch.setenv(name, value)
    via_airflow.forget()
    names = ["remsvc_db", "remsvc_fs"]
    assert needs_airflow(names) == ["remsvc_db"]
    catalog = TargetCatalog()
    known = catalog.resolve(["remsvc_fs"])
    settings = Settings(journal_dir=tmp_path / "journal", save_dir=tmp_path / "saved")
    app = ConsoleApp(ConsoleContext(settings=settings, catalog=catalog, targets=[k.target for k in known],
                                    editor_text="echo from-tui", poll_status=False, pending_connections=["remsvc_db"]))
    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.dispatch_pane
            await wait_for(pilot, lambda: "via Airflow" in app.query_one("StatusBar").resolving, timeout=5,
                           what="resolving state shown")
            assert [t.name for t in pane.targets] == ["remsvc_fs"]
            await wait_for(pilot, lambda: [t.name for t in pane.targets] == ["remsvc_fs", "remsvc_db"], timeout=120,
                           what="remsvc_db resolved via Airflow")
            assert app.query_one("StatusBar").resolving == ""
            pane.start_dispatch(confirmed=True)
            await wait_for(pilot, lambda: pane.model is not None and not pane.model.running, timeout=60, what="dispatch end")
            assert pane.model.state_of(("remsvc_db", 1)).name == "DONE"
            assert pane.model.state_of(("remsvc_fs", 1)).name == "DONE"
            for token in TOKENS:
                assert token not in screen_text(app)
    import asyncio
    asyncio.run(scenario())
    journal = "".join(p.read_text(errors="replace") for p in (tmp_path / "journal").rglob("*") if p.is_file())
    assert "from-tui" in journal and not any(token in journal for token in TOKENS)


def test_airflow_is_started_once_per_id_and_never_sees_a_secret_in_its_arguments(deployment, tmp_path):
    wrapper, calls, argv = recording_python(tmp_path, deployment["python"])
    env = {**deployment["env"], "REMSVC_CONSOLE_AIRFLOW_PYTHON": str(wrapper)}
    via_airflow.forget()
    first = resolve_connection("remsvc_db", env=env)
    again = resolve_connection("remsvc_db", env=env)
    assert first.bearer_token == again.bearer_token == TOKEN_DB
    assert calls.read_text().splitlines() == ["call"]
    recorded = argv.read_text()
    assert recorded.startswith("-c ") and TOKEN_DB not in recorded and "remsvc_db" not in recorded


def test_the_python_behind_airflow_on_path_is_found_without_any_setting(deployment, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "airflow").write_text(f"#!{deployment['python']}\nraise SystemExit(0)\n")
    (bin_dir / "airflow").chmod(0o755)
    env = {k: v for k, v in deployment["env"].items() if k != "REMSVC_CONSOLE_AIRFLOW_PYTHON"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    assert via_airflow.find_airflow_python(env) == deployment["python"]
    via_airflow.forget()
    assert resolve_connection("remsvc_db", env=env).source == "metadata DB (via Airflow)"


def test_a_failing_airflow_is_one_clear_error(deployment, tmp_path):
    env = {**deployment["env"], "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "not-a-database-url://"}
    via_airflow.forget()
    proc = subprocess.run([sys.executable, "-m", "console", "conn", "show", "remsvc_db"], capture_output=True, text=True,
                          env=env, timeout=180)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Airflow" in proc.stderr
