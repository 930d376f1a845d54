"""What an operator sees through an outage: facts read once go down with the endpoint, the back-off
never hides a recovery for more than two intervals, a cleanly stopped job is named as such."""

from __future__ import annotations

import random

import pytest

from console.health.http_probes import AirflowEndpoint, interpret_monitor, normalize_base_url
from console.health.poller import HealthPoller, next_delay
from console.health.results import ComponentHealth, ProbeKey, State
from tests.health.test_poller import FAST, collect, polls_of
from tests.helpers.http_fault_server import Reply


async def test_version_goes_down_with_its_endpoint_and_comes_back(fault_server):
    broken = {"on": False}
    healthy = fault_server._airflow
    fault_server.set_mode("flaky", lambda p, h: Reply(503, b"gone") if broken["on"] else healthy(p, h))
    endpoint = AirflowEndpoint(fault_server.url("flaky"), settings=FAST)
    poller = HealthPoller(endpoint.probes(("execution", "version")), interval=0.02, jitter=0.0)
    version = ProbeKey(endpoint.base_url, "version")
    async with poller:
        events = await collect(poller, lambda ev: len(polls_of(ev, version)) >= 1)
        broken["on"] = True
        events += await collect(poller, lambda ev: any(e.snapshot.state is State.DOWN for e in polls_of(ev, version)))
        broken["on"] = False
        events += await collect(poller, lambda ev: any(e.snapshot.state is State.UP for e in polls_of(ev, version)))
    states = [e.snapshot.state for e in polls_of(events, version)]
    assert states[0] is State.UP and State.DOWN in states and states[-1] is State.UP


def test_back_off_never_exceeds_two_intervals_by_default():
    poller = HealthPoller(interval=5.0, jitter=0.1)
    assert poller.max_backoff == 10.0
    rng = random.Random(3)
    delays = [next_delay(5.0, n, max_backoff=poller.max_backoff, jitter=0.1, rng=rng) for n in range(12) for _ in range(20)]
    assert max(delays) <= 10.0 and max(delays) > 9.0


async def test_recovery_shows_within_two_intervals_after_a_long_outage(fault_server):
    broken = {"on": True}
    fault_server.set_mode("flaky", lambda p, h: Reply(500, b"x") if broken["on"] else fault_server._airflow(p, h))
    endpoint = AirflowEndpoint(fault_server.url("flaky"), settings=FAST)
    poller = HealthPoller(endpoint.probes(("execution",)), interval=0.05, jitter=0.0)
    async with poller:
        events = await collect(poller, lambda ev: len(ev) >= 8)
        broken["on"] = False
        events += await collect(poller, lambda ev: ev[-1].snapshot.state is State.UP)
    assert max(e.snapshot.next_poll_in_s for e in events) == pytest.approx(0.1)


def test_cleanly_stopped_job_is_named_not_a_heartbeat_age():
    doc = {"metadatabase": {"status": "healthy"},
           "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": "2024-05-01T11:59:55+00:00"}}
    at = 1_714_564_800.0  # 12:00:00 UTC, 5 s after the last heartbeat
    result = interpret_monitor(ProbeKey("http://a", "monitor"), doc, at=at, thresholds={"scheduler": 30.0},
                               latency_s=0.01, http_status=200)
    assert result.state is State.DEGRADED
    assert "job is no longer running" in result.detail and "threshold" not in result.detail
    stale = ComponentHealth("scheduler", "unhealthy", None, 45.0, 30.0)
    assert not stale.stopped and stale.stale


@pytest.mark.parametrize("raw", ["not a url", "http://not a url", "http://a b:80"])
def test_text_with_spaces_is_not_a_url(raw):
    with pytest.raises(ValueError, match="not an http"):
        normalize_base_url(raw)
