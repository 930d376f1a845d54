"""Ring-buffer history: bounded memory, percentiles, time in state, last error, command rate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.health.history import ProbeHistory, percentile
from console.health.results import ProbeKey, ProbeResult, Reason, State

KEY = ProbeKey("http://af:8080", "monitor")


def result(at: float, state: State = State.UP, latency: float | None = 0.01, **kw) -> ProbeResult:
    reason = Reason.OK if state is State.UP else Reason.REFUSED
    return ProbeResult(KEY, state, reason, f"{state.value} at {at}", at, latency, **kw)


def test_window_is_bounded_however_long_it_runs():
    history = ProbeHistory(KEY, size=50)
    for i in range(10_000):
        history.add(result(float(i), latency=i / 1000))
    assert len(history) == 50
    assert history.latencies() == [i / 1000 for i in range(9950, 10_000)]
    assert history.polls == 10_000


def test_percentiles_over_the_window():
    history = ProbeHistory(KEY, size=100)
    for i in range(1, 101):
        history.add(result(float(i), latency=i / 1000))
    snap = history.snapshot()
    assert snap.p50_s == pytest.approx(0.050)
    assert snap.p95_s == pytest.approx(0.095)
    assert snap.latency_s == pytest.approx(0.100)
    assert len(snap.latencies_s) == 100


def test_failed_polls_have_no_latency_and_do_not_skew_percentiles():
    history = ProbeHistory(KEY)
    history.add(result(1.0, latency=0.010))
    history.add(result(2.0, State.DOWN, latency=None))
    history.add(result(3.0, latency=0.030))
    assert history.latencies() == [0.010, 0.030]


def test_time_in_state_survives_the_window_and_last_error_is_kept():
    history = ProbeHistory(KEY, size=3)
    history.add(result(10.0, State.DOWN, None))
    for t in range(11, 30):
        history.add(result(float(t)))
    snap = history.snapshot()
    assert snap.since == 11.0
    assert snap.time_in_state(40.0) == 29.0
    assert snap.last_error is not None and snap.last_error.at == 10.0
    assert snap.consecutive_failures == 0


def test_consecutive_failures_count_only_down_results():
    history = ProbeHistory(KEY)
    for t in range(3):
        history.add(result(float(t), State.DOWN, None))
    assert history.consecutive_failures == 3
    history.add(result(4.0, State.DEGRADED))
    assert history.consecutive_failures == 0


def test_command_rate_since_the_last_restart():
    history = ProbeHistory(KEY)
    history.add(result(0.0, commands=500))
    history.add(result(10.0, commands=5))  # restarted: counter went back
    history.add(result(20.0, commands=105))
    history.add(result(30.0, commands=205))
    assert history.command_rate() == pytest.approx(10.0)


def test_command_rate_needs_two_samples():
    history = ProbeHistory(KEY)
    history.add(result(0.0, commands=7))
    assert history.command_rate() is None


def test_snapshot_before_any_result_is_an_error():
    with pytest.raises(LookupError):
        ProbeHistory(KEY).snapshot()


@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), min_size=1, max_size=200),
       st.floats(min_value=0, max_value=100))
def test_percentile_is_one_of_the_values_and_monotonic(values, q):
    p = percentile(values, q)
    assert p in values
    assert percentile(values, 0) <= p <= percentile(values, 100) == max(values)
