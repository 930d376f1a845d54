"""The Health pane driven with Pilot against real local HTTP servers (``tests.helpers.http_fault_server``).

Polling runs at a long interval without jitter, so the only polls are the first round and the ones
the tests ask for (``r``); everything asserted is what the servers really answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style

from console.health.history import ProbeHistory
from console.health.results import ComponentHealth, ProbeKey, ProbeResult, Reason, State
from console.settings import Settings
from console.ui.app import ConsoleApp
from console.ui.context import ConsoleContext
from console.ui.panes.health import HealthPane
from console.ui.widgets.health_add import AddEndpointScreen
from console.ui.widgets.health_text import HealthViewOptions, heartbeat_tone, probe_cells, sparkline
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


def cells_of(table, row: int) -> dict[str, str]:
    """One row of a table as {column label: text shown}, padding stripped."""
    labels = [str(c.label) for c in table.columns.values()]
    return {label: cell.plain.strip() for label, cell in zip(labels, table.get_row_at(row))}


def row_text(pane: HealthPane, row: int) -> dict[str, str]:
    return cells_of(pane.probes_table, row)


def component_rows(pane: HealthPane) -> dict[str, dict[str, str]]:
    table = pane.components_table
    rows = [cells_of(table, i) for i in range(table.row_count)]
    return {row["Component"]: row for row in rows}


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
        assert [r["Probe"] for r in rows] == ["dag_processing", "monitor", "execution", "version"]
        assert url.startswith(rows[0]["Endpoint"].rstrip("…")) and [r["Endpoint"] for r in rows[1:]] == ["", "", ""]
        assert f"{url} dag_processing: UP · healthy" in screen_text(app)  # the selected row in full
        for row in rows:
            assert row["State"] == "UP" and row["For"] == "0s"
            assert row["Latency"].endswith(" ms")
            assert row["Trend"] == "▁" and row["Reason"] == ""
        components = component_rows(pane)
        assert components["dag_processor"]["Status"] == "healthy" and components["dag_processor"]["Heartbeat"] == "1s"
        assert components["triggerer"]["Status"] == "not running"
        assert components["scheduler"]["Threshold"] == "30s"
        text = screen_text(app)
        assert "1 endpoint: all up · every 60s · Airflow 3.4.0" in text


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
        assert monitor["Probe"] == "monitor" and monitor["State"] == "DEGRADED"
        assert "dag_processor" in monitor["Reason"]
        dag = component_rows(pane)["dag_processor"]
        assert dag["Status"] == "unhealthy" and dag["Heartbeat"] == "1m35s STALE"
        table = pane.components_table
        cells = {table.get_row_at(i)[1].plain.strip(): table.get_row_at(i) for i in range(table.row_count)}
        assert cells["dag_processor"][3].style == pane.palette["down"] != pane.palette["up"]
        assert cells["scheduler"][3].style == pane.palette["up"]
        monitor_snapshot = next(s for s in pane.snapshots.values() if s.key.probe == "monitor")
        assert heartbeat_tone(monitor_snapshot.result.component("dag_processor")) == "down"
        text = screen_text(app)
        assert "monitor: up → degraded" in text
        assert "monitor dag_processor: healthy → unhealthy" in text
        assert "1 endpoint: 1 degraded · 1 of 4 probes not up" in text


async def test_api_down_shows_every_probe_down_with_the_reason(tmp_path):
    url = refused_url()
    app = health_app(tmp_path, [url])
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pane(pilot, 4)
        for i in range(4):
            row = row_text(pane, i)
            assert row["State"] == "DOWN" and row["Latency"] == "-" and row["Trend"] == ""
            assert "refused" in row["Reason"].lower()
        assert pane.components_table.row_count == 0
        assert "1 endpoint: 1 down · 4 of 4 probes not up" in screen_text(app)


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
        assert len(monitor.latencies_s) == 2 and len(row_text(pane, 1)["Trend"]) == 2
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
        field.value = "not a url"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AddEndpointScreen) and "not an http(s) URL: not a url" in screen_text(app)
        field = app.screen.query_one("#health-add-url")
        field.value = server.url("airflow33")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(pane.snapshots) >= 8, what="second endpoint")
        await wait_for(pilot, lambda: pane.probes_table.row_count == 8, what="second endpoint rows")
        added = row_text(pane, 4)
        assert server.url("airflow33").startswith(added["Endpoint"].rstrip("…")) and added["Probe"] == "dag_processing"
        assert added["State"] == "ABSENT" and "not mounted" in added["Reason"]


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
        error = row_text(pane, 0)["Reason"]
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


def test_a_value_not_refreshed_for_two_intervals_is_grey_and_says_how_old():
    history = ProbeHistory(ProbeKey("http://a", "version"))
    history.add(ProbeResult(history.key, State.UP, Reason.OK, "Airflow 3.3.2", at=1000.0, latency_s=0.01))
    options = HealthViewOptions(interval=5.0)
    palette = {"up": Style(color="green"), "muted": Style(dim=True), "down": Style(color="red")}
    fresh = probe_cells(history.snapshot(), 1009.0, options, palette)
    assert fresh["State"].style == palette["up"] and fresh["Reason"].plain == ""
    old = probe_cells(history.snapshot(), 1150.0, options, palette)
    assert old["State"].plain == "UP" and old["State"].style == palette["muted"]
    assert old["Reason"].plain == "not polled for 2m30s"


async def test_header_counts_endpoints_not_probes(tmp_path, server):
    app = health_app(tmp_path, [server.url("healthy"), refused_url()])
    async with app.run_test(size=(120, 40)) as pilot:
        await open_pane(pilot, 8)
        assert "2 endpoints: 1 down · 4 of 8 probes not up" in screen_text(app)
