"""RS.RemSvc as served by the embedded server, driven with the generated stubs over loopback."""

from __future__ import annotations

import asyncio
import os
import re

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from console.remsvc._pb import remsvc_pb2 as pb
from console.remsvc.model import TRUNCATION_MARKER, command_hash
from console.server.config import INVALID_LIST, ListRule
from console.server.executor import TIMED_OUT
from console.server.service import HASH_MISMATCH
from tests.helpers.remsvc_server import in_process_server, remsvc_stub, wait_process_gone


def msg(tid: int, cmd: str, **fields) -> pb.RemCmdMsg:
    return pb.RemCmdMsg(tid=tid, cmd=cmd, hsh=fields.pop("hsh", command_hash(cmd)), **fields)


async def stream(stub, requests: list[pb.RemCmdMsg]) -> tuple[list[pb.RemResMsg], grpc.aio.AioRpcError | None]:
    """Send every request up front (as the Airflow trigger does) and gather answers until the end."""
    answers = []
    try:
        async for answer in stub.RemCmdStrm(iter(requests)):
            answers.append(answer)
    except grpc.aio.AioRpcError as exc:
        return answers, exc
    return answers, None


def rules(**patterns: str) -> tuple[ListRule, ...]:
    return tuple(ListRule.compile(name, pattern) for name, pattern in patterns.items())


async def test_stream_runs_in_arrival_order_and_echoes_tid_and_hsh(tmp_path):
    log = tmp_path / "order"
    cmds = [f"sleep 0.{3 - i}; echo {i} >> {log}; echo {i}" for i in range(3)]
    requests = [msg(10 + i, cmd) for i, cmd in enumerate(cmds)] + [pb.RemCmdMsg(tid=99, cmd="echo no-hash")]
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, requests)
    assert error is None
    assert [a.tid for a in answers] == [10, 11, 12, 99]
    assert [a.hsh for a in answers] == [command_hash(c) for c in cmds] + [""]
    assert [a.out for a in answers] == ["0\n", "1\n", "2\n", "no-hash\n"]
    assert log.read_text() == "0\n1\n2\n"  # slowest first, yet never overtaken


async def test_quotes_unicode_stderr_and_rc_come_back_as_sent():
    quoted = """printf '%s' "it's \\"quoted\\" ünïcødé ✓ 日本"; echo oops >&2; exit 4"""
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, quoted), msg(2, "printf 'bad\\377'")])
    assert error is None
    assert (answers[0].rc, answers[0].out, answers[0].err) == (4, "it's \"quoted\" ünïcødé ✓ 日本", "oops\n")
    assert answers[1].out == "bad\ufffd"  # the server always sends valid UTF-8


async def test_300kb_output_is_truncated_with_the_marker():
    cmd = "head -c 300000 /dev/zero | tr '\\0' q; head -c 300000 /dev/zero | tr '\\0' e >&2"
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, cmd)])
    assert error is None
    assert answers[0].out == "q" * 262_144 + TRUNCATION_MARKER
    assert answers[0].err == "e" * 262_144 + TRUNCATION_MARKER


async def test_timed_out_command_answers_rc1_and_the_stream_goes_on():
    async with in_process_server(cmd_timeout_ms=300) as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, "sleep 30"), msg(2, "echo after")])
    assert error is None
    assert (answers[0].rc, answers[0].err) == (1, TIMED_OUT)
    assert (answers[1].rc, answers[1].out) == (0, "after\n")


@pytest.mark.parametrize("bad_hash", ["wrong", "upper"])
async def test_hash_mismatch_ends_the_stream(tmp_path, bad_hash):
    cmd = "echo second"
    right = command_hash(cmd)
    assert right != right.upper()
    hsh = "0badf00d" if bad_hash == "wrong" else right.upper()
    later = tmp_path / "later"
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, "echo first"), msg(2, cmd, hsh=hsh), msg(3, f"touch {later}")])
        status = await stub.GetStatus(pb.Empty())
    assert [a.out for a in answers] == ["first\n"]
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and error.details() == HASH_MISMATCH
    assert not later.exists()
    assert status.msg.endswith("commands=1")


async def test_unary_rem_cmd_checks_hash_and_runs():
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answer = await stub.RemCmd(msg(5, "echo unary"))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.RemCmd(msg(6, "echo unary", hsh="ffffffff"))
    assert (answer.tid, answer.rc, answer.out, answer.hsh) == (5, 0, "unary\n", command_hash("echo unary"))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_denylist_hit_aborts_the_stream_naming_the_command(tmp_path):
    first, third = tmp_path / "first", tmp_path / "third"
    requests = [msg(1, f"touch {first}"), msg(2, "rm -rf /tmp/nothing-here"), msg(3, f"touch {third}")]
    async with in_process_server(denylist=rules(no_rm=r"\brm\s+-rf\b")) as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, requests)
    assert [a.tid for a in answers] == [1]
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "command denied by denylist: rm -rf /tmp/nothing-here"
    assert first.exists() and not third.exists()


