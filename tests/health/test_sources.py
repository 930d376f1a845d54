"""Where URLs, thresholds and the token come from: command line, config file, Airflow configuration."""

from __future__ import annotations

import os

import pytest

from console.health.sources import (
    HealthConfig,
    HealthConfigError,
    TokenFile,
    heartbeat_thresholds,
    load_health_config,
    resolve_api_urls,
    resolve_targets,
)


@pytest.fixture
def airflow_home(tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    return home


def env_for(home, **extra) -> dict[str, str]:
    return {"AIRFLOW_HOME": str(home), "HOME": str(home.parent), **extra}


def test_command_line_wins_and_duplicates_collapse(airflow_home):
    env = env_for(airflow_home, AIRFLOW__API__BASE_URL="http://from-airflow:8080")
    cli = ["http://a:8080/", "a:8080", "https://b:8443"]
    urls = resolve_api_urls(cli, HealthConfig(api_urls=("http://c",)), env=env)
    assert [(u.url, u.source) for u in urls] == [("http://a:8080", "command line"), ("https://b:8443", "command line")]


def test_config_file_urls_come_before_airflow_config(airflow_home, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("theme: dark\nhealth:\n  api_urls: [http://c:8080, http://d:8080]\n  interval: 2\n")
    loaded = load_health_config(config)
    urls = resolve_api_urls([], loaded, env=env_for(airflow_home, AIRFLOW__API__BASE_URL="http://x"))
    assert [u.url for u in urls] == ["http://c:8080", "http://d:8080"]
    assert urls[0].source == f"config {config}"
    assert loaded.interval == 2.0


def test_dag_processing_api_server_url_from_airflow_cfg_is_preferred_and_its_mount_stripped(airflow_home):
    (airflow_home / "airflow.cfg").write_text(
        "[core]\ndag_processing_api_server_url = http://api-server:8080/dag-processing\n"
        "[api]\nbase_url = http://other:8080\n")
    [url] = resolve_api_urls([], env=env_for(airflow_home))
    assert url.url == "http://api-server:8080"
    assert url.source == "Airflow config [core] dag_processing_api_server_url"


def test_env_var_overrides_airflow_cfg(airflow_home):
    (airflow_home / "airflow.cfg").write_text("[api]\nbase_url = http://from-file:8080\n")
    [url] = resolve_api_urls([], env=env_for(airflow_home, AIRFLOW__API__BASE_URL="https://from-env/airflow/"))
    assert url.url == "https://from-env/airflow"


def test_execution_api_server_url_then_api_port_as_fallbacks(airflow_home):
    env = env_for(airflow_home, AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://exec:9090/execution/")
    assert resolve_api_urls([], env=env)[0].url == "http://exec:9090"
    (airflow_home / "airflow.cfg").write_text("[api]\nhost = 0.0.0.0\nport = 8793\n")
    [url] = resolve_api_urls([], env=env_for(airflow_home))
    assert (url.url, url.source) == ("http://127.0.0.1:8793", "Airflow config [api] host/port")


def test_no_source_means_no_urls(airflow_home):
    assert resolve_api_urls([], env=env_for(airflow_home)) == []


def test_bad_url_is_a_one_line_error():
    with pytest.raises(HealthConfigError, match="command line: not an http"):
        resolve_api_urls(["ftp://x/y"])


def test_thresholds_follow_airflow_config_and_an_override_wins(airflow_home):
    (airflow_home / "airflow.cfg").write_text("[scheduler]\nscheduler_health_check_threshold = 45\n")
    env = env_for(airflow_home, AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD="8")
    assert heartbeat_thresholds(env=env) == {"scheduler": 45.0, "triggerer": 30.0, "dag_processor": 8.0}
    assert set(heartbeat_thresholds(12.0, env=env).values()) == {12.0}
    with pytest.raises(HealthConfigError, match="health_check_threshold"):
        heartbeat_thresholds(env=env_for(airflow_home, AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD="soon"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("health:\n  api_url: http://x\n", "health.api_url: unknown key"),
        ("health:\n  interval: -1\n", "health.interval: must be a positive"),
        ("health:\n  api_urls: 5\n", "expected a list of strings"),
        ("health: [1, 2]\n", "health: expected a mapping"),
        ("health:\n  api_urls: [http://x\n", "line"),
    ],
)
def test_config_file_errors_name_file_and_key(tmp_path, text, message):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(HealthConfigError, match=message) as info:
        load_health_config(config)
    assert str(config) in str(info.value) and "\n" not in str(info.value)


def test_missing_default_config_is_empty_but_a_named_one_must_exist(tmp_path):
    assert load_health_config(env={"XDG_CONFIG_HOME": str(tmp_path)}) == HealthConfig()
    with pytest.raises(HealthConfigError, match="not found"):
        load_health_config(tmp_path / "nope.yaml")


def test_token_file_is_reread_when_it_changes(tmp_path):
    path = tmp_path / "token"
    path.write_text("first-token\n")
    token = TokenFile(path)
    assert token() == "first-token"
    path.write_text("second-token-longer\n")
    assert token() == "second-token-longer"
    replacement = tmp_path / "token.new"
    replacement.write_text("third-token-via-rename")
    os.replace(replacement, path)
    assert token() == "third-token-via-rename"
    assert "third" not in repr(token)


def test_token_file_keeps_the_last_good_token_when_the_rotation_breaks(tmp_path):
    path = tmp_path / "token"
    path.write_text("good-token")
    token = TokenFile(path)
    token.check()
    path.unlink()
    assert token() == "good-token"
    assert token.error
    path.write_text("")
    assert token() == "good-token" and token.error == "empty"


def test_unusable_token_file_fails_early_without_echoing_content(tmp_path):
    with pytest.raises(HealthConfigError, match="No such file"):
        TokenFile(tmp_path / "absent").check()
    bad = tmp_path / "bad"
    bad.write_text("two words-secret")
    with pytest.raises(HealthConfigError) as info:
        TokenFile(bad).check()
    assert "words-secret" not in str(info.value)


def test_targets_resolve_through_airflow_connections(tmp_path):
    env = {"AIRFLOW_CONN_REMSVC_A": "remsvc://10.0.0.1:50051", "AIRFLOW_CONN_REMSVC_B": "remsvc://10.0.0.2:6000"}
    targets = resolve_targets(["remsvc_*"], env=env)
    assert sorted((t.name, t.address) for t in targets) == [
        ("remsvc_a", "10.0.0.1:50051"), ("remsvc_b", "10.0.0.2:6000")]
    with pytest.raises(HealthConfigError, match="nope"):
        resolve_targets(["nope"], env=env)
