"""`remsvc-console serve` as a real child process: readiness line, signals, flags, and config errors."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import grpc
import pytest

from console.remsvc._pb import remsvc_pb2 as pb
from console.remsvc.model import command_hash
from console.server.executor import TIMED_OUT
from tests.helpers.remsvc_server import ServerStartError, remsvc_stub, serve_command, server_env, start_server_process

TOKEN = "cli-token-5e8b"


def request(tid: int, cmd: str) -> pb.RemCmdMsg:
    return pb.RemCmdMsg(tid=tid, cmd=cmd, hsh=command_hash(cmd))


def run_serve(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(serve_command(*args), capture_output=True, text=True, timeout=60,
                          env=server_env(env), cwd=cwd, stdin=subprocess.DEVNULL)


async def test_serves_on_the_port_it_announces(remsvc_server):
    assert remsvc_server.host == "127.0.0.1" and remsvc_server.port > 0
    target = remsvc_server.target("cli", label="x")
    assert (target.host, target.port, target.label) == ("127.0.0.1", remsvc_server.port, "x")
    async with remsvc_stub(remsvc_server.address) as stub:
        answers = [a async for a in stub.RemCmdStrm(iter([request(1, "echo up")]))]
    assert answers[0].out == "up\n"
    assert remsvc_server.proc.poll() is None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_drains_the_running_command_then_exits_0(remsvc_server, tmp_path, signum):
    started = tmp_path / "started"
    cmd = f"touch {started}; sleep 1; echo drained"
    async with remsvc_stub(remsvc_server.address) as stub:
        call = stub.RemCmdStrm(iter([request(1, cmd)]))
        while not started.exists():
            await asyncio.sleep(0.02)
        remsvc_server.proc.send_signal(signum)
        answers = [a async for a in call]
    assert (answers[0].rc, answers[0].out) == (0, "drained\n")
    assert await asyncio.to_thread(remsvc_server.proc.wait, 30) == 0
    assert "stopping: draining" in remsvc_server.log_text()


async def test_sigkill_mid_stream_breaks_the_stream(remsvc_server):
    async with remsvc_stub(remsvc_server.address) as stub:
        call = stub.RemCmdStrm(iter([request(1, "echo one"), request(2, "sleep 3")]))
        first = await call.read()
        remsvc_server.kill()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
    assert first.out == "one\n"
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert remsvc_server.proc.returncode == -signal.SIGKILL


async def test_tokens_from_the_environment_with_insecure_auth(remsvc_server_factory):
    server = remsvc_server_factory("[auth]\nops = ${REMSVC_TEST_TOKEN}\n", ["--insecure-auth"],
                                   env={"REMSVC_TEST_TOKEN": TOKEN})
    async with remsvc_stub(server.address) as stub:
        pong = await stub.Ping(pb.PingMsg(seq=3), metadata=(("authorization", f"Bearer {TOKEN}"),))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Ping(pb.PingMsg(seq=4), metadata=(("authorization", "Bearer ${REMSVC_TEST_TOKEN}"),))
    assert pong.seq == 3
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    log = server.log_text()
    assert "Ping from" in log and "as ops" in log and TOKEN not in log


async def test_tls_server_from_ini(remsvc_server_factory, tls_material):
    ini = f"[tls]\nenabled = true\ncert = {tls_material.server_cert}\nkey = {tls_material.server_key}\n[auth]\nops = {TOKEN}\n"
    server = remsvc_server_factory(ini)
    async with remsvc_stub(server.address, root_ca=tls_material.ca_cert) as stub:
        answer = await stub.RemCmd(request(1, "echo tls"), metadata=(("authorization", f"Bearer {TOKEN}"),))
    assert answer.out == "tls\n"


async def test_cmd_timeout_flag_overrides_the_ini(remsvc_server_factory):
    server = remsvc_server_factory("[server]\ncmd_timeout_ms = 600000\n", ["--cmd-timeout-ms", "200"])
    async with remsvc_stub(server.address) as stub:
        answer = await stub.RemCmd(request(1, "sleep 20"))
    assert (answer.rc, answer.err) == (1, TIMED_OUT)


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        ("[tls]\nenabled = true\ncert = missing.pem\nkey = missing.key\n", [], "[tls] cert:"),
        ("[server]\nport = fifty\n", [], "[server] port must be a number from 0 to 65535, not 'fifty'"),
        (None, ["--port", "99999"], "--port must be a number from 0 to 65535, not '99999'"),
        (None, ["--config", "/nonexistent/server.ini"], "config file /nonexistent/server.ini does not exist"),
        ("[auth]\nops = tok\n", [], "[auth] sets bearer tokens but TLS is disabled"),
        (None, ["--cmd-timeout-ms", "soon"], "--cmd-timeout-ms must be a whole number of milliseconds"),
    ],
    ids=["missing-cert", "ini-port", "flag-port", "missing-ini", "tokens-without-tls", "bad-timeout"],
)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, ini, args, message):
    if ini is not None:
        (tmp_path / "server.ini").write_text(ini)
        args = ["--config", str(tmp_path / "server.ini"), *args]
    result = run_serve(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("remsvc-console serve: ") and message in lines[0]


def test_busy_port_is_refused(remsvc_server):
    result = run_serve("--port", str(remsvc_server.port))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"cannot listen on 127.0.0.1:{remsvc_server.port}" in result.stderr.strip().splitlines()[-1]


def test_helper_reports_why_a_server_did_not_start():
    with pytest.raises(ServerStartError) as raised:
        start_server_process("[server]\ncmd_timeout_ms = never\n")
    assert raised.value.returncode == 2
    assert "cmd_timeout_ms must be a whole number" in str(raised.value)
