"""The RemSvc hook's channel rules and the warnings that explain them (no Airflow needed)."""

from __future__ import annotations

import json

from console.airflow.conn_sources import resolve_connection


def resolve(value: str):
    return resolve_connection("x", env={"AIRFLOW_CONN_X": value})


def codes(conn) -> set[str]:
    return {w.code for w in conn.warnings}


def test_string_false_means_tls_like_the_hook_and_the_fix_shows_the_json_boolean():
    for text in ("false", "0", "no", "off", "False"):
        conn = resolve(f"remsvc://h:50051?use_ssl={text}")
        assert conn.use_ssl is True and conn.target.use_ssl is True
        (warning,) = [w for w in conn.warnings if w.code == "use_ssl_string_false"]
        assert "TLS ON" in warning.message
        assert '"use_ssl": false' in warning.fix and "__extra__=" in warning.fix


def test_json_booleans_and_an_empty_string_mean_what_they_say():
    assert resolve(json.dumps({"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": False}})).use_ssl is False
    assert resolve(json.dumps({"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": True}})).use_ssl is True
    plain = resolve("remsvc://h?use_ssl=")
    assert plain.use_ssl is False and not codes(plain) & {"use_ssl_string_false", "use_ssl_not_boolean"}


def test_port_zero_is_50051_with_a_warning_showing_the_port_used():
    for value in ("remsvc://h:0", json.dumps({"conn_type": "remsvc", "host": "h", "port": 0})):
        conn = resolve(value)
        assert conn.port == conn.target.port == 50051
        (warning,) = [w for w in conn.warnings if w.code == "port_zero"]
        assert "h:50051" in warning.message


def test_token_is_sent_only_when_truthy_and_a_non_string_is_flagged():
    assert resolve(json.dumps({"conn_type": "remsvc", "host": "h", "extra": {"bearer_token": ""}})).target.bearer_token is None
    numeric = resolve(json.dumps({"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": True, "bearer_token": 123456}}))
    assert numeric.target.bearer_token == "123456"
    assert "token_not_string" in codes(numeric)


def test_hosts_that_are_not_host_names_are_flagged():
    for value in ("remsvc://https://h:443", "remsvc://my%20host:1", "remsvc://a%2Fb:1", "remsvc://a%25b:1",
                  json.dumps({"conn_type": "remsvc", "host": "h/x"})):
        assert "host_not_plain" in codes(resolve(value)), value
    assert "host_not_plain" not in codes(resolve("remsvc://plain-host.example:1"))
