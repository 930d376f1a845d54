"""The Health pane against a real supervisord: program states, transitions, the Airflow column, log tail,
start/stop/restart with confirmation, and their refusal in read-only mode."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from console.health.supervisor_address import parse_supervisor_url
from console.journal import read_supervisor_actions
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from console.ui.panes.health import HealthPane
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.supervisor_log import SupervisorLogScreen
from console.ui.widgets.health_text import HealthViewOptions
from tests.helpers.supervisord import PASSWORD, Program, Supervisord
from tests.ui.helpers import screen_text, wait_for
from tests.ui.test_health_pane import cells_of

INTERVAL = 60.0


@pytest.fixture
def supervisord(tmp_path):
    sv = Supervisord(tmp_path / "sv")
    try:
        sv.start()
        sv.wait_state("runner", "RUNNING")
        sv.wait_state("crasher", "FATAL")
        sv.wait_state("oneshot", "EXITED")
        sv.wait_state("flapper", "BACKOFF")
        yield sv
    finally:
        sv.stop()


def supervisor_app(tmp: Path, urls: list[str], *, read_only: bool = False, api_urls=(),
                   options: HealthViewOptions | None = None) -> ConsoleApp:
    ctx = ConsoleContext(settings=Settings(journal_dir=tmp / "journal", read_only=read_only),
                         hostname="bastion", poll_status=False)
    ctx.health_supervisors = [parse_supervisor_url(u) for u in urls]
    ctx.health_api_urls = list(api_urls)
    ctx.health_view = options or HealthViewOptions(interval=INTERVAL, jitter=0.0)
    return ConsoleApp(ctx)


def programs(pane: HealthPane) -> dict[str, dict[str, str]]:
    table = pane.programs_table
    return {row["Program"]: row for row in (cells_of(table, i) for i in range(table.row_count))}


async def open_programs(pilot, count: int = 5) -> HealthPane:
    await pilot.press("f3")
    pane = pilot.app.query_one(HealthPane)
    await wait_for(pilot, lambda: pane.programs_table.row_count >= count, what="program rows")
    pane.programs_table.focus()
    await pilot.pause()
    return pane


async def select(pilot, pane: HealthPane, name: str) -> None:
    index = next(i for i, (_, p) in enumerate(pane._program_rows) if p.name == name)
    pane.programs_table.move_cursor(row=index)
    await pilot.pause()


async def test_programs_show_state_why_and_the_selected_one_in_full(tmp_path, supervisord):
    app = supervisor_app(tmp_path, [supervisord.inet_url])
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_programs(pilot)
        rows = programs(pane)
        assert rows["runner"]["State"] == "RUNNING" and rows["crasher"]["State"] == "FATAL"
        assert rows["idle"]["State"] == "STOPPED" and rows["idle"]["Why"].startswith("autostart=false: not meant")
        assert rows["oneshot"]["State"] == "EXITED" and rows["flapper"]["State"] in ("BACKOFF", "STARTING")
        assert rows["runner"]["Up"] != "-"
        await select(pilot, pane, "crasher")
        text = screen_text(app)
        assert "crasher on http://127.0.0.1:" in text and "FATAL (down)" in text
        assert "1 endpoint: 1 down" in text
        assert PASSWORD not in text


async def test_start_asks_then_starts_and_journals_then_a_transition_shows(tmp_path, supervisord):
    app = supervisor_app(tmp_path, [supervisord.unix_url])
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_programs(pilot)
        await select(pilot, pane, "idle")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert "Start idle on unix://" in screen_text(app)
        await pilot.press("n")
        await pilot.pause(0.3)
        assert supervisord.info("idle")["statename"] == "STOPPED"
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: programs(pane)["idle"]["State"] == "RUNNING", what="idle RUNNING")
        assert supervisord.info("idle")["statename"] == "RUNNING"
        assert any(t.describe() == "supervisor idle: STOPPED → RUNNING" for t in pane.transitions)
        assert "idle: STOPPED → RUNNING" in screen_text(app)
        await select(pilot, pane, "idle")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(read_supervisor_actions(tmp_path / "journal", date.today())) == 2,
                       what="restart journaled")
        await select(pilot, pane, "idle")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: programs(pane)["idle"]["State"] == "STOPPED", what="idle STOPPED")
    actions = read_supervisor_actions(tmp_path / "journal", date.today())
    assert [(a["program"], a["action"], a["result"]) for a in actions] == [
        ("idle", "start", "ok"), ("idle", "restart", "ok"), ("idle", "stop", "ok")]


async def test_read_only_refuses_in_the_service_and_says_so(tmp_path, supervisord):
    app = supervisor_app(tmp_path, [supervisord.inet_url], read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_programs(pilot)
        await select(pilot, pane, "runner")
        pid = supervisord.info("runner")["pid"]
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(pane.action_results), what="refusal notice")
        assert pane.action_results[0].startswith("read-only: stop runner on http://127.0.0.1:")
    info = supervisord.info("runner")
    assert info["statename"] == "RUNNING" and info["pid"] == pid
    [refused] = read_supervisor_actions(tmp_path / "journal", date.today())
    assert (refused["action"], refused["result"]) == ("stop", "refused")


async def test_log_view_tails_and_follows(tmp_path, supervisord):
    app = supervisor_app(tmp_path, [supervisord.unix_url])
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_programs(pilot)
        await select(pilot, pane, "runner")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, SupervisorLogScreen), what="log screen")
        screen = app.screen
        await wait_for(pilot, lambda: "runner up" in screen.view.lines, what="first lines")
        count = len(screen.view.lines)
        await wait_for(pilot, lambda: len(screen.view.lines) > count + 2, what="followed lines")
        assert screen.view.lines.count("runner up") == 1
        assert "following" in screen_text(app)
        await pilot.press("e")
        await wait_for(pilot, lambda: "runner warning on stderr" in screen.view.lines, what="stderr")
        await pilot.press("f")
        assert not screen.follow and "paused" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SupervisorLogScreen), what="back")


async def test_remove_endpoint_and_poll_one(tmp_path, supervisord):
    app = supervisor_app(tmp_path, [supervisord.inet_url, supervisord.unix_url])
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_programs(pilot, 10)
        pane.probes_table.focus()
        pane.probes_table.move_cursor(row=1)
        await pilot.pause()
        removed = pane._selected_probe().endpoint
        await pilot.press("o")
        await wait_for(pilot, lambda: pane.snapshots[pane._selected_probe()].polls >= 2, what="second poll")
        others = [s.polls for s in pane.snapshots.values() if s.key.endpoint != removed]
        assert others == [1]
        await pilot.press("delete")
        await wait_for(pilot, lambda: pane.probes_table.row_count == 1, what="one endpoint left")
        assert all(k.endpoint != removed for k in pane.poller.keys)
        assert pane.programs_table.row_count == 5
        assert "1 endpoint:" in screen_text(app)


async def test_airflow_component_shown_beside_its_program(tmp_path, fault_server_for_ui):
    script = tmp_path / "airflow"
    script.write_text(f"#!{sys.executable}\nimport time\nwhile True: time.sleep(1)\n")
    script.chmod(0o755)
    program = Program("dag-processor", f"{script} dag-processor", {"startsecs": "0"})
    fault_server_for_ui.airflow.heartbeat_age_s["dag_processor"] = 95.0
    with Supervisord(tmp_path / "sv", [program]) as sv:
        sv.wait_state("dag-processor", "RUNNING")
        app = supervisor_app(tmp_path, [sv.unix_url], api_urls=[fault_server_for_ui.url("healthy")])
        async with app.run_test(size=(120, 40)) as pilot:
            pane = await open_programs(pilot, 1)
            await wait_for(pilot, lambda: "STALE" in programs(pane)["dag-processor"]["Airflow"], what="airflow column")
            assert programs(pane)["dag-processor"]["Airflow"] == "STALE 1m35s"
            assert pane.programs_table.get_row_at(0)[-2].style == pane.palette["down"]
