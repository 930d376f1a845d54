"""`remsvc-console run` as a script would call it: real process, real server, Airflow-style connections."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from console.remsvc.model import TRUNCATION_MARKER, command_hash

TOKEN = "tok-run-cli-9f8e7d"


def run_cli(args: list[str], env_extra: dict[str, str], tmp_path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"), **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "console", "run", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=90,
    )


def conn_env(name: str, server, query: str = "") -> dict[str, str]:
    return {f"AIRFLOW_CONN_{name.upper()}": f"remsvc://127.0.0.1:{server.port}{query}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_is_the_operator_xcom_shape(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "remsvc_default", "--cmd", "echo hello", "--cmd", "echo 'it''s' \"ü\"", "--json"],
                   conn_env("remsvc_default", remsvc_server), tmp_path)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert list(payload) == ["state", "results", "error_msg"]
    assert payload["state"] == "SUCCESS" and payload["error_msg"] is None
    assert payload["results"] == [
        {"tid": 1, "rc": 0, "out": "hello\n", "err": "", "hsh": command_hash("echo hello"), "cmd": "echo hello"},
        {"tid": 2, "rc": 0, "out": "its ü\n", "err": "", "hsh": command_hash("echo 'it''s' \"ü\""), "cmd": "echo 'it''s' \"ü\""},
    ]


def test_nonzero_rc_exits_1_and_fails_the_state(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "true", "--cmd", "echo bad >&2; exit 7", "--json"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert payload["state"] == "FAILED" and "tid 2" in payload["error_msg"]
    assert payload["results"][1]["rc"] == 7 and payload["results"][1]["err"] == "bad\n"


def test_commands_from_stdin_and_readable_report(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "-"], conn_env("c", remsvc_server), tmp_path, stdin="echo a\n\nprintf '\\033]0;pwned\\007x'\n")
    assert proc.returncode == 0, proc.stderr
    assert "[1] rc=0" in proc.stdout and "out| a" in proc.stdout
    assert "[2] rc=0" in proc.stdout and "[3]" not in proc.stdout
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "␛]0;pwned␇x" in proc.stdout


def test_several_targets_keyed_by_conn_id_with_one_dead(remsvc_server, tmp_path):
    env = {**conn_env("web_1", remsvc_server), "AIRFLOW_CONN_WEB_2": f"remsvc://127.0.0.1:{free_port()}"}
    proc = run_cli(["--conn", "web_*", "--cmd", "echo x", "--json"], env, tmp_path)
    assert proc.returncode == 4
    payload = json.loads(proc.stdout)["targets"]
    assert payload["web_1"]["state"] == "SUCCESS"
    assert payload["web_2"]["state"] == "FAILED" and payload["web_2"]["results"] == []
    assert "web_2 (127.0.0.1:" in proc.stderr and "connection refused" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_denied_stream_exits_5_and_keeps_earlier_results(remsvc_server_factory, tmp_path):
    server = remsvc_server_factory("[denylist]\nshutdown = shutdown\n")
    proc = run_cli(["--conn", "c", "--cmd", "echo before", "--cmd", "shutdown -h now", "--json"], conn_env("c", server), tmp_path)
    assert proc.returncode == 5
    payload = json.loads(proc.stdout)
    assert payload["state"] == "FAILED" and [r["tid"] for r in payload["results"]] == [1]
    assert "permission denied" in payload["error_msg"]


def test_unknown_connection_exits_3_with_one_line(tmp_path):
    proc = run_cli(["--conn", "nope", "--cmd", "true"], {}, tmp_path)
    assert proc.returncode == 3
    assert "AIRFLOW_CONN_NOPE" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_no_commands_is_a_usage_error(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 2 and "no commands" in proc.stderr


def test_token_is_sent_never_printed_and_warned_without_tls(remsvc_server_factory, tmp_path):
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    env = conn_env("c", server, f"?bearer_token={TOKEN}")
    proc = run_cli(["--conn", "c", "--cmd", "echo authed", "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["out"] == "authed\n"
    assert TOKEN not in proc.stdout + proc.stderr
    assert "TLS" in proc.stderr and "warning" in proc.stderr
    journal_text = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.jsonl"))
    assert "authed" in journal_text and TOKEN not in journal_text


def test_bad_token_exits_4(remsvc_server_factory, tmp_path):
    server = remsvc_server_factory(f"[auth]\nops = {TOKEN}\n", extra_args=("--insecure-auth",))
    proc = run_cli(["--conn", "c", "--cmd", "true"], conn_env("c", server, "?bearer_token=wrong"), tmp_path)
    assert proc.returncode == 4 and "invalid bearer token" in proc.stderr


def test_truncated_out_is_kept_as_the_server_sent_it_and_reported_on_stderr(remsvc_server, tmp_path):
    """The provider's XCom keeps the server's marker in ``out``; so does ``run --json``."""
    proc = run_cli(["--conn", "c", "--cmd", "head -c 300000 /dev/zero | tr '\\0' y", "--json"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 0
    out = json.loads(proc.stdout)["results"][0]["out"]
    assert out == "y" * 262144 + TRUNCATION_MARKER
    assert "stdout truncated by the server at 262144 bytes" in proc.stderr


def test_output_ending_with_the_marker_text_is_not_reported_truncated(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "printf 'short\\n\\001[remSvc: output truncated at 262144 bytes]\\001\\n'", "--json"],
                   conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["out"] == "short" + TRUNCATION_MARKER
    assert "truncated" not in proc.stderr


def test_every_dispatch_is_journaled(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "echo journaled"], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 0
    files = list((tmp_path / "state").rglob("*.jsonl"))
    assert len(files) == 1
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert any("journaled" in json.dumps(r) for r in records)
    proc = run_cli(["--conn", "c", "--cmd", "echo quiet", "--no-journal"], conn_env("c", remsvc_server), tmp_path)
    assert "quiet" not in files[0].read_text()


def journal_records(tmp_path) -> list[dict]:
    return [json.loads(line) for p in sorted((tmp_path / "state").rglob("*.jsonl")) for line in p.read_text().splitlines()]


@pytest.mark.parametrize("no_journal", [False, True], ids=["journal", "no-journal"])
@pytest.mark.parametrize(
    ("args", "stdin", "named"),
    [
        ([b"--src", b"ops\xff"], None, "--src is not valid UTF-8"),
        ([b"--user", b"\xc3(root"], None, "--user is not valid UTF-8"),
        ([b"--cmd", b"true", b"--cmd", b"echo \xff\xfe"], None, "command 2 is not valid UTF-8"),
        ([b"--cmd", b"-"], b"true\necho ok\nprintf 'a\x00b'\n", "command 3 contains a NUL byte"),
        ([b"--cmd", b"-"], b"true\necho \xe9t\xe9\n", "command 2 is not valid UTF-8"),
    ],
    ids=["src", "user", "argv-command", "nul-from-stdin", "latin1-from-stdin"],
)
def test_input_that_cannot_be_sent_is_refused_before_the_stream_opens(remsvc_server, tmp_path, args, stdin, named, no_journal):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"), **conn_env("c", remsvc_server)})
    base = [sys.executable.encode(), b"-m", b"console", b"run", b"--conn", b"c"]
    extra = [b"--no-journal"] if no_journal else []
    if b"--cmd" not in args:
        extra.append(b"--cmd=true")
    proc = subprocess.run([*base, *args, *extra], input=stdin, capture_output=True, env=env, timeout=60)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, stderr
    assert named in stderr and "nothing was sent" in stderr
    assert "Traceback" not in stderr
    assert journal_records(tmp_path) == []


@pytest.mark.parametrize(
    "flag", [["--timeout", "0"], ["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "inf"],
             ["--concurrency", "-5"], ["--concurrency", "many"]],
    ids=lambda f: " ".join(f),
)
def test_timeout_and_concurrency_must_be_usable(remsvc_server, tmp_path, flag):
    proc = run_cli(["--conn", "c", "--cmd", "true", *flag], conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 2
    assert flag[0] in proc.stderr and "Traceback" not in proc.stderr
    assert journal_records(tmp_path) == []


def test_token_with_a_newline_is_a_connection_error_not_a_grpc_one(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "true"], conn_env("c", remsvc_server, "?bearer_token=abc%0Adef"), tmp_path)
    assert proc.returncode == 3
    assert "bearer_token" in proc.stderr and "newline" in proc.stderr
    assert "abc" not in proc.stderr and "Invalid metadata" not in proc.stderr


def test_hostile_host_text_is_inert_in_the_header_and_the_error_line(tmp_path):
    host = "%1b%5d0%3bPWNED%07%1b%5b2J"
    for extra in ([], ["--json"]):
        proc = run_cli(["--conn", "evil", "--cmd", "true", "--timeout", "20", *extra],
                       {"AIRFLOW_CONN_EVIL": f"remsvc://{host}:50051"}, tmp_path)
        assert proc.returncode == 4, proc.stderr
        assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr
        assert "␛]0;PWNED␇␛[2J" in proc.stderr
    assert "␛]0;PWNED␇␛[2J" in run_cli(["--conn", "evil", "--cmd", "true"], {"AIRFLOW_CONN_EVIL": f"remsvc://{host}:1"}, tmp_path).stdout


def test_json_escapes_c1_and_bidi_controls_and_stays_lossless(remsvc_server, tmp_path):
    proc = run_cli(["--conn", "c", "--cmd", "printf 'a\\302\\233' ; printf '31m\\342\\200\\256txt.exe'", "--json"],
                   conn_env("c", remsvc_server), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\u009b" not in proc.stdout and "\u202e" not in proc.stdout
    assert "\\u009b" in proc.stdout and "\\u202e" in proc.stdout
    assert json.loads(proc.stdout)["results"][0]["out"] == "a\u009b31m\u202etxt.exe"


def test_tls_mismatch_hints_at_use_ssl_and_grpc_core_logs_stay_off_stderr(remsvc_server_factory, tls_material, tmp_path):
    ini = f"[tls]\nenabled = true\ncert = {tls_material.server_cert}\nkey = {tls_material.server_key}\n"
    server = remsvc_server_factory(ini)
    plain = run_cli(["--conn", "c", "--cmd", "true"], conn_env("c", server), tmp_path)
    assert plain.returncode == 4
    assert "use_ssl" in plain.stderr
    wrong_ca = run_cli(["--conn", "c", "--cmd", "true"],
                       {"AIRFLOW_CONN_C": f"remsvc://localhost:{server.port}?use_ssl=true&ca_cert_path={tls_material.other_ca_cert}"},
                       tmp_path)
    assert wrong_ca.returncode == 4 and "server certificate not trusted" in wrong_ca.stderr
    for proc in (plain, wrong_ca):
        assert all(line.startswith("remsvc-console run: ") for line in proc.stderr.splitlines()), proc.stderr
        assert ".cc:" not in proc.stderr


def test_server_dying_after_commands_were_sent_is_exit_5_not_a_retryable_4(remsvc_server, tmp_path):
    """A script that retries on 4 must not re-run side effects: once sent, it is 5 and says so."""
    marker = tmp_path / "ran"
    child = subprocess.Popen(
        [sys.executable, "-m", "console", "run", "--conn", "c", "--cmd", f"touch {marker}; sleep 60", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), **conn_env("c", remsvc_server)},
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the command started on the server"
        remsvc_server.kill()
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 5, err
    assert "may have run" in err
    payload = json.loads(out)
    assert payload["state"] == "FAILED" and "may have run" in payload["error_msg"]
    stream = next(r for r in journal_records(tmp_path) if r["k"] == "stream")
    assert stream["sent_any"] is True and stream["missing"] == [1]


def test_a_stopped_server_is_reported_within_seconds_not_at_the_deadline(remsvc_server, tmp_path):
    marker = tmp_path / "started"
    child = subprocess.Popen(
        [sys.executable, "-m", "console", "run", "--conn", "c", "--cmd", "echo a", "--cmd", f"touch {marker}; sleep 60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), **conn_env("c", remsvc_server)},
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
        os.kill(remsvc_server.pid, signal.SIGSTOP)
        out, err = child.communicate(timeout=45)  # the stream deadline is 3600 s
    finally:
        os.kill(remsvc_server.pid, signal.SIGCONT)
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 5, err
    assert "server not responding" in err and "may have run" in err
    assert "out| a" in out and "[2] no answer" in out


def test_no_journal_run_does_not_load_the_journal(remsvc_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"), **conn_env("c", remsvc_server)})
    argv = [sys.executable, "-X", "importtime", "-m", "console", "run", "--conn", "c", "--cmd", "echo hi", "--json"]
    modules = {}
    for extra in ([], ["--no-journal"]):
        proc = subprocess.run([*argv, *extra], capture_output=True, text=True, env=env, timeout=90)
        assert proc.returncode == 0 and json.loads(proc.stdout)["results"][0]["out"] == "hi\n", proc.stderr[-2000:]
        modules[bool(extra)] = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "console.journal" in modules[False]  # the probe sees the journal where it is used
    assert "console.journal" not in modules[True]
