"""The Health pane driven with Pilot against real local HTTP servers (``tests.helpers.http_fault_server``).

Polling runs at a long interval without jitter, so the only polls are the first round and the ones
the tests ask for (``r``); everything asserted is what the servers really answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from console.health.results import ComponentHealth
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from console.ui.panes.health import HealthPane
from console.ui.widgets.health_add import AddEndpointScreen
from console.ui.widgets.health_text import HealthViewOptions, heartbeat_tone, sparkline
from tests.helpers.http_fault_server import FaultServer, Reply, refused_url
from tests.ui.helpers import screen_text, wait_for

INTERVAL = 60.0


def health_app(tmp: Path, urls: list[str], *, options: HealthViewOptions | None = None, theme: str = "dark") -> ConsoleApp:
    """The console watching ``urls``; the Health pane's poller only polls when told to after the first round."""
    ctx = ConsoleContext(
        settings=Settings(journal_dir=tmp / "journal", theme=theme),
        clock=lambda: 1000.0,
        hostname="bastion",
        poll_status=False,
    )
    ctx.health_api_urls = list(urls)
    ctx.health_view = options or HealthViewOptions(interval=INTERVAL, jitter=0.0)
    return ConsoleApp(ctx)


async def open_pane(pilot, probes: int) -> HealthPane:
    """Switch to the Health pane and wait until ``probes`` probes have a snapshot on screen."""
    await pilot.press("f3")
    pane = pilot.app.query_one(HealthPane)
    await wait_for(pilot, lambda: len(pane.snapshots) >= probes, what=f"{probes} probe snapshots")
    await wait_for(pilot, lambda: pane.probes_table.row_count >= probes, what="probe rows")
    return pane


def row_text(pane: HealthPane, row: int) -> list[str]:
    return [cell.plain for cell in pane.probes_table.get_row_at(row)]


def component_rows(pane: HealthPane) -> dict[str, list[str]]:
    table = pane.components_table
    rows = [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]
    return {row[1]: row for row in rows}


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


async def test_pane_polls_nothing_until_first_shown(tmp_path, server):
    app = health_app(tmp_path, [server.url("healthy")])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        pane = app.query_one(HealthPane)
        assert pane.poller is None and server.count("healthy") == 0
        await open_pane(pilot, 4)
        assert server.count("healthy") == 4


async def test_all_up(tmp_path, server):
    url = server.url("healthy")
    app = health_app(tmp_path, [url])
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pane(pilot, 4)
        assert app.focused is pane.probes_table
        rows = [row_text(pane, i) for i in range(4)]
        assert [r[1] for r in rows] == ["dag_processing", "monitor", "execution", "version"]
        assert [r[0] for r in rows] == [url, "", "", ""]
        for row in rows:
            assert row[2] == "UP" and row[3] == "0s"
            assert row[4].endswith(" ms") and row[5].endswith(" ms") and row[6].endswith(" ms")
            assert row[7] == "▁" and row[8] == ""
        components = component_rows(pane)
        assert components["dag_processor"][2] == "healthy" and components["dag_processor"][3] == "1s"
        assert components["triggerer"][2] == "not running"
        assert components["scheduler"][4] == "30s"
        text = screen_text(app)
        assert "1 endpoint · every 60s · all answering · Airflow 3.4.0" in text


async def test_dag_processor_unhealthy_shows_degraded_stale_and_a_transition(tmp_path, server):
    app = health_app(tmp_path, [server.url("healthy")])
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pane(pilot, 4)
        assert not pane.transitions
        server.airflow.components["dag_processor"] = "unhealthy"
        server.airflow.heartbeat_age_s["dag_processor"] = 95.0
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(pane.transitions), what="a transition")
        await pilot.pause(0.2)
        monitor = row_text(pane, 1)
        assert monitor[1] == "monitor" and monitor[2] == "DEGRADED"
        assert "dag_processor" in monitor[8]
        dag = component_rows(pane)["dag_processor"]
        assert dag[2] == "unhealthy" and dag[3] == "1m35s STALE"
        table = pane.components_table
        cells = {table.get_row_at(i)[1].plain: table.get_row_at(i) for i in range(table.row_count)}
        assert cells["dag_processor"][3].style == pane.palette["down"] != pane.palette["up"]
        assert cells["scheduler"][3].style == pane.palette["up"]
        monitor_snapshot = next(s for s in pane.snapshots.values() if s.key.probe == "monitor")
        assert heartbeat_tone(monitor_snapshot.result.component("dag_processor")) == "down"
        text = screen_text(app)
        assert "monitor: up → degraded" in text
        assert "monitor dag_processor: healthy → unhealthy" in text
        assert "1 down, 0 degraded" not in text and "0 down, 1 degraded" in text