async def test_deny_is_evaluated_before_allow(tmp_path):
    config = {"allowlist": rules(echo=r"^echo "), "denylist": rules(secrets=r"secret")}
    async with in_process_server(**config) as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, "echo fine"), msg(2, "echo secret"), msg(3, "echo never")])
    assert [a.out for a in answers] == ["fine\n"]
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "command denied by denylist: echo secret"


async def test_allowlist_only_lets_matching_commands_run(tmp_path):
    marker = tmp_path / "ran"
    async with in_process_server(allowlist=rules(echo=r"^echo ")) as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, "echo ok"), msg(2, f"touch {marker}")])
    assert [a.out for a in answers] == ["ok\n"]
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == f"command not permitted by allowlist: touch {marker}"
    assert not marker.exists()


@pytest.mark.parametrize("section", ["allowlist", "denylist"])
async def test_invalid_regex_denies_everything(tmp_path, section):
    marker = tmp_path / "ran"
    config = {section: rules(broken="(unclosed", fine="^never-matches$")}
    async with in_process_server(**config) as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, f"touch {marker}")])
    assert answers == []
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == INVALID_LIST == "all commands denied: allowlist configuration is invalid (check server logs)"
    assert not marker.exists()


async def test_get_status_counts_answered_commands_and_ping_echoes():
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        before = await stub.GetStatus(pb.Empty())
        await stream(stub, [msg(1, "true"), msg(2, "false"), msg(3, "exit 9")])
        await stub.RemCmd(msg(4, "true"))
        after = await stub.GetStatus(pb.Empty())
        pong = await stub.Ping(pb.PingMsg(seq=41, data="hello ✓", time=1))
    assert (before.rc, after.rc) == (0, 0)
    assert re.fullmatch(r"state=OK uptime=\d+s commands=0", before.msg)
    assert re.fullmatch(r"state=OK uptime=\d+s commands=4", after.msg)
    assert (pong.seq, pong.data) == (41, "hello ✓")
    assert pong.time > 1_600_000_000_000  # the server's own clock, in ms


async def test_concurrent_streams_each_keep_their_order():
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        results = await asyncio.gather(*(
            stream(stub, [msg(t, f"echo {s}-{t}") for t in range(1, 6)]) for s in range(4)
        ))
    for s, (answers, error) in enumerate(results):
        assert error is None
        assert [a.out for a in answers] == [f"{s}-{t}\n" for t in range(1, 6)]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_cmdusr_runs_as_nobody_when_root():
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, "id -un", cmdusr="nobody"), msg(2, "id -un", cmdusr="nosuchuser-q")])
    assert error is None
    assert (answers[0].rc, answers[0].out) == (0, "nobody\n")
    assert answers[1].rc != 0 and "unknown user 'nosuchuser-q'" in answers[1].err


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_switching_users_never_crashes_while_grpc_threads_run():
    """Run-as in a process with live gRPC threads: a set*id in a forked child used to segfault (rc 139)."""
    requests = [msg(tid, "id -un", cmdusr="nobody") for tid in range(1, 61)]
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, requests)
    assert error is None
    assert [(a.rc, a.out, a.err) for a in answers] == [(0, "nobody\n", "")] * 60


async def test_pwsh_missing_is_an_answer_not_a_broken_stream(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answers, error = await stream(stub, [msg(1, "Get-Date", cmdtyp=1), msg(2, "echo next")])
    assert error is None
    assert answers[0].rc == 127 and "pwsh not found" in answers[0].err
    assert answers[1].out == "next\n"


async def test_health_service_reports_serving():
    async with in_process_server(tokens={"ops": "tok"}, insecure_auth=True) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            overall = await health.Check(health_pb2.HealthCheckRequest(service=""))
            service = await health.Check(health_pb2.HealthCheckRequest(service="RS.RemSvc"))
    assert overall.status == service.status == health_pb2.HealthCheckResponse.SERVING


async def test_client_going_away_kills_the_running_command(tmp_path):
    pid_file = tmp_path / "pid"
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        call = stub.RemCmdStrm(iter([msg(1, f"echo $$ > {pid_file}; exec sleep 60")]))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.02)
        call.cancel()
        assert await wait_process_gone(int(pid_file.read_text()))
