"""Connections files in Airflow's local-filesystem formats, source precedence, listing and globs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.airflow.conn_model import REMSVC_CONN_TYPES, ConnectionNotFound, ConnectionsFileError, MalformedConnection
from console.airflow.conn_sources import (
    list_connections,
    match_connections,
    resolve_connection,
    scan_connections,
)

TOKEN = "file-token-77c1e0"

YAML_TEXT = f"""\
# RemSvc servers
remsvc_web_1: remsvc://web1:50051?use_ssl=true&bearer_token={TOKEN}
remsvc_web_2:
  conn_type: remsvc
  host: web2
  port: 50052
  extra:
    use_ssl: true
    ca_cert_path: /etc/ssl/ca.pem
remsvc_db: ["remsvc://db1:50053"]
postgres_main: postgres://u:p@pg:5432/app
"""

EXPECTED = {
    "remsvc_web_1": ("web1", 50051, True, TOKEN),
    "remsvc_web_2": ("web2", 50052, True, None),
    "remsvc_db": ("db1", 50053, False, None),
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def as_json() -> str:
    return json.dumps({
        "remsvc_web_1": f"remsvc://web1:50051?use_ssl=true&bearer_token={TOKEN}",
        "remsvc_web_2": {"conn_type": "remsvc", "host": "web2", "port": 50052,
                         "extra": json.dumps({"use_ssl": True, "ca_cert_path": "/etc/ssl/ca.pem"})},
        "remsvc_db": {"uri": "remsvc://db1:50053"},
        "postgres_main": "postgres://u:p@pg:5432/app",
    }, indent=2)


def as_env() -> str:
    return (
        "# comment line\n"
        f"remsvc_web_1=remsvc://web1:50051?use_ssl=true&bearer_token={TOKEN}\n"
        "\n"
        "   # indented comment\n"
        'remsvc_web_2={"conn_type": "remsvc", "host": "web2", "port": 50052, '
        '"extra": {"use_ssl": true, "ca_cert_path": "/etc/ssl/ca.pem"}}\n'
        "remsvc_db = remsvc://db1:50053\n"
        "postgres_main=postgres://u:p@pg:5432/app\n"
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [("conns.yaml", YAML_TEXT), ("conns.yml", YAML_TEXT), ("conns.json", as_json()), ("conns.env", as_env())],
)
def test_each_file_format_resolves_every_entry(tmp_path, name, text):
    path = write(tmp_path, name, text)
    for conn_id, (host, port, tls, token) in EXPECTED.items():
        conn = resolve_connection(conn_id, env={}, connections_file=path)
        target = conn.target
        assert (target.host, target.port, target.use_ssl, target.bearer_token) == (host, port, tls, token)
        assert conn.source == f"file {path}"
    assert resolve_connection("remsvc_web_2", env={}, connections_file=path).ca_cert_path == "/etc/ssl/ca.pem"
    listed = [c.conn_id for c in list_connections(env={}, connections_file=path)]
    assert listed == sorted(["remsvc_web_1", "remsvc_web_2", "remsvc_db", "postgres_main"])


def test_json_string_value_in_env_file_is_read_but_flagged_as_airflow_reading_it_as_a_uri(tmp_path):
    path = write(tmp_path, "c.env", as_env())
    conn = resolve_connection("remsvc_web_2", env={}, connections_file=path)
    warning = conn.warnings[0]
    assert warning.code == "json_string_in_file"
    assert "line 5" in warning.message


def test_file_given_by_environment_variable(tmp_path):
    path = write(tmp_path, "conns.yaml", YAML_TEXT)
    env = {"REMSVC_CONSOLE_CONNECTIONS_FILE": str(path)}
    assert resolve_connection("remsvc_db", env=env).host == "db1"


def test_explicit_file_wins_over_the_environment_variable(tmp_path):
    chosen = write(tmp_path, "a.yaml", "x: remsvc://chosen:1\n")
    other = write(tmp_path, "b.yaml", "x: remsvc://other:1\n")
    env = {"REMSVC_CONSOLE_CONNECTIONS_FILE": str(other)}
    assert resolve_connection("x", env=env, connections_file=chosen).host == "chosen"


def test_environment_variable_wins_over_the_file(tmp_path):
    path = write(tmp_path, "conns.yaml", YAML_TEXT)
    env = {"AIRFLOW_CONN_REMSVC_DB": "remsvc://from-env:9999"}
    conn = resolve_connection("remsvc_db", env=env, connections_file=path)
    assert (conn.host, conn.port, conn.source) == ("from-env", 9999, "env AIRFLOW_CONN_REMSVC_DB")
    listed = {c.conn_id: c for c in list_connections(env=env, connections_file=path)}
    assert listed["remsvc_db"].host == "from-env"
    assert len([c for c in listed if c == "remsvc_db"]) == 1


def test_not_found_names_the_variable_and_the_file(tmp_path):
    path = write(tmp_path, "conns.yaml", YAML_TEXT)
    with pytest.raises(ConnectionNotFound) as info:
        resolve_connection("remsvc_nope", env={}, connections_file=path)
    assert "AIRFLOW_CONN_REMSVC_NOPE: not set" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "where", "problem"),
    [
        ("bad.yaml", "a: remsvc://h:1\nb: [unclosed\n", "line 3", "invalid YAML"),
        ("bad.yaml", "", "line 1", "the file is empty"),
        ("bad.yaml", "- remsvc://h:1\n", "line 1", "must hold a mapping"),
        ("bad.yaml", "a: remsvc://h:1\na: remsvc://h:2\n", "line 2", "duplicate key 'a' (first on line 1)"),
        ("bad.yaml", "a: remsvc://h:1\nb: 42\n", "key 'b' (line 2)", "not a number"),
        ("bad.yaml", "a: [remsvc://h:1, remsvc://h:2]\n", "key 'a'", "2 values for one connection id"),
        ("bad.yaml", "a: remsvc://h:1\nb: remsvc://h:notaport\n", "key 'b' (line 2)", "invalid host or port"),
        ("bad.yaml", "a:\n  conn_type: remsvc\n  hostname: h\n", "key 'a' (line 1)", "unknown field(s) 'hostname'"),
        ("bad.yaml", "a:\n  conn_id: b\n  host: h\n", "key 'a'", "does not match"),
        ("bad.yaml", "a:\n  uri: remsvc://h:1\n  host: h\n", "key 'a'", "either 'uri' or separate fields"),
        ("bad.json", '{"a": "remsvc://h:1",\n "b": }', "line 2 column 7", "invalid JSON"),
        ("bad.json", '{"a": "remsvc://h:1", "a": "remsvc://h:2"}', "key 'a'", "duplicate key"),
        ("bad.json", '{"a": {"host": "h", "port": "x"}}', "key 'a'", "'port' must be an integer"),
        ("bad.json", '{"a": {"host": "h", "extra": "{oops"}}', "key 'a'", "'extra' is not valid JSON"),
        ("bad.env", "a=remsvc://h:1\nnot a pair\n", "line 2", "no '='"),
        ("bad.env", "a=remsvc://h:1\n=remsvc://h:2\n", "line 2", "connection id before '=' is empty"),
        ("bad.env", "a=\n", "line 1", "the value for 'a' is empty"),
        ("bad.env", "a=remsvc://h:1\n\na=remsvc://h:2\n", "line 3", "'a' is defined again (first on line 1)"),
        ("bad.env", "a='remsvc://h:1'\n", "line 1", "wrapped in quotes"),
        ("bad.env", "a=remsvc://h:1\nb={\"host\": \n", "line 2", "invalid JSON"),
        ("bad.txt", "a=remsvc://h:1\n", None, "unsupported file type '.txt'"),
    ],
)
def test_malformed_files_are_rejected_whole_with_file_and_place_named(tmp_path, name, text, where, problem):
    path = write(tmp_path, name, text)
    with pytest.raises(ConnectionsFileError) as info:
        resolve_connection("a", env={}, connections_file=path)
    message = str(info.value)
    assert str(path) in message
    if where is not None:
        assert where in message
    assert problem in message
    assert "\n" not in message
    # The good entries of a bad file are not used either: nothing is half-loaded.
    with pytest.raises(ConnectionsFileError):
        list_connections(env={}, connections_file=path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConnectionsFileError, match="file not found"):
        resolve_connection("a", env={}, connections_file=tmp_path / "absent.yaml")
    with pytest.raises(ConnectionsFileError, match="not UTF-8"):
        resolve_connection("a", env={}, connections_file=write_bytes(tmp_path / "latin.env", b"a=remsvc://h\xe9:1\n"))
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    with pytest.raises(ConnectionsFileError, match="is a directory"):
        resolve_connection("a", env={}, connections_file=directory)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_environment_connection_resolves_without_reading_a_broken_file(tmp_path):
    broken = write(tmp_path, "broken.yaml", "a: [\n")
    env = {"AIRFLOW_CONN_A": "remsvc://env-host:1"}
    assert resolve_connection("a", env=env, connections_file=broken).host == "env-host"


def test_scan_reports_unreadable_variables_and_keeps_the_rest():
    env = {
        "AIRFLOW_CONN_GOOD": "remsvc://good:1",
        "AIRFLOW_CONN_BAD": "remsvc://bad:notaport",
        "AIRFLOW_CONN_EMPTY": "",
        "AIRFLOW_CONN_": "remsvc://noid:1",
        "OTHER": "remsvc://ignored:1",
    }
    scan = scan_connections(env=env)
    assert [c.conn_id for c in scan.connections] == ["good"]
    assert len(scan.errors) == 1 and "AIRFLOW_CONN_BAD" in str(scan.errors[0])
    assert [c.conn_id for c in list_connections(env=env)] == ["good"]


def test_list_can_filter_remsvc_types(tmp_path):
    path = write(tmp_path, "conns.yaml", YAML_TEXT)
    env = {"AIRFLOW_CONN_GRPC_ONE": "grpc://g:1"}
    ids = [c.conn_id for c in list_connections(env=env, connections_file=path, conn_types=REMSVC_CONN_TYPES)]
    assert ids == ["grpc_one", "remsvc_db", "remsvc_web_1", "remsvc_web_2"]


def test_glob_patterns_expand_in_order_without_duplicates(tmp_path):
    path = write(tmp_path, "conns.yaml", YAML_TEXT)
    env = {"AIRFLOW_CONN_REMSVC_WEB_3": "remsvc://web3:1"}
    found = match_connections(["remsvc_db", "remsvc_web_*", "remsvc_web_1"], env=env, connections_file=path)
    assert [c.conn_id for c in found] == ["remsvc_db", "remsvc_web_1", "remsvc_web_2", "remsvc_web_3"]
    assert [c.conn_id for c in match_connections(["REMSVC_WEB_?"], env=env, connections_file=path)] == [
        "remsvc_web_1", "remsvc_web_2", "remsvc_web_3"]
    everything = match_connections(["*"], env=env, connections_file=path, conn_types=REMSVC_CONN_TYPES)
    assert "postgres_main" not in [c.conn_id for c in everything]


def test_glob_matching_nothing_or_a_broken_connection_raises(tmp_path):
    path = write(tmp_path, "conns.yaml", YAML_TEXT)
    with pytest.raises(ConnectionNotFound, match="no connection id matches 'remsvc_api_\\*'") as info:
        match_connections(["remsvc_api_*"], env={}, connections_file=path)
    assert str(path) in str(info.value)
    env = {"AIRFLOW_CONN_REMSVC_WEB_9": "remsvc://h:bad"}
    with pytest.raises(MalformedConnection, match="AIRFLOW_CONN_REMSVC_WEB_9"):
        match_connections(["remsvc_web_*"], env=env, connections_file=path)
    with pytest.raises(ConnectionNotFound):
        match_connections(["remsvc_absent"], env={}, connections_file=path)