async def test_api_down_shows_every_probe_down_with_the_reason(tmp_path):
    url = refused_url()
    app = health_app(tmp_path, [url])
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pane(pilot, 4)
        for i in range(4):
            row = row_text(pane, i)
            assert row[2] == "DOWN" and row[4] == "-" and row[7] == ""
            assert "refused" in row[8].lower()
        assert pane.components_table.row_count == 0
        assert "4 down, 0 degraded" in screen_text(app)


async def test_poll_now_and_pause_resume(tmp_path, server):
    app = health_app(tmp_path, [server.url("healthy")])
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot, 4)
        before = server.count("healthy")
        await pilot.press("r")
        await wait_for(pilot, lambda: server.count("healthy") > before, what="a second round")
        await wait_for(pilot, lambda: all(s.polls >= 2 for s in pane.snapshots.values() if s.key.probe != "version"),
                       what="second snapshots")
        monitor = next(s for s in pane.snapshots.values() if s.key.probe == "monitor")
        assert len(monitor.latencies_s) == 2 and len(row_text(pane, 1)[7]) == 2
        await pilot.press("p")
        assert pane.poller.paused
        assert "PAUSED" in screen_text(app)
        await pilot.press("p")
        assert not pane.poller.paused
        assert "PAUSED" not in screen_text(app)


async def test_add_endpoint_refuses_a_bad_url_then_watches_a_good_one(tmp_path, server):
    app = health_app(tmp_path, [server.url("healthy")])
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pane(pilot, 4)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AddEndpointScreen), what="add prompt")
        await pilot.press(*"ftp://x", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AddEndpointScreen)
        assert "not an http(s) URL" in screen_text(app)
        field = app.screen.query_one("#health-add-url")
        field.value = server.url("airflow33")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(pane.snapshots) >= 8, what="second endpoint")
        await wait_for(pilot, lambda: pane.probes_table.row_count == 8, what="second endpoint rows")
        added = row_text(pane, 4)
        assert added[0] == server.url("airflow33") and added[1] == "dag_processing"
        assert added[2] == "ABSENT" and "not mounted" in added[8]


async def test_updates_are_coalesced_and_the_poller_stops_on_exit(tmp_path, server):
    urls = [server.url(mode) for mode in ("healthy", "airflow", "airflow33")]
    app = health_app(tmp_path, urls)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_pane(pilot, 12)
        assert pane.updates < 12
        poller = pane.poller
        assert poller.running
    assert not poller.running


async def test_remote_text_is_shown_inert(tmp_path, server):
    server.set_mode("evil", lambda p, h: Reply(500, b"\x1b]0;owned\x07\x1b[2Jboom", "text/plain"))
    app = health_app(tmp_path, [server.url("evil")])
    async with app.run_test(size=(160, 40)) as pilot:
        pane = await open_pane(pilot, 4)
        error = row_text(pane, 0)[8]
        assert "\x1b" not in error and "\x07" not in error
        assert "500" in error
        assert "\x1b" not in screen_text(app)


async def test_nothing_configured_says_how_to_add(tmp_path):
    app = health_app(tmp_path, [])
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert "Nothing to watch: press a to add an API server" in screen_text(app)


def test_sparkline_scales_between_window_min_and_max():
    assert sparkline([]) == ""
    assert sparkline([0.01, 0.01]) == "▁▁"
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert len(sparkline([float(i) for i in range(40)])) == 16


def test_heartbeat_tone_against_the_threshold():
    def comp(age, status="healthy"):
        return ComponentHealth("dag_processor", status, None, age, 30.0)

    assert heartbeat_tone(comp(5)) == "up"
    assert heartbeat_tone(comp(20)) == "degraded"
    assert heartbeat_tone(comp(31)) == "down"
    assert heartbeat_tone(comp(1, "unhealthy")) == "down"
    assert heartbeat_tone(ComponentHealth("triggerer", None, None, None, 30.0)) == "absent"


def test_aliases_replace_text_and_make_it_inert():
    options = HealthViewOptions(aliases={"http://127.0.0.1:1234/x": "api-a", "127.0.0.1:1234": "api-host"})
    assert options.show("GET http://127.0.0.1:1234/x/health\x1b[2J\nfailed") == "GET api-a/health␛[2J⏎failed"
    assert options.show("connect to 127.0.0.1:1234 refused") == "connect to api-host refused"
