"""Connection parsing as Airflow does it (URI and JSON forms, ``__extra__``) and the lint warnings."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.airflow.conn_lint import corrected_uri
from console.airflow.conn_model import ConnectionNotFound, MalformedConnection, ResolvedConnection, parse_bool
from console.airflow.conn_render import connection_uri, describe, mask_extras, masked_uri, secrets_of
from console.airflow.conn_sources import resolve_connection, resolve_target
from console.remsvc.model import DEFAULT_PORT, Target
from tests.helpers.privileges import python_command

TOKEN = "s3cr3t-Token-9f2a"
REPO = Path(__file__).resolve().parents[2]


def resolve(value: str, conn_id: str = "remsvc_default"):
    env = {f"AIRFLOW_CONN_{conn_id.upper()}": value}
    return resolve_connection(conn_id, env=env)


def codes(conn) -> list[str]:
    return [w.code for w in conn.warnings]


def test_uri_form_percent_decodes_host_login_password_and_schema():
    conn = resolve("remsvc://us%40er:p%40ss%2Fw%3Ard@my%2Dhost.example:6000/my%2Fschema")
    assert conn.conn_type == "remsvc"
    assert conn.host == "my-host.example"
    assert conn.port == 6000
    assert conn.login == "us@er"
    assert conn.password == "p@ss/w:rd"
    assert conn.schema == "my/schema"
    assert conn.source == "env AIRFLOW_CONN_REMSVC_DEFAULT"


def test_default_port_when_the_uri_has_none():
    conn = resolve("remsvc://remotehost")
    assert conn.port == DEFAULT_PORT == 50051
    assert conn.target.port == 50051


def test_ipv6_host_in_brackets():
    target = resolve("remsvc://[::1]:50052?use_ssl=false").target
    assert target.host == "::1"
    assert target.port == 50052
    assert target.address == "[::1]:50052"
    assert "[::1]:50052" in masked_uri(resolve("remsvc://[::1]:50052"))


def test_query_parameters_become_string_extras_and_use_ssl_string_form_turns_tls_on():
    conn = resolve(f"remsvc://h:50051?use_ssl=true&ca_cert_path=%2Fetc%2Fca.pem&bearer_token={TOKEN}")
    assert conn.extras == {"use_ssl": "true", "ca_cert_path": "/etc/ca.pem", "bearer_token": TOKEN}
    assert conn.target == Target(
        name="remsvc_default", host="h", port=50051, use_ssl=True, ca_cert_path="/etc/ca.pem", bearer_token=TOKEN
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("True", True), ("1", True), ("yes", True), ("Yes", True),
     ("false", False), ("FALSE", False), ("0", False), ("no", False), ("NO", False),
     (True, True), (False, False), (1, True), (0, False), ("maybe", None), ("", None), (2, None)],
)
def test_boolean_forms_airflow_users_write(text, expected):
    assert parse_bool(text) is expected


def test_unrecognised_use_ssl_string_is_on_like_the_hook_with_a_warning():
    conn = resolve("remsvc://h?use_ssl=enabled")
    assert conn.use_ssl is True
    assert "use_ssl_not_boolean" in codes(conn)


def test_repeated_parameter_keeps_the_last_value_like_airflow_and_warns():
    conn = resolve("remsvc://h?use_ssl=false&use_ssl=true")
    assert conn.extras["use_ssl"] == "true"
    assert conn.use_ssl is True
    warning = next(w for w in conn.warnings if w.code == "repeated_parameter")
    assert "'use_ssl'" in warning.message and "last" in warning.message


def test_dunder_extra_is_the_whole_extra_dict_and_wins_over_other_parameters():
    extra = quote(json.dumps({"use_ssl": True, "bearer_token": TOKEN}), safe="")
    conn = resolve(f"remsvc://h:1234?use_ssl=false&bogus=1&__extra__={extra}")
    assert conn.extras == {"use_ssl": True, "bearer_token": TOKEN}
    assert conn.target.use_ssl is True
    assert conn.target.bearer_token == TOKEN
    ignored = next(w for w in conn.warnings if w.code == "ignored_parameters")
    assert "'use_ssl'" in ignored.message and "'bogus'" in ignored.message


def test_dunder_extra_that_is_not_a_json_object_is_malformed():
    with pytest.raises(MalformedConnection, match="__extra__ is not valid JSON"):
        resolve("remsvc://h?__extra__=not-json")
    with pytest.raises(MalformedConnection, match="__extra__ must be a JSON object"):
        resolve("remsvc://h?__extra__=%5B1%5D")


def test_json_form_with_extra_as_dict():
    value = json.dumps({"conn_type": "remsvc", "host": "json-host", "port": 7000, "login": "me",
                        "extra": {"use_ssl": True, "bearer_token": TOKEN}})
    conn = resolve(value)
    assert (conn.conn_type, conn.host, conn.port, conn.login) == ("remsvc", "json-host", 7000, "me")
    assert conn.target.use_ssl is True and conn.target.bearer_token == TOKEN


def test_json_form_with_extra_as_string_and_port_as_string_and_leading_space():
    value = "  " + json.dumps({"conn_type": "remsvc", "host": "h", "port": "7001",
                               "extra": json.dumps({"use_ssl": "yes", "ca_cert_path": "/x.pem"})})
    conn = resolve(value)
    assert conn.port == 7001
    assert conn.extras == {"use_ssl": "yes", "ca_cert_path": "/x.pem"}
    assert conn.use_ssl is True


def test_json_form_normalizes_dashes_in_conn_type_like_airflow():
    assert resolve(json.dumps({"conn_type": "google-cloud-platform", "host": "h"})).conn_type == "google_cloud_platform"
    assert resolve("google-cloud-platform://h").conn_type == "google_cloud_platform"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"conn_type": "remsvc", "host": ', "invalid JSON"),
        ("[1, 2]", "not a connection URI"),
        ('{"conn_type": "remsvc", "host": "h", "port": "abc"}', "'port' must be an integer"),
        ('{"conn_type": "remsvc", "hostname": "h"}', "unknown field(s) 'hostname'"),
        ('{"conn_type": "remsvc", "host": "h", "extra": "{not json"}', "'extra' is not valid JSON"),
        ('{"conn_type": "remsvc", "host": "h", "extra": "[1]"}', "'extra' must hold a JSON object"),
        ("remsvc://h:99999", "port"),
        ("remsvc://[::1", "invalid host or port"),
        ("remsvc_x://h:1", "not a valid URI scheme"),
        ("a://b://c://d", "more than two"),
        ("justahost:50051", "not a connection URI"),
    ],
)
def test_malformed_values_raise_one_clear_line_naming_the_variable(value, message):
    with pytest.raises(MalformedConnection) as info:
        resolve(value)
    text = str(info.value)
    assert message in text
    assert "AIRFLOW_CONN_REMSVC_DEFAULT" in text
    assert "\n" not in text


def test_malformed_message_never_echoes_the_secret():
    with pytest.raises(MalformedConnection) as info:
        resolve(f"remsvc://user:{TOKEN}@h:notaport")
    assert TOKEN not in str(info.value)


def test_not_found_names_the_variable_and_the_missing_file_setting():
    with pytest.raises(ConnectionNotFound) as info:
        resolve_connection("remsvc_nowhere", env={})
    text = str(info.value)
    assert "AIRFLOW_CONN_REMSVC_NOWHERE: not set" in text
    assert "--connections-file" in text and "REMSVC_CONSOLE_CONNECTIONS_FILE" in text
    assert "metadata DB: not asked (Airflow not found: set airflow_python" in text


def test_empty_variable_counts_as_unset_like_airflow():
    with pytest.raises(ConnectionNotFound):
        resolve_connection("x", env={"AIRFLOW_CONN_X": "   "})


def test_resolve_target_returns_the_target():
    target = resolve_target("web", env={"AIRFLOW_CONN_WEB": "remsvc://web1:50060?use_ssl=1"})
    assert (target.name, target.host, target.port, target.use_ssl, target.bearer_token) == ("web", "web1", 50060, True, None)


def test_extra_json_string_lint_resolves_as_airflow_and_gives_a_working_corrected_uri():
    value = f'remsvc://remotehost:50051?extra={{"use_ssl":true,"bearer_token":"{TOKEN}"}}'
    conn = resolve(value)
    # What Airflow does: one extra named 'extra' holding the JSON as a string.
    assert conn.extras == {"extra": f'{{"use_ssl":true,"bearer_token":"{TOKEN}"}}'}
    assert conn.target.use_ssl is False
    assert conn.target.bearer_token is None
    warning = next(w for w in conn.warnings if w.code == "extra_json_string")
    assert "TLS is OFF" in warning.message
    assert "bearer token is NOT sent" in warning.message
    assert "named 'extra'" in warning.message
    # The fix is a copy-pasteable export with the token masked.
    assert warning.fix.startswith("export AIRFLOW_CONN_REMSVC_DEFAULT='remsvc://remotehost:50051?__extra__=")
    assert TOKEN not in warning.fix and "***" in warning.fix
    assert "token_without_tls" not in codes(conn)
    # The corrected URI, asked for with the secret, re-parses to what the author meant.
    fixed = resolve(corrected_uri(conn, reveal_secrets=True))
    assert fixed.target.use_ssl is True
    assert fixed.target.bearer_token == TOKEN
    assert "extra_json_string" not in codes(fixed)
    masked = corrected_uri(conn)
    assert TOKEN not in masked and "***" in masked and "__extra__=" in masked


def test_extra_json_string_with_token_but_no_tls_says_the_fix_still_lacks_tls():
    conn = resolve(f'remsvc://h?extra={{"bearer_token":"{TOKEN}"}}')
    warning = next(w for w in conn.warnings if w.code == "extra_json_string")
    assert "bearer token is NOT sent" in warning.message and "TLS is OFF" not in warning.message
    assert "without TLS" in warning.fix


def test_empty_extra_json_from_the_provider_readme_is_flagged_as_having_no_effect():
    conn = resolve("remsvc://remotehost:50051?extra={}")
    warning = next(w for w in conn.warnings if w.code == "extra_json_string")
    assert "no effect" in warning.message


def test_extra_json_string_in_json_form_is_flagged_too():
    conn = resolve(json.dumps({"conn_type": "remsvc", "host": "h", "extra": {"extra": {"use_ssl": True}}}))
    assert conn.use_ssl is False
    assert "extra_json_string" in codes(conn)


def test_token_without_tls_warning():
    conn = resolve(f"remsvc://h?bearer_token={TOKEN}")
    warning = next(w for w in conn.warnings if w.code == "token_without_tls")
    assert "without TLS" in warning.message
    assert "use_ssl" in warning.fix
    assert "token_without_tls" not in codes(resolve(f"remsvc://h?bearer_token={TOKEN}&use_ssl=true"))


@pytest.mark.parametrize(
    ("key", "meant"),
    [("usessl", "use_ssl"), ("use-ssl", "use_ssl"), ("Use_SSL", "use_ssl"), ("use_tls", "use_ssl"),
     ("bearer", "bearer_token"), ("token", "bearer_token"), ("bearertoken", "bearer_token"),
     ("bearer_tokn", "bearer_token"), ("ca_cert", "ca_cert_path"), ("cacertpath", "ca_cert_path")],
)
def test_typo_extras_are_named_with_the_known_extra(key, meant):
    conn = resolve(f"remsvc://h?{key}=x")
    warning = next(w for w in conn.warnings if w.code == "unknown_extra")
    assert repr(key) in warning.message and repr(meant) in warning.message
    assert warning.fix == f"rename {key!r} to {meant!r}"


def test_unrelated_extras_are_not_called_typos():
    conn = resolve("remsvc://h?timeout=30&region=eu")
    assert "unknown_extra" not in codes(conn)


def test_misspelled_token_extra_is_still_masked():
    conn = resolve(f"remsvc://h?bearer={TOKEN}")
    assert TOKEN in secrets_of(conn)
    assert TOKEN not in masked_uri(conn)
    assert mask_extras(conn.extras) == {"bearer": "***"}


def test_ca_cert_path_checks(tmp_path):
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    ok = resolve(f"remsvc://h?use_ssl=true&ca_cert_path={quote(str(pem), safe='')}")
    assert ok.warnings == []
    missing = resolve(f"remsvc://h?use_ssl=true&ca_cert_path={quote(str(tmp_path / 'nope.pem'), safe='')}")
    assert next(w for w in missing.warnings if w.code == "ca_cert_unreadable").message.endswith(
        "does not exist: TLS connections will fail")
    directory = resolve(f"remsvc://h?use_ssl=true&ca_cert_path={quote(str(tmp_path), safe='')}")
    assert "is a directory" in next(w for w in directory.warnings if w.code == "ca_cert_unreadable").message
    without_tls = resolve(f"remsvc://h?ca_cert_path={quote(str(pem), safe='')}")
    assert codes(without_tls) == ["ca_cert_without_tls"]


def test_ca_cert_path_unreadable(tmp_path: Path):
    """A PEM file the user cannot read is flagged; as root the check runs without DAC override."""
    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    pem.chmod(0)
    env = {"AIRFLOW_CONN_X": f"remsvc://h?use_ssl=true&ca_cert_path={quote(str(pem), safe='')}"}
    script = (
        "import json, sys; from console.airflow.conn_sources import resolve_connection as r; "
        "print(json.dumps([w.message for w in r('x', env=json.loads(sys.argv[1])).warnings]))"
    )
    proc = subprocess.run(python_command(script, json.dumps(env)), capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert any("is not readable by this user" in m for m in json.loads(proc.stdout))


def test_plus_in_token_is_a_space_in_a_query_and_is_flagged():
    conn = resolve("remsvc://h?use_ssl=true&bearer_token=abc+def")
    assert conn.bearer_token == "abc def"
    assert "token_has_space" in codes(conn)


def test_non_remsvc_type_and_missing_host_are_flagged_and_a_hostless_target_refused():
    assert "not_remsvc" in codes(resolve("postgres://db:5432"))
    hostless = resolve(json.dumps({"conn_type": "remsvc"}))
    assert "no_host" in codes(hostless)
    with pytest.raises(MalformedConnection, match="has no host"):
        _ = hostless.target


def test_masked_uri_round_trips_and_hides_password_and_token():
    conn = resolve(f"remsvc://admin:{TOKEN}x@h:50051/db?use_ssl=true&bearer_token={TOKEN}")
    shown = masked_uri(conn)
    assert TOKEN not in shown
    assert shown == "remsvc://admin:***@h:50051/db?use_ssl=true&bearer_token=***"
    revealed = connection_uri(conn, reveal_secrets=True)
    again = resolve(revealed)
    assert (again.password, again.bearer_token, again.schema, again.use_ssl) == (f"{TOKEN}x", TOKEN, "db", True)


def test_repr_and_target_repr_hold_no_secret():
    conn = resolve(f"remsvc://u:{TOKEN}@h?bearer_token={TOKEN}&use_ssl=true")
    assert TOKEN not in repr(conn)
    assert TOKEN not in repr(conn.target)
    assert TOKEN not in json.dumps(describe(conn))
    assert secrets_of(conn) == {TOKEN}


@settings(max_examples=200, deadline=None)
@given(
    login=st.none() | st.text(max_size=12),
    password=st.none() | st.text(min_size=1, max_size=12),
    host=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,5}){0,2}", fullmatch=True),
    port=st.integers(1, 65535),
    schema=st.none() | st.text(min_size=1, max_size=8),
    extras=st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda k: k != "extra"),
                           st.text(max_size=12), max_size=4),
)
def test_connection_uri_round_trips_through_the_parser(login, password, host, port, schema, extras):
    conn = ResolvedConnection("x", "remsvc", host, port, "test", extras=extras, login=login, password=password,
                              schema=schema)
    again = resolve(connection_uri(conn, reveal_secrets=True), "x")
    assert (again.host, again.port, again.schema, again.extras) == (host, port, schema, extras)
    assert again.password == password
    # A URI cannot tell "no login" from "empty login" once a password follows; Airflow reads "".
    assert again.login == ("" if login is None and password is not None else login)
