"""The JSON document, the exit status and the plain-text table, from real histories."""

from __future__ import annotations

from datetime import datetime, timezone

from console.health.history import ProbeHistory
from console.health.report import EXIT_ABSENT_ONLY, EXIT_NOT_UP, EXIT_UP, exit_status, render_table, to_json
from console.health.results import ComponentHealth, ProbeKey, ProbeResult, Reason, State
from console.health.transitions import TransitionLog
from console.safetext import is_inert

URL = "http://af:8080"
NOW = 1_800_000_000.0


def snap(probe: str, state: State = State.UP, reason: Reason = Reason.OK, *results_before: ProbeResult,
         endpoint: str = URL, **fields):
    key = ProbeKey(endpoint, probe)
    history = ProbeHistory(key)
    for r in results_before:
        history.add(r)
    history.add(ProbeResult(key, state, reason, fields.pop("detail", "fine"), NOW, fields.pop("latency", 0.004),
                            **fields))
    return history.snapshot(5.0)


def dag_component(status: str | None, age: float | None = 2.0) -> ComponentHealth:
    beat = datetime.fromtimestamp(NOW - age, timezone.utc) if age is not None else None
    return ComponentHealth("dag_processor", status, beat, age, 30.0)


def test_json_shape_groups_probes_by_endpoint_and_lists_remsvc():
    snaps = [
        snap("dag_processing", State.ABSENT, Reason.NOT_MOUNTED, http_status=200),
        snap("monitor", components=(dag_component("healthy"),), http_status=200),
        snap("execution", api_version="2026-06-30"),
        snap("version", version="3.3.2", git_version=".release:x"),
        snap("remsvc", endpoint="remsvc_default", uptime_s=12.0, commands=4),
    ]
    doc = to_json(snaps)
    [endpoint] = doc["endpoints"]
    assert endpoint["url"] == URL
    probes = endpoint["probes"]
    assert probes["dag_processing"] == {"state": "absent", "reason": "not_mounted", "http_status": 200,
                                        "latency_ms": 4.0, "detail": "fine"}
    assert probes["monitor"]["components"]["dag_processor"] == {
        "status": "healthy", "state": "up", "heartbeat": datetime.fromtimestamp(NOW - 2.0, timezone.utc).isoformat(),
        "heartbeat_age_s": 2.0, "threshold_s": 30.0, "stale": False}
    assert probes["execution"]["api_version"] == "2026-06-30"
    assert probes["version"]["version"] == "3.3.2"
    assert doc["remsvc"] == [{"conn_id": "remsvc_default", "state": "up", "reason": "ok", "latency_ms": 4.0,
                              "uptime_s": 12.0, "commands": 4, "commands_per_s": None, "detail": "fine"}]


def test_percentiles_appear_once_there_is_a_history():
    key = ProbeKey(URL, "monitor")
    earlier = ProbeResult(key, State.UP, Reason.OK, "", NOW - 5, 0.010)
    doc = to_json([snap("monitor", State.UP, Reason.OK, earlier, latency=0.020)])
    monitor = doc["endpoints"][0]["probes"]["monitor"]
    assert (monitor["p50_ms"], monitor["p95_ms"]) == (10.0, 20.0)


def test_exit_status():
    up = snap("monitor")
    absent = snap("dag_processing", State.ABSENT, Reason.NOT_MOUNTED)
    degraded = snap("monitor", State.DEGRADED, Reason.UNHEALTHY)
    down = snap("execution", State.DOWN, Reason.REFUSED)
    assert exit_status([up]) == EXIT_UP
    assert exit_status([up, absent]) == EXIT_ABSENT_ONLY
    assert exit_status([up, absent], allow_absent=True) == EXIT_UP
    assert exit_status([up, degraded]) == EXIT_NOT_UP
    assert exit_status([absent, down], allow_absent=True) == EXIT_NOT_UP
    assert exit_status([]) == EXIT_NOT_UP


def test_table_rows_components_last_error_and_transitions():
    key = ProbeKey(URL, "monitor")
    failed = ProbeResult(key, State.DOWN, Reason.REFUSED, "connection refused (nothing listening)", NOW - 65)
    log = TransitionLog()
    log.observe(failed)
    up = ProbeResult(key, State.UP, Reason.OK, "all healthy", NOW - 30, 0.003, components=(dag_component("healthy"),))
    log.observe(up)
    history = ProbeHistory(key)
    history.add(failed)
    history.add(up)
    rows = render_table([history.snapshot(5.0), snap("remsvc", endpoint="edge-01", uptime_s=60.0, commands=3)],
                        log.entries(), now=NOW, width=100)
    text = "\n".join(rows)
    assert rows[2] == URL
    assert any(r.startswith("monitor          UP           3.0") and r.rstrip().endswith("all healthy") for r in rows)
    assert "dag_processor healthy (hb 2s/30s)" in text
    assert "last error 1m05s ago: connection refused (nothing listening)" in text
    assert "RemSvc servers" in text and "edge-01" in text
    assert "monitor: down → up (all healthy)" in text
    assert all(len(r) <= 100 for r in rows)


def test_table_makes_remote_text_inert_and_cuts_it_to_width():
    hostile = "\x1b]0;owned\x07\x1b[2J" + "x" * 500
    rows = render_table([snap("monitor", State.DOWN, Reason.SERVER_ERROR, detail=hostile)], now=NOW, width=80)
    assert all(is_inert(r) and len(r) <= 80 for r in rows)
    assert any(r.endswith("…") for r in rows)
