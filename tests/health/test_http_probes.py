"""Fault injection against a real local HTTP server: every fault yields its documented state and reason."""

from __future__ import annotations

import pytest

from console.health.http_probes import AirflowEndpoint, HttpSettings, normalize_base_url
from console.health.results import ProbeKey, Reason, State
from console.safetext import is_inert
from tests.helpers.http_fault_server import Reply, json_reply, refused_url

FAST = HttpSettings(connect_timeout=1.0, read_timeout=0.5)


async def check(url: str, probe: str, settings: HttpSettings = FAST, **kwargs):
    endpoint = AirflowEndpoint(url, settings=settings, **kwargs)
    try:
        return await endpoint.check(ProbeKey(endpoint.base_url, probe))
    finally:
        await endpoint.aclose()


async def test_mounted_dag_processing_app_is_up(fault_server):
    result = await check(fault_server.url("healthy"), "dag_processing")
    assert (result.state, result.reason, result.http_status) == (State.UP, Reason.OK, 200)
    assert result.latency_s is not None and result.latency_s > 0


async def test_html_200_means_not_mounted_not_healthy(fault_server):
    fault_server.airflow.mounted = False
    result = await check(fault_server.url("airflow"), "dag_processing")
    assert result.state is State.ABSENT
    assert result.reason is Reason.NOT_MOUNTED
    assert result.http_status == 200
    assert "not mounted" in result.detail and "HTML" in result.detail


@pytest.mark.parametrize("probe", ["dag_processing", "monitor", "execution", "version"])
async def test_500_is_down_with_the_server_error_in_words(fault_server, probe):
    result = await check(fault_server.url("error500"), probe)
    assert (result.state, result.reason, result.http_status) == (State.DOWN, Reason.SERVER_ERROR, 500)
    assert result.detail.startswith("500 Internal Server Error")
    assert "database is locked" in result.detail


async def test_invalid_json_is_down(fault_server):
    result = await check(fault_server.url("invalid_json"), "monitor")
    assert (result.state, result.reason) == (State.DOWN, Reason.INVALID_JSON)
    assert "not JSON" in result.detail


async def test_announced_50_mb_body_is_refused_before_reading(fault_server):
    result = await check(fault_server.url("huge"), "dag_processing")
    assert (result.state, result.reason) == (State.DOWN, Reason.BODY_TOO_LARGE)
    assert "52,428,812 bytes announced" in result.detail


async def test_unannounced_50_mb_body_is_cut_at_the_cap(fault_server):
    small_cap = HttpSettings(connect_timeout=1.0, read_timeout=2.0, body_cap=64 * 1024)
    result = await check(fault_server.url("huge_unannounced"), "monitor", small_cap)
    assert (result.state, result.reason) == (State.DOWN, Reason.BODY_TOO_LARGE)
    assert "65,536-byte cap" in result.detail


async def test_server_that_accepts_and_never_answers_times_out(hang_server):
    result = await check(hang_server.url, "monitor")
    assert (result.state, result.reason) == (State.DOWN, Reason.TIMEOUT)
    assert "no response within 0.5 s" in result.detail
    assert hang_server.accepted == 1


async def test_connection_refused():
    result = await check(refused_url(), "execution")
    assert (result.state, result.reason) == (State.DOWN, Reason.REFUSED)
    assert result.detail == "connection refused (nothing listening)"
    assert result.latency_s is None


async def test_tls_with_the_right_ca_is_up(tls_server, tls_material):
    settings = HttpSettings(connect_timeout=2.0, read_timeout=2.0, ca_cert=str(tls_material.ca_cert))
    result = await check(tls_server.url("healthy"), "execution", settings)
    assert result.state is State.UP
    assert result.api_version == "2026-06-30"


async def test_tls_with_a_wrong_ca_is_a_tls_error(tls_server, tls_material):
    settings = HttpSettings(connect_timeout=2.0, read_timeout=2.0, ca_cert=str(tls_material.other_ca_cert))
    result = await check(tls_server.url("healthy"), "dag_processing", settings)
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_ERROR)
    assert "certificate not trusted" in result.detail


async def test_https_to_a_plain_http_server_says_it_does_not_speak_tls(fault_server):
    url = fault_server.url("healthy").replace("http://", "https://")
    result = await check(url, "dag_processing")
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_ERROR)


async def test_404_is_its_own_state(fault_server):
    result = await check(fault_server.url("notfound"), "dag_processing")
    assert (result.state, result.reason, result.http_status) == (State.DOWN, Reason.NOT_FOUND, 404)


async def test_status_other_than_healthy_is_down(fault_server):
    result = await check(fault_server.url("unhealthy"), "dag_processing")
    assert (result.state, result.reason) == (State.DOWN, Reason.UNHEALTHY)
    assert "'unhealthy'" in result.detail


async def test_redirect_is_reported_not_followed(fault_server):
    result = await check(fault_server.url("redirect"), "monitor")
    assert (result.state, result.http_status) == (State.DOWN, 302)
    assert "redirected to https://elsewhere.example/" in result.detail


