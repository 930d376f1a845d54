"""Our parser against Airflow's own: the same values go through Airflow 3.3.2 and through us.

Environment values go through the Task SDK's ``Connection.from_uri``/``from_json`` (what operators
and triggers use); connections files go through Airflow's ``load_connections_dict`` and are compared
as targets, since the core ``Connection`` JSON-decodes query values where the SDK keeps strings.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from console.airflow.conn_parse import parse_connection_value
from console.airflow.conn_sources import resolve_connection
from tests.helpers.airflow_env import AirflowUnavailable, ensure_airflow

pytestmark = pytest.mark.airflow

ENV_VALUES = [
    "remsvc://remotehost:50051?extra={}",
    'remsvc://remotehost:50051?extra={"use_ssl":true,"bearer_token":"secret-prod-token"}',
    "remsvc://us%40er:p%40ss%2Fw%3Ard@My%2DHost.example:6000/sch%2Fema?use_ssl=true",
    "remsvc://[::1]:50052?use_ssl=TRUE&bearer_token=abc+def",
    "remsvc://h?use_ssl=false&use_ssl=true&region=eu",
    "remsvc://h:1234?use_ssl=false&__extra__=%7B%22use_ssl%22%3A%20true%2C%20%22bearer_token%22%3A%20%22t%22%7D",
    "remsvc://h?ca_cert_path=%2Fetc%2Fssl%2Fca.pem&use_ssl=1",
    "remsvc://h",
    "google-cloud-platform://h:1",
    "remsvc://https://inner-host:443",
    '{"conn_type": "remsvc", "host": "jh", "port": "7001", "extra": "{\\"use_ssl\\": \\"yes\\"}"}',
    '  {"conn_type": "remsvc", "host": "jh", "port": 7002, "login": "me", "extra": {"bearer_token": "t2"}}',
    '{"conn_type": "google-cloud-platform", "host": "g"}',
]

AIRFLOW_SIDE = r"""
import json, sys
from airflow.sdk.definitions.connection import Connection
from airflow.secrets.local_filesystem import load_connections_dict

cases = json.loads(sys.stdin.read())
out = {"env": [], "files": {}, "hook": []}
for value in cases["hook"]:
    text = value.strip()
    conn = Connection.from_json(text, conn_id="x") if text[0] == "{" else Connection.from_uri(text, conn_id="x")
    extra = conn.extra_dejson
    token = extra.get("bearer_token") or None
    out["hook"].append({"host": conn.host, "port": conn.port or 50051, "tls": bool(extra.get("use_ssl", False)),
                        "token": token if token is None or isinstance(token, str) else repr(token)})
for value in cases["env"]:
    text = value.strip()
    conn = Connection.from_json(text, conn_id="x") if text[0] == "{" else Connection.from_uri(text, conn_id="x")
    out["env"].append({"conn_type": conn.conn_type, "host": conn.host, "port": conn.port, "login": conn.login,
                       "password": conn.password, "schema": conn.schema or None, "extras": conn.extra_dejson})
for path in cases["files"]:
    out["files"][path] = {cid: {"host": c.host, "port": c.port, "extras": c.extra_dejson}
                          for cid, c in load_connections_dict(path).items()}
