"""The RemSvc server INI format: sections, validation, environment expansion, rule evaluation."""

from __future__ import annotations

import logging
import os

import pytest

from console.server.config import (
    DEFAULT_CMD_TIMEOUT_MS,
    ConfigError,
    ListRule,
    ServerConfig,
    load_config,
    parse_config,
)


def write(tmp_path, text: str):
    path = tmp_path / "server.ini"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config(tmp_path, tls_material):
    path = write(tmp_path, f"""
[server]
host = 127.0.0.2
port = 50123
cmd_timeout_ms = 2500

[tls]
enabled = yes
cert = {tls_material.server_cert}
key = {tls_material.server_key}
ca = {tls_material.ca_cert}

[auth]
Airflow-Prod = prod-token
dev = dev-token

[allowlist]
echo = ^echo\\b

[denylist]
no_rm = rm\\s+-rf
""")
    config = load_config(path)
    assert (config.host, config.port, config.cmd_timeout_ms, config.cmd_timeout_s) == ("127.0.0.2", 50123, 2500, 2.5)
    assert config.tls.enabled and config.tls.requires_client_cert
    assert config.tls.cert == tls_material.server_cert.resolve()
    assert dict(config.tokens) == {"Airflow-Prod": "prod-token", "dev": "dev-token"}
    assert [(r.name, r.pattern) for r in config.allowlist] == [("echo", r"^echo\b")]
    assert [(r.name, r.pattern) for r in config.denylist] == [("no_rm", r"rm\s+-rf")]
    assert config.source == path
    assert "prod-token" not in repr(config)


def test_defaults_when_sections_are_absent():
    config = parse_config("")
    assert (config.host, config.port, config.cmd_timeout_ms) == ("127.0.0.1", 50051, DEFAULT_CMD_TIMEOUT_MS)
    assert not config.tls.enabled and not config.auth_enabled
    assert config.deny_reason("anything at all") is None


def test_environment_expansion_in_both_forms():
    env = {"TOKEN": "from-env", "PORT": "6000", "PREFIX": "ec"}
    config = parse_config(
        "[server]\nport = ${PORT}\n[auth]\nops = $TOKEN\nlit = cost$$5-${TOKEN}x\n[allowlist]\nr = ^${PREFIX}ho$\n",
        env,
    )
    assert config.port == 6000
    assert dict(config.tokens) == {"ops": "from-env", "lit": "cost$5-from-envx"}
    assert config.allowlist[0].pattern == "^echo$"


def test_unset_variable_is_an_error_not_a_literal_token():
    with pytest.raises(ConfigError, match=r"\[auth\] ops refers to \$MISSING_TOKEN, which is not set"):
        parse_config("[auth]\nops = $MISSING_TOKEN\n", {})


def test_tls_cert_paths_are_relative_to_the_ini(tmp_path, tls_material):
    (tmp_path / "certs").mkdir()
    for name, source in (("s.pem", tls_material.server_cert), ("s.key", tls_material.server_key)):
        (tmp_path / "certs" / name).write_bytes(source.read_bytes())
    config = load_config(write(tmp_path, "[tls]\nenabled = true\ncert = certs/s.pem\nkey = certs/s.key\n"))
    assert config.tls.cert == (tmp_path / "certs" / "s.pem").resolve()
    assert config.tls.ca is None and not config.tls.requires_client_cert


def test_tls_disabled_ignores_paths(tmp_path):
    config = load_config(write(tmp_path, "[tls]\nenabled = false\ncert = /nope.pem\nkey = /nope.key\n"))
    assert not config.tls.enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = http\n", "[server] port must be a number from 0 to 65535, not 'http'"),
        ("[server]\nport = 70000\n", "[server] port must be a number from 0 to 65535, not '70000'"),
        ("[server]\ncmd_timeout_ms = -1\n", "[server] cmd_timeout_ms must be a whole number of milliseconds"),
        ("[tls]\nenabled = maybe\n", "[tls] enabled must be true or false, not 'maybe'"),
        ("[tls]\nenabled = true\ncert = /does/not/exist.pem\nkey = /x.key\n", "[tls] cert: /does/not/exist.pem does not exist"),
        ("[tls]\nenabled = true\n", "[tls] enabled needs both cert and key"),
        ("[auth]\nops =\n", "[auth] ops has an empty token"),
        ("port = 1\n", "line 1: a [section] header must come before any key"),
        ("[server]\nport = 1\nport = 2\n", "line 3: key 'port' appears twice in [server]"),
        ("[server]\n[server]\n", "line 2: section [server] appears twice"),
        ("[server]\n  indented continuation\n", "line 2: cannot parse 'indented continuation' (expected key = value)"),
        ("[server]\nport\n", "line 2: cannot parse 'port' (expected key = value)"),
    ],
)
def test_bad_configs_are_one_line_errors(text, message):
    with pytest.raises(ConfigError) as raised:
        parse_config(text, {})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.ini")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)
    binary = tmp_path / "bin.ini"
    binary.write_bytes(b"[server]\nport = \xff\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(binary)


def test_unknown_sections_and_keys_are_warned_about(caplog):
    caplog.set_level(logging.WARNING, logger="console.server")
    parse_config("[server]\nprot = 1\n[logging]\nlevel = 3\n", {})
    assert "unknown key 'prot' in [server]" in caplog.text
    assert "unknown section [logging]" in caplog.text


def test_invalid_pattern_is_logged_and_denies_all(caplog):
    caplog.set_level(logging.ERROR, logger="console.server")
    config = parse_config("[denylist]\nok = ^rm\nbroken = [a-\n", {})
    assert "[denylist] broken has an invalid pattern" in caplog.text
    assert config.deny_reason("echo harmless") == (
        "all commands denied: allowlist configuration is invalid (check server logs)"
    )


def test_rules_search_anywhere_unless_anchored():
    config = ServerConfig(
        allowlist=(ListRule.compile("ls", r"^ls( |$)"), ListRule.compile("echo", "echo")),
        denylist=(ListRule.compile("shutdown", r"\bshutdown\b"),),
    )
    assert config.deny_reason("ls -l") is None
    assert config.deny_reason("lsblk") == "command not permitted by allowlist: lsblk"
    assert config.deny_reason("true; echo x") is None
    assert config.deny_reason("echo; shutdown now") == "command denied by denylist: echo; shutdown now"


def test_empty_allowlist_permits_what_the_denylist_lets_through():
    config = ServerConfig(denylist=(ListRule.compile("rm", r"^rm\b"),))
    assert config.deny_reason("anything at all") is None
    assert config.deny_reason("rm -f x") == "command denied by denylist: rm -f x"


def test_default_command_timeout_is_the_compiled_servers_30_seconds():
    assert DEFAULT_CMD_TIMEOUT_MS == 30_000
    assert parse_config("", {}).cmd_timeout_s == 30.0


def test_identity_lookup():
    config = ServerConfig(tokens={"a": "token-a", "b": "token-b"})
    assert config.identity_for("token-b") == "b"
    assert config.identity_for("token-") is None
    assert config.identity_for("") is None


def test_expansion_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("REMSVC_TEST_TOKEN", "env-secret")
    assert dict(parse_config("[auth]\nops = ${REMSVC_TEST_TOKEN}\n").tokens) == {"ops": "env-secret"}
    assert os.environ["REMSVC_TEST_TOKEN"] == "env-secret"
