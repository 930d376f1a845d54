"""Transitions: state flips, component status, heartbeat threshold crossings, versions, restarts."""

from __future__ import annotations

from datetime import datetime, timezone

from console.health.results import ComponentHealth, ProbeKey, ProbeResult, Reason, State
from console.health.transitions import TransitionKind, TransitionLog

MON = ProbeKey("http://af:8080", "monitor")


def comp(name: str, status: str | None, age: float | None = 1.0, threshold: float | None = 30.0) -> ComponentHealth:
    beat = datetime(2026, 1, 1, tzinfo=timezone.utc) if age is not None else None
    return ComponentHealth(name, status, beat, age, threshold)


def monitor(at: float, *components: ComponentHealth, state: State = State.UP) -> ProbeResult:
    return ProbeResult(MON, state, Reason.OK, "", at, 0.01, 200, tuple(components))


def test_first_observation_is_not_a_transition():
    log = TransitionLog()
    assert log.observe(monitor(1.0, comp("dag_processor", "healthy"))) == []
    assert len(log) == 0


def test_state_change_is_recorded_with_time_and_detail():
    log = TransitionLog()
    log.observe(monitor(1.0))
    down = ProbeResult(MON, State.DOWN, Reason.REFUSED, "connection refused (nothing listening)", 2.0)
    [t] = log.observe(down)
    assert (t.kind, t.before, t.after, t.at) == (TransitionKind.STATE, "up", "down", 2.0)
    assert t.describe() == "monitor: up → down (connection refused (nothing listening))"


def test_component_turning_unhealthy():
    log = TransitionLog()
    log.observe(monitor(1.0, comp("dag_processor", "healthy", 2.0)))
    found = log.observe(monitor(2.0, comp("dag_processor", "unhealthy", 40.0), state=State.DEGRADED))
    kinds = {(t.kind, t.subject, t.before, t.after) for t in found}
    assert (TransitionKind.STATE, "monitor", "up", "degraded") in kinds
    assert (TransitionKind.COMPONENT, "dag_processor", "healthy", "unhealthy") in kinds


def test_heartbeat_crossing_the_threshold_while_still_reported_healthy():
    log = TransitionLog()
    log.observe(monitor(1.0, comp("scheduler", "healthy", 5.0, 8.0)))
    [t] = log.observe(monitor(2.0, comp("scheduler", "healthy", 9.0, 8.0)))
    assert (t.kind, t.before, t.after) == (TransitionKind.HEARTBEAT, "fresh", "stale")
    assert "heartbeat 9 s old, threshold 8 s" in t.detail
    [back] = log.observe(monitor(3.0, comp("scheduler", "healthy", 1.0, 8.0)))
    assert (back.before, back.after) == ("stale", "fresh")


def test_component_change_during_an_outage_is_still_reported():
    log = TransitionLog()
    log.observe(monitor(1.0, comp("dag_processor", "healthy")))
    log.observe(ProbeResult(MON, State.DOWN, Reason.TIMEOUT, "no response", 2.0))
    found = log.observe(monitor(3.0, comp("dag_processor", None, None), state=State.UP))
    assert any(t.kind is TransitionKind.COMPONENT and t.after == "not running" for t in found)


def test_version_and_api_version_changes():
    log = TransitionLog()
    ver = ProbeKey("http://af:8080", "version")
    log.observe(ProbeResult(ver, State.UP, Reason.OK, "", 1.0, version="3.3.2"))
    [t] = log.observe(ProbeResult(ver, State.UP, Reason.OK, "", 2.0, version="3.4.0"))
    assert (t.kind, t.before, t.after) == (TransitionKind.VERSION, "3.3.2", "3.4.0")
    exe = ProbeKey("http://af:8080", "execution")
    log.observe(ProbeResult(exe, State.UP, Reason.OK, "", 1.0, api_version="2026-04-01"))
    [t2] = log.observe(ProbeResult(exe, State.UP, Reason.OK, "", 2.0, api_version="2026-06-30"))
    assert t2.subject == "api_version"


def test_remsvc_restart_is_detected_from_uptime():
    log = TransitionLog()
    key = ProbeKey("remsvc_default", "remsvc")
    log.observe(ProbeResult(key, State.UP, Reason.OK, "", 1.0, uptime_s=500.0, commands=10))
    [t] = log.observe(ProbeResult(key, State.UP, Reason.OK, "", 2.0, uptime_s=3.0, commands=0))
    assert t.kind is TransitionKind.RESTART


def test_log_is_bounded():
    log = TransitionLog(size=10)
    for i in range(100):
        state = State.UP if i % 2 else State.DOWN
        log.observe(ProbeResult(MON, state, Reason.OK, "", float(i)))
    assert len(log) == 10
    assert log.entries()[-1].at == 99.0