print(json.dumps(out))
"""

# The hook's channel rules (RemSvc provider): TLS = bool(extra_dejson.get("use_ssl", False)), port = port or
# 50051, token = extra_dejson.get("bearer_token") or None. Each value with the warnings the console must give.
HOOK_CASES = [
    ("remsvc://h:50051?use_ssl=false", {"use_ssl_string_false"}),
    ("remsvc://h:50051?use_ssl=0", {"use_ssl_string_false"}),
    ("remsvc://h?use_ssl=no&bearer_token=t0k3n", {"use_ssl_string_false"}),
    ("remsvc://h?use_ssl=off", {"use_ssl_string_false"}),
    ("remsvc://h?use_ssl=true", set()),
    ("remsvc://h?use_ssl=", set()),
    ("remsvc://h?use_ssl=enabled", {"use_ssl_not_boolean"}),
    ('{"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": "false"}}', {"use_ssl_string_false"}),
    ('{"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": false, "bearer_token": "t"}}', {"token_without_tls"}),
    ('{"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": 1}}', set()),
    ("remsvc://h:0", {"port_zero"}),
    ('{"conn_type": "remsvc", "host": "h", "port": 0}', {"port_zero"}),
    ('{"conn_type": "remsvc", "host": "h", "port": "6000"}', set()),
    ("remsvc://h?bearer_token=", set()),
    ('{"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": true, "bearer_token": 12345}}', {"token_not_string"}),
    ('{"conn_type": "remsvc", "host": "h", "extra": {"use_ssl": true, "bearer_token": ""}}', set()),
    ("remsvc://https://inner-host:443", {"host_not_plain"}),
    ("remsvc://my%20host:1", {"host_not_plain"}),
    ("remsvc://a%2Fb:1", {"host_not_plain"}),
    ("remsvc://%1b%5d0%3bx%07:1", {"host_not_plain"}),
    ("remsvc://h%25x:1", {"host_not_plain"}),
    ('{"conn_type": "remsvc", "host": "h/path", "port": 1}', {"host_not_plain"}),
    ('remsvc://h?extra={"use_ssl":true,"bearer_token":"s"}', {"extra_json_string"}),
    ("remsvc://h?__extra__=%7B%22use_ssl%22%3A%20true%7D", set()),
]

FILES = {
    "conns.yaml": "a: remsvc://ya:50051?use_ssl=true&bearer_token=tok-a\n"
                  "b:\n  conn_type: remsvc\n  host: yb\n  port: 50052\n  extra:\n    use_ssl: true\n    ca_cert_path: /ca.pem\n"
                  "c: [\"remsvc://yc\"]\n",
    "conns.json": json.dumps({"a": "remsvc://ja:1?use_ssl=no", "b": {"conn_type": "remsvc", "host": "jb",
                              "extra_dejson": {"bearer_token": "tok-b", "use_ssl": True}}}),
    "conns.env": "# comment\na=remsvc://ea:2?use_ssl=yes&bearer_token=tok-e\nb=remsvc://eb\n",
}


@pytest.fixture(scope="module")
def airflow_results(tmp_path_factory) -> dict:
    try:
        install = ensure_airflow()
    except AirflowUnavailable as exc:
        pytest.skip(f"Airflow cannot be installed here: {exc}")
    workdir = tmp_path_factory.mktemp("airflow-parse")
    paths = []
    for name, text in FILES.items():
        (workdir / name).write_text(text)
        paths.append(str(workdir / name))
    env = {"PATH": os.environ.get("PATH", ""), "AIRFLOW_HOME": str(workdir / "home"), "HOME": str(workdir)}
    proc = subprocess.run([str(install.venv / "bin" / "python"), "-c", AIRFLOW_SIDE],
                          input=json.dumps({"env": ENV_VALUES, "files": paths, "hook": [v for v, _ in HOOK_CASES]}),
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("index", range(len(ENV_VALUES)))
def test_environment_values_parse_exactly_as_airflow(airflow_results, index):
    theirs = airflow_results["env"][index]
    ours = parse_connection_value("x", ENV_VALUES[index], source="test")
    assert ours.conn_type == theirs["conn_type"]
    assert ours.host == (theirs["host"] or "")
    assert ours.port == (theirs["port"] or 50051)
    assert ours.login == theirs["login"]
    assert ours.password == theirs["password"]
    assert ours.schema == theirs["schema"]
    assert ours.extras == theirs["extras"]


@pytest.mark.parametrize("index", range(len(HOOK_CASES)))
def test_channel_and_warnings_follow_the_hook_rules_applied_to_airflows_connection(airflow_results, index):
    value, expected = HOOK_CASES[index]
    theirs = airflow_results["hook"][index]
    ours = parse_connection_value("x", value, source="test")
    assert ours.host == (theirs["host"] or "")
    assert ours.port == theirs["port"]
    assert ours.use_ssl is theirs["tls"]
    token = ours.extras.get("bearer_token") or None
    assert (token if token is None or isinstance(token, str) else repr(token)) == theirs["token"]
    if isinstance(token, str) or token is None:
        assert ours.target.bearer_token == theirs["token"]
    codes = {w.code for w in ours.warnings}
    assert expected <= codes, (value, codes)
    hook_codes = {"use_ssl_string_false", "use_ssl_not_boolean", "port_zero", "token_not_string", "host_not_plain"}
    assert codes & hook_codes == expected & hook_codes, (value, codes)


@pytest.mark.parametrize("name", sorted(FILES))
def test_connections_files_resolve_to_the_same_targets_as_airflow(airflow_results, name):
    (path,) = [p for p in airflow_results["files"] if Path(p).name == name]
    theirs = airflow_results["files"][path]
    for conn_id, conn in theirs.items():
        target = resolve_connection(conn_id, env={}, connections_file=path).target
        extras = conn["extras"]
        assert target.host == conn["host"]
        assert target.port == (conn["port"] or 50051)
        assert target.use_ssl is bool(extras.get("use_ssl", False))
        assert target.bearer_token == (extras.get("bearer_token") or None)
        assert target.ca_cert_path == extras.get("ca_cert_path")