async def test_monitor_reports_components_and_heartbeat_ages(fault_server):
    fault_server.airflow.heartbeat_age_s = {"scheduler": 2.0, "dag_processor": 4.0}
    result = await check(fault_server.url("healthy"), "monitor", thresholds={"dag_processor": 30.0})
    assert (result.state, result.reason) == (State.UP, Reason.OK)
    names = [c.name for c in result.components]
    assert names == ["metadatabase", "scheduler", "triggerer", "dag_processor"]
    dag = result.component("dag_processor")
    assert dag.status == "healthy" and dag.state is State.UP
    assert 3.5 < dag.heartbeat_age_s < 60 and not dag.stale
    assert result.component("triggerer").state is State.ABSENT
    assert result.component("metadatabase").threshold_s is None
    assert "triggerer not running" in result.detail


async def test_monitor_200_with_unhealthy_component_is_degraded(fault_server):
    fault_server.airflow.components["dag_processor"] = "unhealthy"
    fault_server.airflow.heartbeat_age_s = {"dag_processor": 45.0}
    result = await check(fault_server.url("healthy"), "monitor", thresholds={"dag_processor": 30.0})
    assert result.http_status == 200
    assert (result.state, result.reason) == (State.DEGRADED, Reason.UNHEALTHY)
    assert "dag_processor unhealthy (heartbeat 45 s old, threshold 30 s)" == result.detail
    assert result.component("dag_processor").stale


async def test_monitor_metadatabase_unhealthy_is_degraded(fault_server):
    fault_server.airflow.metadatabase = "unhealthy"
    result = await check(fault_server.url("healthy"), "monitor")
    assert result.state is State.DEGRADED
    assert "metadatabase unhealthy" in result.detail


async def test_monitor_json_of_another_shape_is_unexpected(fault_server):
    fault_server.set_mode("other", lambda path, headers: json_reply({"status": "ok"}))
    result = await check(fault_server.url("other"), "monitor")
    assert (result.state, result.reason) == (State.DOWN, Reason.UNEXPECTED_BODY)


async def test_execution_reports_the_api_version_header(fault_server):
    result = await check(fault_server.url("healthy"), "execution")
    assert result.state is State.UP
    assert result.api_version == "2026-06-30"
    assert "2026-06-30" in result.detail


async def test_version_probe_reads_version_and_git_version(fault_server):
    result = await check(fault_server.url("healthy"), "version")
    assert (result.state, result.version, result.git_version) == (State.UP, "3.4.0", ".release:abc123")


async def test_bearer_token_is_sent_and_never_reported(fault_server):
    token = fault_server.token
    ok = await check(fault_server.url("auth"), "monitor", token=lambda: token)
    assert ok.state is State.UP
    assert fault_server.requests[-1][1]["authorization"] == f"Bearer {token}"
    echoed = await check(fault_server.url("echo_auth"), "monitor", token=lambda: token)
    assert echoed.state is State.DOWN
    assert token not in echoed.detail and "***" in echoed.detail


async def test_missing_token_is_unauthorized_with_a_hint(fault_server):
    result = await check(fault_server.url("auth"), "monitor")
    assert (result.state, result.reason, result.http_status) == (State.DOWN, Reason.UNAUTHORIZED, 401)
    assert "--token-file" in result.detail


async def test_remote_text_with_escape_sequences_is_rendered_inert(fault_server):
    fault_server.set_mode("evil", lambda p, h: Reply(500, b"\x1b]0;pwned\x07\x1b[2J boom", "text/plain"))
    fault_server.set_mode("evil_status", lambda p, h: json_reply({"status": "\x1b[31mred\x1b[0m"}))
    fault_server.set_mode("evil_version", lambda p, h: json_reply({"version": "3\x1b[2J"}))
    for mode, probe in (("evil", "monitor"), ("evil_status", "execution"), ("evil_version", "version")):
        result = await check(fault_server.url(mode), probe)
        assert is_inert(result.detail), result.detail
        assert result.version is None or is_inert(result.version)


async def test_one_pooled_connection_serves_repeated_polls(fault_server):
    endpoint = AirflowEndpoint(fault_server.url("healthy"), settings=FAST)
    try:
        for _ in range(5):
            assert (await endpoint.check(ProbeKey(endpoint.base_url, "monitor"))).state is State.UP
    finally:
        await endpoint.aclose()
    assert len(fault_server.requests) == 5
    assert fault_server.connections == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("127.0.0.1:8080", "http://127.0.0.1:8080"), ("https://af.example/base/", "https://af.example/base")],
)
def test_normalize_base_url(raw, expected):
    assert normalize_base_url(raw) == expected


@pytest.mark.parametrize("raw", ["", "ftp://host/x", "http://"])
def test_normalize_base_url_rejects_unusable_urls(raw):
    with pytest.raises(ValueError):
        normalize_base_url(raw)
